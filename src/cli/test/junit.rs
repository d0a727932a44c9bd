//! `rulehook test --junit FILE`: the results as JUnit XML, for CI systems that show them.

use super::{CaseResult, Outcome};

/// A JUnit XML report, one testsuite per suite file.
pub fn report(results: &[CaseResult]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut suites: Vec<&str> = results.iter().map(|r| r.suite.as_str()).collect();
    suites.dedup();
    let failed = |rs: &[&CaseResult]| {
        rs.iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .count()
    };
    let all: Vec<&CaseResult> = results.iter().collect();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"rulehook\" tests=\"{}\" failures=\"{}\">\n",
        results.len(),
        failed(&all)
    );
    for suite in suites {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.suite == suite).collect();
        let time: f64 = cases.iter().map(|c| c.seconds).sum();
        xml.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{time:.6}\">\n",
            esc(suite),
            cases.len(),
            failed(&cases)
        ));
        for case in cases {
            xml.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.6}\"",
                esc(&case.name),
                esc(suite),
                esc(suite),
                case.line,
                case.seconds
            ));
            match &case.outcome {
                Outcome::Failed(details) => {
                    let first = details.lines().next().unwrap_or("");
                    xml.push_str(&format!(
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                        esc(first),
                        esc(details)
                    ));
                }
                _ => xml.push_str("/>\n"),
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}
