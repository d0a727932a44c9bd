//! A render's first stage: the rule's values, evaluated in file order. JSONPath values read
//! the request as sent; computed values read the scope the templates will see. A required
//! value that is missing is noted (`required.rs`) rather than failed: the render fails where
//! something reads it.

use serde_json::{Map, Value};

use crate::budget;
use crate::required;
use crate::rule::{HookError, NamedValue, Rule, Source};
use crate::template::Render;

/// Work per byte of request a JSONPath value that is not a fixed walk may visit: following
/// a node, testing a filter on it.
const QUERY_WORK: u64 = 2;

impl Rule {
    /// Evaluates the JSONPath values, which read the request as Metacontroller sent it.
    pub(crate) fn evaluate_path_values(
        &self,
        request: &Value,
        scope: &mut Map<String, Value>,
    ) -> Result<(), HookError> {
        let mut request_size: Option<u64> = None;
        for value in &self.values {
            let Source::Path(query, text, cost, members) = &value.source else {
                continue;
            };
            if *cost == crate::query_cost::QueryCost::Request {
                // Measured once, on the first query that needs it.
                let size = *request_size.get_or_insert_with(|| {
                    let room = usize::try_from(budget::work_left()).unwrap_or(usize::MAX);
                    budget::size_within(request, room).map_or(u64::MAX, |s| s as u64)
                });
                budget::work(size.saturating_mul(QUERY_WORK))
                    .map_err(|e| self.fail(value.pos, e.message()))?;
            }
            // A plain path finds at most one node, without a list to hold it.
            let walked;
            let queried;
            let nodes: &[&Value] = match members {
                Some(members) => {
                    walked = members
                        .iter()
                        .try_fold(request, |at, member| at.as_object()?.get(member.as_str()));
                    walked.as_slice()
                }
                None => {
                    queried = query.query(request).all();
                    &queried
                }
            };
            for node in nodes {
                budget::charge_copy(node).map_err(|e| self.fail(value.pos, e.message()))?;
            }
            let found = if value.all {
                let list: Vec<Value> = nodes
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| (*v).clone())
                    .collect();
                (!list.is_empty()).then_some(Value::Array(list))
            } else {
                match nodes {
                    [] => None,
                    [one] => Some((*one).clone()).filter(|v| !v.is_null()),
                    many => {
                        return Err(self.fail(
                            value.pos,
                            format!(
                                "value `{}` ({text}) matched {} nodes; add `all: true` to collect them as a list",
                                value.name,
                                many.len()
                            ),
                        ))
                    }
                }
            };
            match found.or_else(|| value.default.clone()) {
                Some(v) => {
                    scope.insert(value.name.clone(), v);
                }
                None if value.required => self.missing(value),
                None => {}
            }
        }
        Ok(())
    }

    /// Evaluates the computed values, in file order, once the scope is built.
    pub(crate) fn compute_values(&self, render: &mut Render) -> Result<(), HookError> {
        for value in &self.values {
            let found = match &value.source {
                Source::Path(..) => continue,
                Source::Expr(expr) => render.expr(expr),
                Source::Template(node) => render.node(node),
            };
            let found = match found {
                Ok(found) => found.filter(|v| !v.is_null()),
                // It read a missing required value: it fails, in turn, where it is read.
                Err(failure) => match required::take_hit() {
                    Some((pos, message)) => {
                        required::mark(&value.name, pos, message);
                        continue;
                    }
                    None => return Err(self.failed(failure)),
                },
            };
            match found.or_else(|| value.default.clone()) {
                Some(v) => render.set(&value.name, v),
                None if value.required => self.missing(value),
                None => {}
            }
        }
        Ok(())
    }

    /// Notes a required value the request left missing: what reads it fails, naming it.
    fn missing(&self, value: &NamedValue) {
        let from = match &value.source {
            Source::Path(_, text, ..) => format!("`{text}` matched nothing"),
            Source::Expr(_) => "its expression gave nothing".to_owned(),
            Source::Template(_) => "its template gave nothing".to_owned(),
        };
        let message = format!("value `{}` is required, but {from}", value.name);
        required::mark(&value.name, value.pos, message);
    }
}
