//! `required: true` over HTTP: a missing required value answers 500 naming it only when the
//! answer reads it; a hook that guards the child needing it still answers 200 without it.

use serde_json::json;

use crate::support::configmap::ConfigMapDir;
use crate::support::Server;

const RULE: &str = "values:\n  source:\n    path: $.parent.spec.source\n    required: true\nsync:\n  status:\n    name: \"{{ parent.metadata.name }}\"\n  children:\n    - $includeWhen: \"{{ parent.spec.copy }}\"\n      apiVersion: v1\n      kind: ConfigMap\n      metadata:\n        name: \"{{ source }}\"\n";

#[test]
fn a_missing_required_value_fails_the_call_only_where_the_answer_reads_it() {
    let dir = ConfigMapDir::new(&[("copy.yaml", RULE)]);
    let server = Server::start(&dir.path, &[]);
    let request =
        |spec| json!({"parent": {"metadata": {"name": "p", "namespace": "ns"}, "spec": spec}});

    let unused = server.post_json("/copy/sync", &request(json!({})));
    assert_eq!(unused.status, 200, "{}", unused.text());
    assert_eq!(unused.json()["children"], json!([]));

    let used = server.post_json("/copy/sync", &request(json!({"copy": true})));
    assert_eq!(used.status, 500);
    assert!(
        used.text().contains("copy.yaml:3:11: value `source` is required, but `$.parent.spec.source` matched nothing"),
        "{}",
        used.text()
    );

    let given = server.post_json("/copy/sync", &request(json!({"copy": true, "source": "s"})));
    assert_eq!(given.json()["children"][0]["metadata"]["name"], "s");
}
