use super::*;

fn requests(metrics: &Metrics) -> Vec<String> {
    let text = metrics.encode();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("rulehook_requests_total{"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn each_metrics_and_each_rule_version_counts_its_own_requests() {
    let (one, two) = (Metrics::new(), Metrics::new());
    let hello: Arc<str> = Arc::from("hello");
    one.observe_request(&hello, "sync", 200, 0.001);
    one.observe_request(&hello, "sync", 200, 0.001);
    one.observe_request(&hello, "sync", 500, 0.001);
    two.observe_request(&hello, "nope", 200, 0.001);
    // A reloaded rule has a new label of the same name: the same series.
    let reloaded: Arc<str> = Arc::from("hello");
    drop(hello);
    one.observe_request(&reloaded, "sync", 200, 0.001);
    assert_eq!(
        requests(&one),
        [
            r#"rulehook_requests_total{rule="hello",hook="sync",code="200"} 3"#,
            r#"rulehook_requests_total{rule="hello",hook="sync",code="500"} 1"#,
        ]
    );
    assert_eq!(
        requests(&two),
        [r#"rulehook_requests_total{rule="hello",hook="(unknown)",code="200"} 1"#]
    );
}
