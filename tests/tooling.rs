//! The offline commands: `check`, `render`, `test` and `schema`, run as the real binary.

use std::process::Command;

use crate::support::{repo, rulehook, stderr, stdout, BIN};

#[test]
fn check_reports_every_kind_of_problem_at_its_exact_position() {
    let invalid = repo().join("tests/fixtures/invalid");
    let mut checked = 0;
    for entry in std::fs::read_dir(&invalid).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".err") else {
            continue;
        };
        let target = ["yaml", ""]
            .iter()
            .map(|ext| {
                if ext.is_empty() {
                    stem.to_owned()
                } else {
                    format!("{stem}.{ext}")
                }
            })
            .find(|candidate| invalid.join(candidate).exists())
            .unwrap();
        let out = rulehook(
            &["check", &format!("tests/fixtures/invalid/{target}")],
            repo(),
        );
        let expected = std::fs::read_to_string(&path).unwrap();
        assert_eq!(stdout(&out), expected, "check of {target}");
        assert_eq!(out.status.code(), Some(1), "{target}");
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} invalid fixtures");
}

#[test]
fn check_exit_codes() {
    let ok = rulehook(&["check", "rules"], repo());
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(stdout(&ok).ends_with("no problems\n"));
    let missing = rulehook(&["check", "no/such/dir"], repo());
    assert_eq!(missing.status.code(), Some(2));
    let bad_flag = rulehook(&["check", "--frobnicate"], repo());
    assert_eq!(bad_flag.status.code(), Some(2));
}

#[test]
fn the_bundled_rules_and_examples_check_and_pass_their_tests() {
    // What several examples share is in examples/lib, on the library search path.
    let libraries = ["--libraries", "examples/lib"];
    let check = rulehook(
        &[
            "check",
            "--strict",
            "rules",
            "examples",
            libraries[0],
            libraries[1],
        ],
        repo(),
    );
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    let test = rulehook(
        &["test", "rules", "examples", libraries[0], libraries[1]],
        repo(),
    );
    let out = stdout(&test);
    assert_eq!(test.status.code(), Some(0), "{out}");
    let last = out.lines().last().unwrap();
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 7, "{last}");
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
}

#[test]
fn render_prints_the_response_and_fails_like_the_server() {
    let out = rulehook(
        &["render", "hello", "tests/fixtures/hello-sync-v1.json"],
        repo(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["status"]["pods"], 1);
    assert!(stdout(&out).contains("\n  \"children\""), "pretty printed");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("greet.yaml"),
        "values:\n  who: $.parent.spec.who\nsync:\n  status:\n    g: \"Hi {{ who }}\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("req.yaml"), "parent:\n  spec: {}\n").unwrap();
    let out = rulehook(&["render", "greet.yaml", "req.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "rule `greet` failed at greet.yaml:5:8: `who` is missing: the request has no such value and it has no default"
    );
    let finalize = rulehook(
        &["render", "greet.yaml", "--hook", "finalize", "req.yaml"],
        dir.path(),
    );
    assert_eq!(finalize.status.code(), Some(1));
    assert!(stderr(&finalize).contains("has no finalize hook"));
}

fn suite_dir(suite: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("rules/hello.yaml"),
        dir.path().join("hello.yaml"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("tests/fixtures/hello-sync-v1.json"),
        dir.path().join("req.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("hello.test.yaml"), suite).unwrap();
    dir
}

#[test]
fn a_failing_case_prints_the_path_and_both_values() {
    let dir = suite_dir(
        "rule: hello\ncases:\n  - name: wrong greeting\n    requestFile: req.json\n    expectPartial:\n      children:\n        - spec:\n            containers:\n              - command: [echo, \"Hello, Bob!\"]\n  - name: right count\n    requestFile: req.json\n    expectPartial: {status: {pods: 1}}\n",
    );
    let out = rulehook(&["test", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL ./hello.test.yaml:3 wrong greeting"),
        "{text}"
    );
    assert!(
        text.contains("at $.children[0].spec.containers[0].command[1]"),
        "{text}"
    );
    assert!(text.contains("expected: \"Hello, Bob!\""), "{text}");
    assert!(text.contains("actual:   \"Hello, Your Name!\""), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour when not a terminal");
    assert_eq!(text.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn expected_errors_match_by_substring() {
    let dir = suite_dir(
        "rule: hello\ncases:\n  - name: no parent\n    request: {children: {}}\n    expectError: no `parent`\n  - name: wrong substring\n    request: {children: {}}\n    expectError: something else\n",
    );
    let out = rulehook(&["test", "hello.test.yaml"], dir.path());
    let text = stdout(&out);
    assert_eq!(text.lines().last(), Some("1 passed, 1 failed"), "{text}");
}

#[test]
fn update_rewrites_only_the_expectations() {
    let suite = "# a comment that stays\nrule: hello\ncases:\n  - name: stale\n    requestFile: req.json\n    expect:\n      status: {pods: 99}\n  - name: new\n    requestFile: req.json\n    patch: {parent: {spec: {who: Ann}}}\n  # trailing comment\n";
    let dir = suite_dir(suite);
    let out = rulehook(&["test", "--update", "."], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let updated = std::fs::read_to_string(dir.path().join("hello.test.yaml")).unwrap();
    assert!(updated.starts_with("# a comment that stays\nrule: hello\ncases:\n  - name: stale\n    requestFile: req.json\n    expect:\n      children:\n"), "{updated}");
    assert!(
        updated.contains("    patch: {parent: {spec: {who: Ann}}}\n    expect:\n"),
        "{updated}"
    );
    assert!(updated.contains("Hello, Ann!"), "{updated}");
    assert!(updated.ends_with("  # trailing comment\n"), "{updated}");
    assert!(!updated.contains("99"));
    let again = rulehook(&["test", "."], dir.path());
    assert_eq!(stdout(&again).lines().last(), Some("2 passed, 0 failed"));
}

#[test]
fn junit_reports_each_case() {
    let dir = suite_dir(
        "rule: hello\ncases:\n  - name: passes\n    requestFile: req.json\n    expectPartial: {status: {pods: 1}}\n  - name: fails <badly>\n    requestFile: req.json\n    expectPartial: {status: {pods: 2}}\n",
    );
    let out = rulehook(&["test", ".", "--junit", "report.xml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(dir.path().join("report.xml")).unwrap();
    assert!(
        xml.contains("<testsuites name=\"rulehook\" tests=\"2\" failures=\"1\">"),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"passes\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"fails &lt;badly&gt;\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"at $.status.pods\">"),
        "{xml}"
    );
}

#[test]
fn schema_prints_every_schema() {
    for (which, file) in [
        ("rule", "rule.schema.json"),
        ("test", "test.schema.json"),
        ("library", "library.schema.json"),
    ] {
        let out = rulehook(&["schema", which], repo());
        assert_eq!(out.status.code(), Some(0));
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let committed: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("schemas").join(file)).unwrap(),
        )
        .unwrap();
        assert_eq!(printed, committed);
    }
}

#[test]
fn controllers_generates_the_manifest_the_hello_example_ships() {
    let out = rulehook(
        &[
            "controllers",
            "--rules",
            "rules",
            "--base-url",
            "http://rulehook.rulehook",
        ],
        repo(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let generated: serde_json::Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    let shipped: serde_json::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join("manifests/examples/hello/controller.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(generated["kind"], "CompositeController");
    assert_eq!(
        generated["spec"]["hooks"]["sync"]["webhook"]["url"],
        "http://rulehook.rulehook/hello/sync"
    );
    for field in ["parentResource", "childResources", "generateSelector"] {
        assert_eq!(
            generated["spec"][field], shipped["spec"][field],
            "spec.{field}"
        );
    }
    assert_eq!(generated["metadata"]["name"], shipped["metadata"]["name"]);
}

#[test]
fn check_counts_in_the_singular_and_points_at_an_unquoted_template() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("one.yaml"),
        "sync:\n  status:\n    ok: \"{{ parent.metadata.name }}\"\n",
    )
    .unwrap();
    let ok = rulehook(&["check", "."], dir.path());
    assert_eq!(stdout(&ok), "1 file, 1 rule, no problems\n");
    std::fs::write(
        dir.path().join("one.yaml"),
        "sync:\n  status:\n    bad: {{ parent.metadata.name }}\n",
    )
    .unwrap();
    let bad = rulehook(&["check", "."], dir.path());
    assert_eq!(bad.status.code(), Some(1));
    let out = stdout(&bad);
    assert!(
        out.starts_with("./one.yaml:3:10: a value that starts with `{{` must be quoted"),
        "{out}"
    );
    assert!(out.ends_with("\n1 problem in 1 file\n"), "{out}");
}

#[test]
fn a_failed_case_lists_every_difference_and_names_missing_items() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("rules/hello.yaml"),
        dir.path().join("hello.yaml"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("fixtures")).unwrap();
    std::fs::copy(
        repo().join("rules/fixtures/hello-sync.json"),
        dir.path().join("fixtures/hello-sync.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("hello.test.yaml"),
        "rule: hello\ncases:\n  - name: wrong twice\n    requestFile: fixtures/hello-sync.json\n    expect:\n      status: {pods: 7}\n      children: []\n",
    )
    .unwrap();
    let out = rulehook(&["test", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let block = |first: &str| {
        let at = lines
            .iter()
            .position(|l| *l == first)
            .unwrap_or_else(|| panic!("{text}"));
        lines[at + 1..at + 3].join("|")
    };
    assert_eq!(block("at $.status.pods"), "expected: 7|actual:   1");
    assert_eq!(
        block("at $.children[0]"),
        "expected: (nothing)|actual:   Pod your-name"
    );
}

#[test]
fn a_yaml_request_fixture_beside_the_rules_is_not_a_rule_for_any_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("rules/hello.yaml"),
        dir.path().join("hello.yaml"),
    )
    .unwrap();
    let request: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo().join("rules/fixtures/hello-sync.json")).unwrap(),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("fixtures")).unwrap();
    std::fs::write(
        dir.path().join("fixtures/hello-sync.yaml"),
        serde_yaml_ng::to_string(&request).unwrap(),
    )
    .unwrap();
    // Also directly beside the rule, where serve would see it.
    std::fs::copy(
        dir.path().join("fixtures/hello-sync.yaml"),
        dir.path().join("request.yaml"),
    )
    .unwrap();
    let out = rulehook(&["check", "."], dir.path());
    assert_eq!(
        stdout(&out),
        "1 file, 1 rule, no problems\n",
        "{}",
        stderr(&out)
    );
    let server = crate::support::Server::start(dir.path(), &[]);
    let listing = server.get("/rules").unwrap().json();
    assert_eq!(listing["files"].as_array().unwrap().len(), 1, "{listing}");
}

#[test]
fn render_prints_yaml_in_kubernetes_order_shows_values_and_points_a_bare_object_at_fixture() {
    let request = "rules/fixtures/hello-sync.json";
    let yaml = rulehook(&["render", "hello", request, "-o", "yaml"], repo());
    assert_eq!(yaml.status.code(), Some(0), "{}", stderr(&yaml));
    let text = stdout(&yaml);
    assert!(
        text.contains("- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: your-name\n  spec:\n"),
        "{text}"
    );
    let back: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    let json = rulehook(&["render", "hello", request], repo());
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(back, json, "YAML and JSON give the same answer");

    let values = rulehook(&["render", "hello", request, "--values"], repo());
    let values: serde_json::Value = serde_json::from_slice(&values.stdout).unwrap();
    assert_eq!(
        values,
        serde_json::json!({"name": "your-name", "who": "Your Name"})
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
    )
    .unwrap();
    let rules = repo().join("rules");
    let bare = rulehook(
        &[
            "render",
            "hello",
            "pod.yaml",
            "--rules",
            rules.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(bare.status.code(), Some(2));
    assert!(
        stderr(&bare).contains("rulehook fixture RULE --parent pod.yaml"),
        "{}",
        stderr(&bare)
    );
}

#[test]
fn test_watch_runs_again_when_a_rule_changes_and_completion_knows_every_command() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.yaml"),
        "sync:\n  status: {n: \"{{ 1 }}\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("r.test.yaml"),
        "rule: r\ncases:\n  - name: n is one\n    request: {parent: {}}\n    expect: {status: {n: 1}, children: []}\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["test", ".", "--watch"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let output = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |text: &str| loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no `{text}` within 10 s"));
        if line == text {
            break;
        }
    };
    wait_for("1 passed, 0 failed");
    // The watch is set up once the first run is reported; give it a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(
        dir.path().join("r.yaml"),
        "sync:\n  status: {n: \"{{ 2 }}\"}\n",
    )
    .unwrap();
    wait_for("0 passed, 1 failed");
    child.kill().unwrap();
    let _ = child.wait();

    let bash = rulehook(&["completion", "bash"], dir.path());
    let script = stdout(&bash);
    for command in [
        "serve",
        "check",
        "test",
        "render",
        "fixture",
        "diff",
        "controllers",
    ] {
        assert!(
            script.contains(command),
            "{command} missing from the bash completion"
        );
    }
}

#[test]
fn an_offline_command_piped_into_head_ends_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    // An answer far larger than a pipe's buffer, so writing it meets the closed pipe.
    std::fs::write(
        dir.path().join("big.yaml"),
        "sync:\n  status:\n    l:\n      - $forEach: \"{{ range 5000 }}\"\n        $template: \"a line of text to make the answer long: {{ item }}\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("req.json"), "{\"parent\": {}}").unwrap();
    let mut child = Command::new(BIN)
        .args(["render", "big.yaml", "req.json"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The reading end is closed here, as `head` closes it.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

/// The commit the checkout is at, as `build.rs` records it; `unknown` without git.
fn checked_out_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[test]
fn version_names_the_commit_and_the_server_exports_it() {
    let commit = checked_out_commit();
    let out = rulehook(&["--version"], repo());
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        format!("rulehook {} (commit {commit})\n", env!("CARGO_PKG_VERSION"))
    );
    let server = crate::support::Server::bundled();
    let metrics = server.get("/metrics").unwrap().text();
    let line = format!(
        "rulehook_build_info{{version=\"{}\",commit=\"{commit}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        metrics.lines().any(|l| l == line),
        "no `{line}` in:\n{metrics}"
    );
}

#[test]
fn empty_input_fails_and_strict_check_fails_on_warnings() {
    let empty = tempfile::tempdir().unwrap();
    let out = rulehook(&["check", "."], empty.path());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("no rules in .: nothing to check"));
    let out = rulehook(&["test", "."], empty.path());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        "no test suites (*.test.yaml) in .: nothing was tested\n0 passed, 0 failed\n"
    );

    let warned = tempfile::tempdir().unwrap();
    std::fs::write(
        warned.path().join("w.yaml"),
        "controller:\n  spec:\n    parentResource: {apiVersion: example.com/v1, resource: things}\n\
         sync:\n  status:\n    n: \"{{ length children.[Service.v1] }}\"\n",
    )
    .unwrap();
    let warning = "./w.yaml:6:8: warning: `children.[Service.v1]` names a type the rule neither \
                   creates nor declares in `controller:`, so it is always empty\n";
    let out = rulehook(&["check", "."], warned.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        format!("{warning}1 file, 1 rule, no errors, 1 warning\n")
    );
    let out = rulehook(&["check", "--strict", "."], warned.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        format!("{warning}1 warning in 1 file (--strict)\n")
    );
}

#[test]
fn a_server_with_no_rule_is_not_ready_unless_empty_is_allowed() {
    let empty = tempfile::tempdir().unwrap();
    let server = crate::support::Server::start(empty.path(), &[]);
    let ready = server.get("/readyz").unwrap();
    assert_eq!(ready.status, 503);
    assert!(ready.text().contains("--allow-empty"), "{}", ready.text());
    let allowed = crate::support::Server::start(empty.path(), &["--allow-empty"]);
    let ready = allowed.get("/readyz").unwrap();
    assert_eq!(
        (ready.status, ready.text()),
        (200, "ok: 0 rules\n".to_owned())
    );
}

#[test]
fn test_colours_only_a_terminal_that_wants_colour_or_when_told() {
    const GREEN: &str = "\u{1b}[32mPASS\u{1b}[0m";
    let rules = repo().join("rules");
    let rules = rules.to_str().unwrap();
    // A pipe: no colour unless told.
    let piped = |colour: &str| stdout(&rulehook(&["test", rules, "--color", colour], repo()));
    assert!(!piped("auto").contains('\u{1b}'));
    assert!(!piped("never").contains('\u{1b}'));
    assert!(piped("always").contains(GREEN));
    // A terminal (util-linux `script` gives the command one), with and without what
    // turns colour off.
    let on_a_terminal = |env: &[(&str, &str)]| {
        let command = format!("{BIN} test {rules}");
        let out = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("NO_COLOR")
            .env("TERM", "xterm")
            .envs(env.iter().copied())
            .output()
            .expect("util-linux `script`");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(on_a_terminal(&[]).contains(GREEN));
    assert!(!on_a_terminal(&[("NO_COLOR", "1")]).contains('\u{1b}'));
    assert!(!on_a_terminal(&[("TERM", "dumb")]).contains('\u{1b}'));
}

#[test]
fn messages_name_the_fix_for_a_wrong_folder_a_misspelt_rule_and_a_misspelt_suite_key() {
    let elsewhere = tempfile::tempdir().unwrap();
    let out = rulehook(
        &["fixture", "hello", "--parent", "p.yaml"],
        elsewhere.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let here = elsewhere.path().canonicalize().unwrap();
    assert_eq!(
        stderr(&out),
        format!(
            "error: there is no rule directory `rules` in {}; run from the folder that holds it, or give --rules DIR\n",
            here.display()
        )
    );

    let out = rulehook(&["fixture", "helo", "--parent", "p.yaml"], repo());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: no rule named `helo` in rules; did you mean `hello`?\n"
    );

    let suites = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("rules/hello.yaml"),
        suites.path().join("hello.yaml"),
    )
    .unwrap();
    std::fs::write(
        suites.path().join("a.test.yaml"),
        "cases:\n  - name: a\n    rule: hello\n    request: {parent: {}}\n    expectPartail: {}\n",
    )
    .unwrap();
    let out = rulehook(&["test", "a.test.yaml"], suites.path());
    assert_eq!(out.status.code(), Some(1));
    let first = stdout(&out).lines().next().unwrap().to_owned();
    assert!(
        first.starts_with("FAIL a.test.yaml:5:5: cases[0]: unknown field `expectPartail`"),
        "{first}"
    );
    assert!(
        first.ends_with("; did you mean `expectPartial`?"),
        "{first}"
    );
    assert_eq!(
        first.matches("5:5").count() + first.matches("line 5").count(),
        1
    );
}

#[test]
fn log_flags_belong_to_serve_and_its_help_is_grouped() {
    for command in [
        "check",
        "test",
        "render",
        "schema",
        "completion",
        "diff",
        "fixture",
    ] {
        let help = stdout(&rulehook(&[command, "--help"], repo()));
        assert!(
            !help.contains("--log"),
            "`{command} --help` offers --log:\n{help}"
        );
    }
    let help = stdout(&rulehook(&["serve", "--help"], repo()));
    let headings: Vec<&str> = help
        .lines()
        .filter(|l| !l.starts_with(' ') && l.ends_with(':'))
        .collect();
    assert_eq!(
        headings,
        [
            "Options:",
            "Rules:",
            "Listening:",
            "Limits:",
            "Auth and TLS:",
            "Logs and recording:"
        ],
        "{help}"
    );
    assert!(help.contains("--log-format"));
    let diff = rulehook(&["diff", "-o", "json", "--help"], repo());
    assert!(diff.status.success(), "{}", stderr(&diff));
}
