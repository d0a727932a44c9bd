//! `rulehook fixture`, and test cases written with `parentFile`: requests built from
//! kubectl output must be the ones Metacontroller sends, as the held fixtures record them.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use crate::support::{repo, rulehook, stderr, BIN};
use rulehook_engine::suite::compare;

const KUBECTL: &str = "tests/fixtures/kubectl";

fn rulehook_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rulehook");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The request `rulehook fixture` prints for `args`, which must succeed.
fn fixture(args: &[&str]) -> Value {
    let mut all = vec!["fixture"];
    all.extend_from_slice(args);
    let out = rulehook(&all, repo());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("managedFields"), "managedFields kept");
    serde_json::from_str(&text).unwrap()
}

fn held(path: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    let mut request: Value = serde_json::from_str(&text).unwrap();
    for subject in ["parent", "object"] {
        if let Some(Value::Object(meta)) = request.pointer_mut(&format!("/{subject}/metadata")) {
            meta.remove("managedFields");
        }
    }
    request
}

/// Everything but the controller must be equal; the controller built from the rule must be
/// what the held one says wherever it says it (the held one also has a uid, a status...).
fn assert_matches_held(built: &Value, held: &Value) {
    for key in held.as_object().unwrap().keys() {
        if key == "controller" {
            // The held controllers are the examples' controller.yaml, which predate the
            // update strategies `rulehook controllers` now adds by default.
            let mut built = built[key].clone();
            for list in ["childResources", "attachments"] {
                if let Some(Value::Array(items)) = built["spec"].get_mut(list) {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        item.remove("updateStrategy");
                    }
                }
            }
            let m = compare(&built, &held[key], true);
            assert_eq!(m, None, "controller");
        } else {
            assert_eq!(built[key], held[key], "{key}");
        }
    }
    assert_eq!(
        built.as_object().unwrap().len(),
        held.as_object().unwrap().len()
    );
}

#[test]
fn a_namespaced_parent_is_keyed_by_name_under_v1_and_by_namespace_and_name_under_v2() {
    let parent = format!("{KUBECTL}/hello-parent.yaml");
    let pods = format!("{KUBECTL}/hello-pods.yaml");
    for version in ["v1", "v2"] {
        let built = fixture(&[
            "rules/hello.yaml",
            "--parent",
            &parent,
            "--children",
            &pods,
            "--hook-version",
            version,
        ]);
        let expected = held(&format!("tests/fixtures/hello-sync-{version}.json"));
        assert_matches_held(&built, &expected);
    }
    // The rule says v1, and the rule is found by name in --rules.
    let default = fixture(&["hello", "--parent", &parent, "--children", &pods]);
    assert_matches_held(&default, &held("tests/fixtures/hello-sync-v1.json"));
}

#[test]
fn a_cluster_scoped_parent_keys_namespaced_objects_by_namespace_and_name_under_both() {
    let object = format!("{KUBECTL}/clusterrole.yaml");
    let bindings = format!("{KUBECTL}/rolebinding.json");
    let expected = held("examples/clusteredparent/fixtures/sync-attached.json");
    let args = |version| {
        fixture(&[
            "clusteredparent",
            "--rules",
            "examples/clusteredparent",
            "--parent",
            &object,
            "--children",
            &bindings,
            "--hook-version",
            version,
        ])
    };
    let v1 = args("v1");
    assert_matches_held(&v1, &expected);
    let mut v2 = args("v2");
    assert_eq!(v2["controller"]["spec"]["hooks"]["sync"]["version"], "v2");
    v2["controller"]["spec"]["hooks"]["sync"]["version"] = json!("v1");
    assert_eq!(v2, v1);
}

#[test]
fn multi_document_input_and_standard_input_give_the_same_objects() {
    let parent = format!("{KUBECTL}/hello-parent.yaml");
    let docs = format!("{KUBECTL}/hello-pods-docs.yaml");
    let built = fixture(&["hello", "--parent", &parent, "--children", &docs]);
    let pods = built["children"]["Pod.v1"].as_object().unwrap();
    assert_eq!(
        pods.keys().collect::<Vec<_>>(),
        ["your-name", "your-name-2"]
    );
    assert_eq!(pods["your-name-2"]["metadata"]["name"], "your-name-2");

    let text = std::fs::read(repo().join(&parent)).unwrap();
    let out = rulehook_stdin(
        &["fixture", "hello", "--parent", "-", "--children", &docs],
        &text,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), built);
}

#[test]
fn yaml_output_is_the_same_request() {
    let parent = format!("{KUBECTL}/hello-parent.yaml");
    let json = fixture(&["hello", "--parent", &parent, "--finalizing"]);
    assert_eq!(json["finalizing"], true);
    assert_eq!(json["children"], json!({"Pod.v1": {}}));
    let out = rulehook(
        &[
            "fixture",
            "hello",
            "--parent",
            &parent,
            "--finalizing",
            "-o",
            "yaml",
        ],
        repo(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let yaml: Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(yaml, json);
}

#[test]
fn each_hook_gets_its_own_request_shape() {
    let parent = format!("{KUBECTL}/hello-parent.yaml");
    let finalize = fixture(&["hello", "--parent", &parent, "--hook", "finalize"]);
    assert_eq!(finalize["finalizing"], true);
    let customize = fixture(&["hello", "--parent", &parent, "--hook", "customize"]);
    let keys: Vec<&String> = customize.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["controller", "parent"]);
    let object = format!("{KUBECTL}/clusterrole.yaml");
    let decorator = fixture(&[
        "examples/clusteredparent/clusteredparent.yaml",
        "--parent",
        &object,
    ]);
    assert_eq!(decorator["object"]["metadata"]["name"], "my-clusterrole");
    assert_eq!(
        decorator["attachments"],
        json!({"RoleBinding.rbac.authorization.k8s.io/v1": {}})
    );
}

#[test]
fn an_object_of_an_undeclared_type_is_an_error_naming_its_file_and_itself() {
    let dir = tempfile::tempdir().unwrap();
    let services = dir.path().join("services.yaml");
    std::fs::write(
        &services,
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: hello}\n",
    )
    .unwrap();
    let parent = repo().join(KUBECTL).join("hello-parent.yaml");
    let out = rulehook(
        &[
            "fixture",
            "hello",
            "--parent",
            parent.to_str().unwrap(),
            "--children",
            "services.yaml",
            "--rules",
            repo().join("rules").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: services.yaml: Service hello/web "),
        "{err}"
    );
    assert!(err.contains("pods (v1)"), "{err}");

    let missing = rulehook(&["fixture", "hello", "--parent", "no/such.yaml"], repo());
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).starts_with("error: no/such.yaml: "));
    let not_an_object = rulehook(
        &["fixture", "hello", "--parent", "rules/hello.yaml"],
        repo(),
    );
    assert_eq!(not_an_object.status.code(), Some(2));
    assert!(
        stderr(&not_an_object)
            .starts_with("error: rules/hello.yaml: document 1: not a Kubernetes object"),
        "{}",
        stderr(&not_an_object)
    );
}

#[test]
fn a_declared_type_of_an_unknown_resource_gets_a_guessed_kind_and_a_note() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.yaml"),
        "controller:\n  spec:\n    parentResource: {apiVersion: example.com/v1, resource: things}\n    childResources:\n      - {apiVersion: example.com/v1, resource: widgets}\n      - {apiVersion: apps/v1, resource: deployments}\nsync:\n  status: {}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("thing.yaml"),
        "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\n",
    )
    .unwrap();
    let out = rulehook(&["fixture", "r.yaml", "--parent", "thing.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let request: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        request["children"],
        json!({"Widget.example.com/v1": {}, "Deployment.apps/v1": {}})
    );
    assert!(
        stderr(&out).contains("`Widget.example.com/v1`"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("Deployment"), "{}", stderr(&out));
}

#[test]
fn a_suite_case_may_give_kubectl_output_instead_of_a_request() {
    let out = rulehook(&["test", "tests/fixtures/kubectl/hello.test.yaml"], repo());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.ends_with("3 passed, 0 failed\n"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("both.test.yaml");
    std::fs::write(
        &suite,
        format!(
            "rule: {}\ncases:\n  - name: the one with both\n    request: {{parent: {{}}}}\n    parentFile: {}\n    expect: {{}}\n",
            repo().join("rules/hello.yaml").display(),
            repo().join(KUBECTL).join("hello-parent.yaml").display()
        ),
    )
    .unwrap();
    let out = rulehook(&["test", suite.to_str().unwrap()], repo());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("case `the one with both`: give `request`"),
        "{text}"
    );
}

#[test]
fn a_parent_of_another_type_than_the_controller_names_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: hello}\n",
    )
    .unwrap();
    let out = rulehook(
        &[
            "fixture",
            "hello",
            "--parent",
            "deployment.yaml",
            "--rules",
            repo().join("rules").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: deployment.yaml: Deployment hello/web is not what the controller's \
         `spec.parentResource` names (helloworlds (example.com/v1)); give a parent of that type\n"
    );
}
