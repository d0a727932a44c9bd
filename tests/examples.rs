//! Examples that come with a reference hook (`examples/*/reference.py`, the same controller
//! written in Python) answer every fixture exactly as the reference does, over HTTP; and every
//! example rule answers each fixture the same from what it reads as from the whole request.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{repo, Server};

fn reference_answer(script: &std::path::Path, request: &[u8]) -> Value {
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the reference hooks");
    child.stdin.take().unwrap().write_all(request).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{} failed", script.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn examples_answer_as_their_python_reference_does() {
    let mut compared = 0;
    for entry in std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .flatten()
    {
        let dir = entry.path();
        let script = dir.join("reference.py");
        if !script.is_file() {
            continue;
        }
        let rule = dir.file_name().unwrap().to_string_lossy().into_owned();
        let libraries = repo().join("examples/lib");
        let server = Server::start(&dir, &["--libraries", libraries.to_str().unwrap()]);
        for fixture in std::fs::read_dir(dir.join("fixtures")).unwrap().flatten() {
            let request = std::fs::read(fixture.path()).unwrap();
            let expected = reference_answer(&script, &request);
            let body: Value = serde_json::from_slice(&request).unwrap();
            let response = server.post_json(&format!("/{rule}/sync"), &body);
            assert_eq!(
                response.status,
                200,
                "{}: {}",
                fixture.path().display(),
                response.text()
            );
            assert_eq!(
                response.json(),
                expected,
                "{} answers {} differently from reference.py",
                rule,
                fixture.path().display()
            );
            compared += 1;
        }
    }
    assert!(compared >= 2, "only {compared} fixtures were compared");
}

/// Every example rule on every request of its fixtures answers the same bytes four ways:
/// written from what the rule reads of the body (the server's path), the same without who
/// the call is about (the server's path when nothing logs it), written from the whole
/// request, and built as a value and encoded (the path failures are reported by).
#[test]
fn every_fixture_gets_the_same_answer_from_what_its_rule_reads_and_from_the_whole_request() {
    use rulehook::supply::load::CompiledRules;
    use rulehook_engine::{Hook, Limits};
    let limits = Limits::default();
    // Each folder as `serve` loads it, with the libraries the examples share.
    let libraries = [repo().join("examples/lib")];
    let mut compared = 0;
    let examples = crate::support::repo().join("examples");
    let mut dirs: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("fixtures").is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let files = |d: &std::path::Path| {
            let mut f: Vec<_> = std::fs::read_dir(d)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .collect();
            f.sort();
            f
        };
        let compiled = CompiledRules::from_dir(&dir, &libraries).unwrap();
        assert!(
            compiled.report.errors.is_empty(),
            "{:?}",
            compiled.report.errors
        );
        for loaded in compiled.rules.rules() {
            let (rule, name) = (&loaded.rule, &loaded.rule.name);
            for fixture in files(&dir.join("fixtures")) {
                let file = fixture.file_name().unwrap().to_string_lossy().into_owned();
                let hook = match file.split('-').next().unwrap_or("") {
                    f if f.starts_with("customize") => Hook::Customize,
                    f if f.starts_with("finalize") => Hook::Finalize,
                    _ => Hook::Sync,
                };
                let request: Value =
                    serde_json::from_slice(&std::fs::read(&fixture).unwrap()).unwrap();
                let whole = rule.render_body(hook, &mut request.clone(), &limits);
                let Ok(whole) = whole else { continue };
                let body = serde_json::to_vec(&request).unwrap();
                let mut read = rule.parse_request(&body).unwrap();
                let from_read = rule.render_body(hook, &mut read, &limits).unwrap();
                let mut lean = rule.parse_answer_reads(&body).unwrap();
                let from_lean = rule.render_body(hook, &mut lean, &limits).unwrap();
                let built =
                    serde_json::to_vec(&rule.render(hook, request, &limits).unwrap()).unwrap();
                let what = format!("{name} on {file}");
                assert_eq!(
                    String::from_utf8_lossy(&from_read),
                    String::from_utf8_lossy(&whole),
                    "{what}"
                );
                assert_eq!(
                    String::from_utf8_lossy(&from_lean),
                    String::from_utf8_lossy(&whole),
                    "{what}, without who the call is about"
                );
                assert_eq!(
                    String::from_utf8_lossy(&built),
                    String::from_utf8_lossy(&whole),
                    "{what}"
                );
                compared += 1;
            }
        }
    }
    // Each example answers its own fixtures; a rule answering none would be compared on nothing.
    assert!(compared >= 37, "only {compared} fixtures compared");
}
