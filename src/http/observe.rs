//! What the HTTP shell hands to telemetry, in telemetry's own plain terms: the rule set being
//! served, each reload's outcome, and the connections' counts. Telemetry knows nothing of the
//! rule set or the connections, so neither depends on the other through it.

use super::connection::Closed;
use super::AppState;
use crate::supply::ruleset::RuleSet;
use crate::supply::watch::Reload;
use crate::telemetry::metrics::ServedRule;

impl AppState {
    /// Sets the rule gauges from the set being served.
    pub fn observe_rules(&self, rules: &RuleSet) {
        self.metrics.observe_rules(
            rules.rules().map(|r| ServedRule {
                name: &r.rule.name,
                sha256: &r.hash,
                memory: r.memory,
            }),
            rules.limits().memory,
            rules.file_problems(),
        );
        self.metrics
            .observe_libraries(rules.loaded_libraries().map(|l| (l.name, l.sha256)));
    }

    /// Counts a reload attempt and sets the rule gauges from the set it left serving.
    pub fn observe_reload(&self, outcome: &Reload, rules: &RuleSet) {
        self.metrics.observe_reload(outcome.label());
        self.observe_rules(rules);
    }

    /// Sets the connection figures from the counts the connections keep, at scrape time.
    pub(super) fn observe_connections(&self) {
        let connections = &self.connections;
        // Either way the client left answers unread past the write timeout: the watchdog of
        // a large answer, or the connection's own deadline for blocked writes.
        let slow_readers =
            connections.closed(Closed::SlowReader) + connections.closed(Closed::WriteDeadline);
        self.metrics.observe_connections(
            connections.open(),
            connections.refused(),
            slow_readers,
            Closed::ALL.map(|why| (why.as_str(), connections.closed(why))),
        );
    }
}
