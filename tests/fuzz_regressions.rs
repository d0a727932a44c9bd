//! Replays every saved fuzz input (the minimized corpus and each input that once crashed)
//! through the same harness the fuzz targets run, so a fixed crash stays fixed.

use std::path::Path;

#[path = "../fuzz/harness.rs"]
mod harness;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = crate::support::repo().join("fuzz").join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                out.push((display(&path), std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

fn display(path: &Path) -> String {
    path.strip_prefix(crate::support::repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn saved_sync_request_inputs_do_not_crash() {
    for (name, data) in inputs("sync_request") {
        eprintln!("{name}");
        harness::sync_request(&data);
    }
}

#[test]
fn saved_rule_file_inputs_do_not_crash() {
    for (name, data) in inputs("rule_file") {
        eprintln!("{name}");
        harness::rule_file(&data);
    }
}

#[test]
fn saved_structured_inputs_do_not_crash() {
    use arbitrary::Arbitrary;
    for (name, data) in inputs("structured") {
        eprintln!("{name}");
        let mut u = arbitrary::Unstructured::new(&data);
        if let Ok(input) = harness::StructuredInput::arbitrary(&mut u) {
            harness::structured(input);
        }
    }
}

#[test]
fn saved_helpers_inputs_do_not_crash() {
    use arbitrary::Arbitrary;
    for (name, data) in inputs("helpers") {
        eprintln!("{name}");
        let mut u = arbitrary::Unstructured::new(&data);
        if let Ok(input) = harness::HelperCall::arbitrary(&mut u) {
            harness::helper_call(input);
        }
    }
}

#[test]
fn every_helper_survives_hostile_arguments() {
    use harness::FuzzValue as V;
    let hostile = || {
        [
            Some(V::Str("%.65536f".to_owned())),
            Some(V::Float(1e308)),
            Some(V::Long(u16::MAX, 'x')),
            Some(V::Deep(
                90,
                Box::new(V::List(vec![V::Int(i64::MIN), V::Null])),
            )),
        ]
    };
    // Every helper and arity, with each argument hostile and missing in turn.
    for which in 0..700u16 {
        harness::helper_call(harness::HelperCall {
            which,
            args: hostile(),
        });
        let mut args = hostile();
        args[usize::from(which) % 4] = None;
        args.rotate_left(1);
        harness::helper_call(harness::HelperCall { which, args });
    }
}

#[test]
fn hostile_requests_from_the_issue_list_do_not_crash() {
    let deep = format!(
        "{{\"parent\": {{\"spec\": {{\"who\": {}1{}}}}}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let cases: Vec<Vec<u8>> = vec![
        b"{\"parent\": {\"spec\": {\"items\": [{\"name\": 1e308}], \"n\": 18446744073709551615}}}".to_vec(),
        b"{\"parent\": {\"spec\": {\"n\": -1, \"pattern\": \"(((((a*)*)*)*)*)*b\", \"ports\": \"x:y\"}}}".to_vec(),
        b"{\"parent\": {\"metadata\": {\"name\": {\"a\": 1}}, \"spec\": {\"data\": [1]}}}".to_vec(),
        deep.into_bytes(),
        format!("{{\"parent\": {{\"spec\": {{\"who\": \"{}\"}}}}}}", "\u{1F600}".repeat(10_000)).into_bytes(),
    ];
    for case in cases {
        harness::sync_request(&case);
    }
}
