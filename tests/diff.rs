//! `rulehook diff`: a rule change judged by what it would do to the answers, run as the real
//! binary, over hand-written requests and over a directory written by `serve --record`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::record::wait_for_records;
use crate::support::{hello_request, repo, rulehook, stdout, Server};

/// A copy of `file` (from the repository) in a new directory, with `from` replaced by `to`.
fn edited_copy(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    let name = Path::new(file).file_name().unwrap();
    std::fs::write(dir.path().join(name), text.replace(from, to)).unwrap();
    dir
}

#[test]
fn a_flipped_include_when_is_reported_as_deletions_and_exits_1() {
    let new = edited_copy(
        "examples/configmappropagation/configmappropagation.yaml",
        r#"$includeWhen: "{{ exists source }}""#,
        r#"$includeWhen: "{{ not (exists source) }}""#,
    );
    let new_dir = new.path().to_str().unwrap();
    let out = rulehook(
        &[
            "diff",
            "--old",
            "examples/configmappropagation",
            "--new",
            new_dir,
            "--rule",
            "configmappropagation",
            "--libraries",
            "examples/lib",
            "examples/configmappropagation/fixtures/sync.json",
        ],
        repo(),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with(
            "== settings-propagation (examples/configmappropagation/fixtures/sync.json)\n"
        ),
        "{text}"
    );
    for ns in ["one", "two", "three"] {
        assert!(
            text.contains(&format!("\ndeleted v1 ConfigMap {ns}/settings\n")),
            "{text}"
        );
    }
    assert!(
        text.ends_with("\n1 request: 3 deletions, 0 creations, 0 changes\n"),
        "{text}"
    );

    let json = rulehook(
        &[
            "diff",
            "--old",
            "examples/configmappropagation",
            "--new",
            new_dir,
            "--rule",
            "configmappropagation",
            "--output",
            "json",
            "--libraries",
            "examples/lib",
            "examples/configmappropagation/fixtures/sync.json",
        ],
        repo(),
    );
    assert_eq!(json.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["summary"]["deletions"], 3);
    assert_eq!(doc["requests"][0]["deleted"][0]["kind"], "ConfigMap");
}

#[test]
fn identical_rule_sets_change_nothing_and_exit_0() {
    let out = rulehook(
        &[
            "diff",
            "--old",
            "rules",
            "--new",
            "rules",
            "--rule",
            "hello",
            "rules/fixtures",
        ],
        repo(),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text,
        "== hello/your-name (rules/fixtures/hello-sync.json)\nno changes\n\
         1 request: 0 deletions, 0 creations, 0 changes\n"
    );
}

#[test]
fn a_new_rule_that_does_not_compile_is_an_error() {
    let new = edited_copy("rules/hello.yaml", "{{ who }}", "{{ nosuchhelper who }}");
    let out = rulehook(
        &[
            "diff",
            "--old",
            "rules",
            "--new",
            new.path().to_str().unwrap(),
            "--rule",
            "hello",
            "rules/fixtures/hello-sync.json",
        ],
        repo(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchhelper"));
}

#[test]
fn diff_replays_what_serve_recorded() {
    let rec = tempfile::tempdir().unwrap();
    let rec_dir = rec.path().to_str().unwrap();
    let server = Server::start(&repo().join("rules"), &["--record", rec_dir]);
    for who in ["Ada", "Grace"] {
        let request = hello_request(Some(who), 1);
        assert_eq!(server.post_json("/hello/sync", &request).status, 200);
    }
    wait_for_records(rec.path(), |f| f.len() == 2);
    drop(server);

    let new = edited_copy("rules/hello.yaml", "image: busybox", "image: alpine");
    let new_dir = new.path().to_str().unwrap();
    // No --rule: each recorded request's directory names its rule and hook.
    let out = rulehook(
        &["diff", "--old", "rules", "--new", new_dir, rec_dir],
        repo(),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("\nchanged v1 Pod hello/your-name\n  ~ spec.containers[0].image: \"busybox\" → \"alpine\"\n").count(),
        2,
        "{text}"
    );
    assert!(
        text.ends_with("\n2 requests: 0 deletions, 0 creations, 2 changes\n"),
        "{text}"
    );
}

#[test]
fn old_git_reads_the_new_directory_as_it_was_at_a_revision() {
    let repo_dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(repo_dir.path())
            .output()
            .unwrap();
        assert!(status.status.success(), "git {args:?}: {status:?}");
    };
    let rules = repo_dir.path().join("deploy/rules");
    std::fs::create_dir_all(&rules).unwrap();
    let hello = std::fs::read_to_string(repo().join("rules/hello.yaml")).unwrap();
    std::fs::write(rules.join("hello.yaml"), &hello).unwrap();
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "hello"]);
    // The change: the Pod is renamed, so the old one would be deleted.
    let renamed = hello.replace("name: \"{{ name }}\"", "name: \"{{ name }}-2\"");
    assert_ne!(renamed, hello);
    std::fs::write(rules.join("hello.yaml"), renamed).unwrap();

    let request = repo().join("rules/fixtures/hello-sync.json");
    let out = rulehook(
        &[
            "diff",
            "--old-git",
            "HEAD",
            "--new",
            "deploy/rules",
            "--rule",
            "hello",
            request.to_str().unwrap(),
        ],
        repo_dir.path(),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("\ndeleted v1 Pod hello/your-name\n"),
        "{text}"
    );
    assert!(
        text.contains("\ncreated v1 Pod hello/your-name-2\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\n1 request: 1 deletion, 1 creation, 0 changes\n"),
        "{text}"
    );
}

#[test]
fn a_library_edit_changes_the_answers_of_the_rules_that_import_it() {
    let root = tempfile::tempdir().unwrap();
    let library =
        "templates:\n  counted:\n    params: [n]\n    template:\n      label: \"{{ n }}\"\n";
    let rule = "imports: [shared]\nsync:\n  status:\n    b: {$use: counted, $with: {n: b}}\n";
    for (side, library) in [
        ("old", library.to_owned()),
        ("new", library.replace("\"{{", "\"v2-{{")),
    ] {
        let dir = root.path().join(side);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("shared.lib.yaml"), library).unwrap();
        std::fs::write(dir.join("b.yaml"), rule).unwrap();
        std::fs::write(dir.join("plain.yaml"), "sync:\n  status: {}\n").unwrap();
    }
    std::fs::write(
        root.path().join("request.json"),
        r#"{"parent": {"metadata": {"name": "p"}}, "children": {}}"#,
    )
    .unwrap();
    let diff = |rule: &str| {
        let args = [
            "diff",
            "--old",
            "old",
            "--new",
            "new",
            "--rule",
            rule,
            "request.json",
        ];
        let out = rulehook(&args, root.path());
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        stdout(&out)
    };
    let text = diff("b");
    assert!(
        text.contains("~ status.b.label: \"b\" → \"v2-b\"")
            && text.ends_with("1 request: 0 deletions, 0 creations, 1 change\n"),
        "{text}"
    );
    // A rule that does not import the library answers as before.
    assert!(diff("plain").contains("no changes"), "{}", diff("plain"));
}
