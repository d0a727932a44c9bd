//! The fast walk against the full parse, and the scanner against serde_json: on every
//! request the repository holds, on hand-picked edge cases, and on many mutations of each.

use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;

use super::parse::{parse, parse_full, walk_only};
use super::reads::Reads;
use super::scan;

/// Every JSON request in the repository's fixtures and the request fuzz corpus.
fn samples() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs: Vec<PathBuf> = vec![
        root.join("tests/fixtures"),
        root.join("fuzz/corpus/sync_request"),
    ];
    if let Ok(examples) = std::fs::read_dir(root.join("examples")) {
        dirs.extend(examples.flatten().map(|e| e.path().join("fixtures")));
    }
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file()).take(400) {
            if let Ok(bytes) = std::fs::read(&path) {
                found.push(bytes);
            }
        }
    }
    assert!(
        found.len() > 50,
        "only {} sample requests found",
        found.len()
    );
    found
}

fn serde_accepts(bytes: &[u8]) -> bool {
    serde_json::from_slice::<IgnoredAny>(bytes).is_ok()
}

const EDGES: &[&str] = &[
    "",
    " ",
    "{}",
    "[]",
    " [ ] ",
    "{ }",
    "\"\"",
    "\"\\u00e9\"",
    "\"\\u00g9\"",
    "\"\\x\"",
    "\"a\tb\"",
    "\"a\u{7f}b\"",
    "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
    "\"abc",
    "\"abc\\",
    "\"\\u12",
    "0",
    "01",
    "-0",
    "-",
    "-01",
    "1.",
    ".5",
    "1.5",
    "1e5",
    "1E+5",
    "1e-5",
    "1e",
    "1e+",
    "0.0e0",
    "-0.1E-0",
    "2x",
    "true",
    "tru",
    "truex",
    "false",
    "null",
    "nul",
    "[1,]",
    "[,1]",
    "{\"a\":1,}",
    "{\"a\"}",
    "{\"a\":}",
    "{,}",
    "{1:2}",
    "[",
    "]",
    "[1 2]",
    "{\"a\":1 \"b\":2}",
    "{\"a\":1}x",
    "{\"a\":1} ",
    "[[[]]]",
    "[[[]]",
    "[{}]",
    "[{]}",
    "{\"a\":[1,{\"b\":null}]}",
    "\u{ff}",
    "[\u{a0}]",
    "{\"\u{e9}\":1}",
    "[1,2,3]\n",
    "\"\\ud800\"",
    "{\"a\":1,\"a\":2}",
    "[-]",
    "[+1]",
    "[1e999]",
    "[18446744073709551616]",
];

#[test]
fn the_scanner_accepts_exactly_what_serde_json_accepts() {
    let mut cases: Vec<Vec<u8>> = EDGES.iter().map(|e| e.as_bytes().to_vec()).collect();
    cases.push(vec![b'"', 0xff, 0xfe, b'"']);
    for depth in [1, 63, 64, 65, 66, 128, 200] {
        let open = "[{\"k\":".repeat(depth);
        let close = "}]".repeat(depth);
        cases.push(format!("{open}1{close}").into_bytes());
        cases.push(format!("{open}1{}", &close[1..]).into_bytes());
        cases.push(format!("{}1{}", "[".repeat(depth), "]".repeat(depth)).into_bytes());
    }
    cases.extend(samples());
    for case in &cases {
        assert_eq!(
            scan::document(case),
            serde_accepts(case),
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
}

/// A small deterministic generator: the mutations are the same on every run.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const INTERESTING: &[u8] = b"{}[],:\"\\0189-.eE+tfnu \x01\x1fa\xff";

/// `bytes` with one byte replaced, inserted or removed, or cut short.
fn mutate(bytes: &[u8], random: &mut Xorshift) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.is_empty() {
        return out;
    }
    let at = random.below(out.len());
    let byte = INTERESTING[random.below(INTERESTING.len())];
    match random.below(4) {
        0 => out[at] = byte,
        1 => out.insert(at, byte),
        2 => {
            out.remove(at);
        }
        _ => out.truncate(at),
    }
    out
}

/// What the hello rule reads, what a rule reading a few paths whole reads, and everything.
fn reads_of_kinds() -> Vec<Reads> {
    let mut counted = Reads::minimal();
    counted.count(&["children", "Pod.v1"]);
    counted.query("$.parent.spec.who");
    counted.path(&["parent", "metadata", "name"]);
    let mut paths = Reads::minimal();
    paths.path(&["parent", "spec"]);
    paths.path(&["children", "Pod.v1"]);
    paths.path(&["related"]);
    let mut everything = Reads::minimal();
    everything.query("$..x");
    vec![counted, paths, everything]
}

#[test]
fn the_walk_builds_what_the_full_parse_builds() {
    let kinds = reads_of_kinds();
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut walked = 0;
    for sample in samples() {
        let mut bodies = vec![sample.clone()];
        bodies.extend((0..40).map(|_| mutate(&sample, &mut random)));
        for body in &bodies {
            assert_eq!(
                scan::document(body),
                serde_accepts(body),
                "{:?}",
                String::from_utf8_lossy(body)
            );
            for reads in &kinds {
                let full = parse_full(body, reads).map_err(|e| e.to_string());
                let used = parse(body, reads).map_err(|e| e.to_string());
                assert_eq!(used, full, "{:?}", String::from_utf8_lossy(body));
                if let Some(fast) = walk_only(body, reads) {
                    assert_eq!(Ok(fast), full);
                    walked += 1;
                }
            }
        }
    }
    // The walk must be what answers ordinary requests, not the fallback.
    assert!(walked > 1000, "the walk answered only {walked} parses");
}

#[test]
fn an_escaped_key_on_a_read_path_is_left_to_the_full_parse() {
    let body = br#"{"par\u0065nt": {"spec": {"who": "x"}}}"#;
    let mut reads = Reads::minimal();
    reads.path(&["parent", "spec"]);
    assert_eq!(walk_only(body, &reads), None);
    assert_eq!(
        parse(body, &reads).unwrap(),
        serde_json::json!({"parent": {"spec": {"who": "x"}}})
    );
}

#[test]
fn strings_are_scanned_alike_across_and_inside_the_64_byte_windows() {
    for lead in 0..70 {
        for len in (0..140).step_by(7) {
            for (mark, insert) in [
                (None, ""),
                (Some(len / 2), "\\\""),
                (Some(len / 3), "\u{1}"),
            ] {
                let mut text = "a".repeat(len);
                if let Some(at) = mark {
                    text.insert_str(at, insert);
                }
                let body = format!("{}[\"{text}\",\"é{text}\"]", " ".repeat(lead));
                assert_eq!(
                    scan::document(body.as_bytes()),
                    serde_accepts(body.as_bytes()),
                    "{body:?}"
                );
                let cut = &body.as_bytes()[..body.len() - 2];
                assert!(!scan::document(cut), "{body:?}");
            }
        }
    }
}
