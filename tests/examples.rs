//! Examples that come with a reference hook (`examples/*/reference.py`, the same controller
//! written in Python) answer every fixture exactly as the reference does, over HTTP.

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
        let server = Server::start(&dir, &[]);
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
