//! The fast walk against the full parse, and the scanner against serde_json: on every
//! request the repository holds, on hand-picked edge cases, and on many mutations of each.

use serde::de::IgnoredAny;

use super::parse::{parse, parse_full, walk_only};
use super::reads::Reads;
use super::scan;

/// Requests of the repository's fixtures, pretty-printed as they are kept.
const FIXTURES: &[&[u8]] = &[
    include_bytes!("../../../../tests/fixtures/hello-sync-first.json"),
    include_bytes!("../../../../tests/fixtures/hello-sync-v1.json"),
    include_bytes!("../../../../tests/fixtures/hello-sync-v2.json"),
    include_bytes!("../../../../tests/fixtures/hello-finalize.json"),
    include_bytes!("../../../../tests/fixtures/customize.json"),
    include_bytes!("../../../../tests/fixtures/decorator-sync.json"),
    include_bytes!("../../../../examples/canary/fixtures/sync-running.json"),
    include_bytes!("../../../../examples/catset/fixtures/sync-scale-down.json"),
    include_bytes!("../../../../examples/clusteredparent/fixtures/sync-attached.json"),
    include_bytes!("../../../../examples/configmap-list-v2/fixtures/sync-all.json"),
    include_bytes!("../../../../examples/configmappropagation/fixtures/sync-copied.json"),
    include_bytes!("../../../../examples/daemonjob/fixtures/sync-ready.json"),
    include_bytes!("../../../../examples/globalconfigmap/fixtures/sync.json"),
    include_bytes!("../../../../examples/indexed-job/fixtures/sync-running.json"),
    include_bytes!("../../../../examples/service-per-pod/fixtures/sync-attached.json"),
    include_bytes!("../../../../examples/update-strategy/fixtures/recreate-sync-updated.json"),
];

/// The fixtures, each also compacted, and generated requests of every kind of value.
fn samples() -> Vec<Vec<u8>> {
    let mut found: Vec<Vec<u8>> = FIXTURES.iter().map(|f| f.to_vec()).collect();
    for fixture in FIXTURES {
        let value: serde_json::Value = serde_json::from_slice(fixture).expect("a fixture is JSON");
        found.push(serde_json::to_vec(&value).expect("a value serializes"));
    }
    let mut random = Xorshift(0x2545_f491_4f6c_dd1d);
    for _ in 0..200 {
        let mut text = String::new();
        generated(&mut random, 0, &mut text);
        found.push(format!(r#"{{"parent": {{"metadata": {{"name": "p"}}, "spec": {text}}}, "children": {{"Pod.v1": {{"a": {text}}}}}, "x": {text}}}"#).into_bytes());
    }
    found
}

/// Writes a random JSON value: every kind of value, escapes, non-ASCII text, whitespace.
fn generated(random: &mut Xorshift, depth: usize, out: &mut String) {
    const STRINGS: &[&str] = &[
        "",
        "a",
        "who",
        r#"caf\u00e9 \"q\" \\ \/ \n\t"#,
        "名前",
        r"x\ud83d\ude00y",
        "  spaced  ",
    ];
    const NUMBERS: &[&str] = &[
        "0",
        "-0",
        "12",
        "-3.5",
        "1e3",
        "2.5E-7",
        "18446744073709551615",
        "-9223372036854775808",
        "0.1",
    ];
    let space = [" ", "", "\n  ", "\t"][random.below(4)];
    match if depth > 4 {
        random.below(4)
    } else {
        random.below(7)
    } {
        0 => out.push_str(&format!("\"{}\"", STRINGS[random.below(STRINGS.len())])),
        1 => out.push_str(NUMBERS[random.below(NUMBERS.len())]),
        2 => out.push_str(["true", "false"][random.below(2)]),
        3 => out.push_str("null"),
        4 | 5 => {
            out.push('{');
            for i in 0..random.below(5) {
                if i > 0 {
                    out.push(',');
                }
                let key = [
                    "who",
                    "name",
                    "spec",
                    "metadata",
                    "Pod.v1",
                    "a",
                    r"k\u0065y",
                ][random.below(7)];
                out.push_str(&format!("{space}\"{key}\"{space}:{space}"));
                generated(random, depth + 1, out);
            }
            out.push_str(space);
            out.push('}');
        }
        _ => {
            out.push('[');
            for i in 0..random.below(5) {
                if i > 0 {
                    out.push(',');
                    out.push_str(space);
                }
                generated(random, depth + 1, out);
            }
            out.push(']');
        }
    }
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
    assert!(walked > 3000, "the walk answered only {walked} parses");
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

#[test]
fn a_built_part_nests_as_deep_as_the_full_parse_allows_and_no_deeper() {
    let mut reads = Reads::minimal();
    reads.path(&["parent", "spec"]);
    for levels in [100, 125, 126, 127] {
        // The request and `parent` are two levels, and `spec` holds the rest.
        let body = format!(
            r#"{{"parent": {{"spec": {}1{}}}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        );
        let full = parse_full(body.as_bytes(), &reads).map_err(|e| e.to_string());
        assert_eq!(full.is_ok(), levels <= 125, "{levels}");
        let used = parse(body.as_bytes(), &reads).map_err(|e| e.to_string());
        assert_eq!(used, full, "{levels}");
    }
}

#[test]
fn a_read_path_deeper_than_the_full_parse_allows_is_refused_alike() {
    for levels in [126, 127, 128, 130] {
        // `parent` and then names below it, `levels` objects with the request; the last
        // name the rule reads is missing, so the deepest object is walked, not built whole.
        let names: Vec<String> = (0..levels)
            .map(|i| {
                if i == 0 {
                    "parent".to_owned()
                } else {
                    format!("k{i}")
                }
            })
            .collect();
        let mut reads = Reads::minimal();
        reads.path(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let body = names[..levels - 1]
            .iter()
            .rev()
            .fold(r#"{"unrelated": 1}"#.to_owned(), |inner, name| {
                format!("{{\"{name}\": {inner}}}")
            });
        let full = parse_full(body.as_bytes(), &reads).map_err(|e| e.to_string());
        let used = parse(body.as_bytes(), &reads).map_err(|e| e.to_string());
        assert_eq!(used, full, "{levels}");
        assert_eq!(full.is_ok(), levels <= 127, "{levels}");
    }
}
