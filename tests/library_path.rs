//! The library search path (`--libraries DIR`): one library directory, mounted as a ConfigMap
//! of its own, shared by the rules of two rule directories; its edits reach both servers, a
//! broken version leaves both on their last good rules, and a library of the same name beside
//! the rules is refused with both files named.

use std::time::Duration;

use serde_json::Value;

use crate::support::configmap::ConfigMapDir;
use crate::support::{rulehook, stderr, stdout, Server};

fn library(prefix: &str) -> String {
    format!("functions:\n  label:\n    params: [n]\n    expr: \"{{{{ concat '{prefix}' n }}}}\"\n")
}

const FIRST: &str = "imports: [shared]\nsync:\n  status: {first: \"{{ label 'a' }}\"}\n";
const SECOND: &str = "imports: [shared]\nsync:\n  status: {second: \"{{ label 'b' }}\"}\n";
const PLAIN: &str = "sync:\n  status: {plain: 1}\n";

fn rule_entry(server: &Server, rule: &str) -> Value {
    let listing = server.get("/rules").unwrap().json();
    listing["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == rule)
        .cloned()
        .unwrap_or(Value::Null)
}

use crate::libraries::{answer as status, BROKEN};
use crate::reload::sha256_hex as sha;

/// Waits until the rule of `one` and the rule of `two` answer with labels made by the
/// library with `prefix` (at once when they already do).
fn both_answer(one: &Server, two: &Server, prefix: &str) {
    let want = |rule: &str, n: &str| format!(r#"{{"{rule}":"{prefix}{n}"}}"#);
    one.wait_until(Duration::from_secs(5), |s| {
        status(s, "first") == Some(want("first", "a"))
    });
    two.wait_until(Duration::from_secs(5), |s| {
        status(s, "second") == Some(want("second", "b"))
    });
}

#[test]
fn rules_of_two_directories_share_a_library_of_the_search_path_and_follow_its_edits() {
    let first = library("x-");
    let mut libraries = ConfigMapDir::new(&[("shared.lib.yaml", first.as_str())]);
    let one = ConfigMapDir::new(&[("first.yaml", FIRST), ("plain.yaml", PLAIN)]);
    let two = ConfigMapDir::new(&[("second.yaml", SECOND)]);
    let search = ["--libraries", libraries.path.to_str().unwrap()];
    let server_one = Server::start(&one.path, &search);
    let server_two = Server::start(&two.path, &search);
    both_answer(&server_one, &server_two, "x-");
    assert!(
        status(&server_one, "shared").is_none(),
        "a library is no rule"
    );

    // /rules and the metrics name the library of the search path by its file and hash.
    let file = libraries.path.join("shared.lib.yaml");
    let entry = serde_json::json!([{"name": "shared", "file": file, "sha256": sha(&first)}]);
    assert_eq!(rule_entry(&server_one, "first")["libraries"], entry);
    assert_eq!(rule_entry(&server_two, "second")["libraries"], entry);
    let series = format!(
        r#"rulehook_library_info{{library="shared",sha256="{}"}} 1"#,
        sha(&first)
    );
    assert!(
        server_one.get("/metrics").unwrap().text().contains(&series),
        "{series}"
    );
    let plain_before = rule_entry(&server_one, "plain");

    // An edit of the library ConfigMap recompiles the rules that import it, in both servers,
    // and only those.
    libraries.update(&[("shared.lib.yaml", library("y-").as_str())]);
    both_answer(&server_one, &server_two, "y-");
    assert_eq!(rule_entry(&server_one, "plain"), plain_before);

    // A broken version keeps both on their last good rule, each told why.
    libraries.update(&[("shared.lib.yaml", BROKEN)]);
    for (server, rule) in [(&server_one, "first"), (&server_two, "second")] {
        server.wait_until(Duration::from_secs(5), |s| {
            rule_entry(s, rule)["error"]
                .as_str()
                .is_some_and(|e| e.contains("the library `shared` it imports"))
        });
    }
    both_answer(&server_one, &server_two, "y-");

    // And a good one again is served by both.
    libraries.update(&[("shared.lib.yaml", library("z-").as_str())]);
    both_answer(&server_one, &server_two, "z-");
}

#[test]
fn a_library_beside_the_rules_with_the_name_of_one_on_the_search_path_is_refused() {
    let libraries = ConfigMapDir::new(&[("shared.lib.yaml", library("x-").as_str())]);
    let beside = library("b-");
    let mut rules = ConfigMapDir::new(&[("first.yaml", FIRST)]);
    let search = ["--libraries", libraries.path.to_str().unwrap()];
    let server = Server::start(&rules.path, &search);
    assert_eq!(
        status(&server, "first").as_deref(),
        Some(r#"{"first":"x-a"}"#)
    );

    // The same name beside the rules: neither file is used, the rule keeps its last good
    // version, and the error names both files.
    rules.update(&[("first.yaml", FIRST), ("shared.lib.yaml", beside.as_str())]);
    let both = |text: &str| {
        text.contains(&rules.path.join("shared.lib.yaml").display().to_string())
            && text.contains(&libraries.path.join("shared.lib.yaml").display().to_string())
    };
    server.wait_until(Duration::from_secs(5), |s| {
        rule_entry(s, "first")["error"]
            .as_str()
            .is_some_and(|e| e.contains("the library `shared` it imports is defined by"))
    });
    let error = rule_entry(&server, "first")["error"].to_string();
    assert!(both(&error), "{error}");
    assert_eq!(
        status(&server, "first").as_deref(),
        Some(r#"{"first":"x-a"}"#)
    );

    // `check` refuses the same directories, naming both files.
    let dir = rules.path.to_str().unwrap();
    let out = rulehook(&["check", dir, search[0], search[1]], &rules.path);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(both(&text), "{text}");
    assert!(
        text.contains("the library `shared` is also defined by"),
        "{text}"
    );

    // A server started on them has the rule refused, with the same message.
    let fresh = Server::start(&rules.path, &search);
    assert_eq!(status(&fresh, "first"), None);
    let listing = fresh.get("/rules").unwrap().text();
    assert!(listing.contains("it imports is defined by"), "{listing}");
    assert!(both(&listing), "{listing}");
}

#[test]
fn test_render_and_check_take_the_library_search_path() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    for dir in ["lib", "one", "two"] {
        std::fs::create_dir(root.join(dir)).unwrap();
    }
    let shared = library("x-") + "  spare:\n    params: [n]\n    expr: \"{{ n }}\"\n";
    std::fs::write(root.join("lib/shared.lib.yaml"), &shared).unwrap();
    std::fs::write(root.join("one/first.yaml"), FIRST).unwrap();
    std::fs::write(root.join("two/second.yaml"), SECOND).unwrap();
    let suite = |rule: &str, want: &str| {
        format!("rule: {rule}\ncases:\n  - name: from the shared library\n    request: {{parent: {{}}}}\n    expect:\n      status: {{{rule}: {want}}}\n      children: []\n")
    };
    std::fs::write(root.join("one/first.test.yaml"), suite("first", "x-a")).unwrap();
    std::fs::write(root.join("two/second.test.yaml"), suite("second", "x-b")).unwrap();
    std::fs::write(root.join("request.json"), "{\"parent\": {}}").unwrap();

    let out = rulehook(&["test", "one", "two", "--libraries", "lib"], root);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("2 passed, 0 failed"),
        "{}",
        stdout(&out)
    );
    // Without the search path, the library is not found.
    let out = rulehook(&["test", "one", "two"], root);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("library `shared` is not available"),
        "{}",
        stdout(&out)
    );

    for (rule, rules) in [("first", "one"), ("two/second.yaml", ".")] {
        let args = [
            "render",
            rule,
            "request.json",
            "--rules",
            rules,
            "--libraries",
            "lib",
        ];
        let out = rulehook(&args, root);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains("\"x-"), "{}", stdout(&out));
        let out = rulehook(&args[..5], root);
        assert!(!out.status.success(), "{}", stdout(&out));
    }

    // `check` of the whole tree reads `lib` as the search path, not as a directory of its
    // own, and warns of a definition that no directory uses, once.
    let out = rulehook(&["check", ".", "--libraries", "lib"], root);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert_eq!(text.matches("warning:").count(), 1, "{text}");
    assert!(text.contains("`spare` is never used"), "{text}");
    assert!(text.contains("2 rules"), "{text}");
}

#[test]
fn a_library_directory_replaced_by_another_is_watched_again() {
    let parent = tempfile::tempdir().unwrap();
    let (rules, libraries) = (parent.path().join("rules"), parent.path().join("lib"));
    let next = parent.path().join("lib.next");
    for dir in [&rules, &libraries, &next] {
        std::fs::create_dir(dir).unwrap();
    }
    std::fs::write(rules.join("first.yaml"), FIRST).unwrap();
    std::fs::write(libraries.join("shared.lib.yaml"), library("x-")).unwrap();
    // Written long enough ago to be read at once, as a deployment tool's copy would be.
    let written = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::write(next.join("shared.lib.yaml"), library("y-")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(next.join("shared.lib.yaml"))
        .unwrap()
        .set_modified(written)
        .unwrap();
    let search = [
        "--libraries",
        libraries.to_str().unwrap(),
        "--recheck-interval",
        "60s",
    ];
    let server = Server::start(&rules, &search);
    assert_eq!(
        status(&server, "first").as_deref(),
        Some(r#"{"first":"x-a"}"#)
    );

    // Another directory takes the place of the library directory, at once: no reading ever
    // finds it missing.
    std::fs::rename(&libraries, parent.path().join("lib.old")).unwrap();
    std::fs::rename(&next, &libraries).unwrap();
    std::fs::remove_dir_all(parent.path().join("lib.old")).unwrap();
    server.wait_until(Duration::from_secs(4), |s| {
        status(s, "first").as_deref() == Some(r#"{"first":"y-a"}"#)
    });

    // And the new directory is watched: only an event, not the re-check, can load an edit
    // within the deadline.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(libraries.join("shared.lib.yaml"), library("z-")).unwrap();
    server.wait_until(Duration::from_secs(4), |s| {
        status(s, "first").as_deref() == Some(r#"{"first":"z-a"}"#)
    });
}

#[test]
fn serve_does_not_start_without_its_library_directory() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("first.yaml"), FIRST).unwrap();
    let args = [
        "serve",
        "--rules",
        ".",
        "--libraries",
        "missing",
        "--listen",
        "127.0.0.1:0",
    ];
    let out = rulehook(&args, temp.path());
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("cannot read the library directory missing: "),
        "{text}"
    );
}
