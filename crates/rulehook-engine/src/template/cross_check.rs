//! The proof that compiled programs mean what handlebars meant: in the engine's tests (and
//! with the `cross-check` feature, which the workspace's integration tests turn on), every
//! expression and block a render evaluates is evaluated by handlebars 6.4 too, from a copy
//! of the budget as it stood before, and both must give the same value, text or error
//! message.

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{Context, RenderContext, Renderable, Template};
use serde_json::Value;

use super::text::MeteredString;
use super::{path_first, Expression};
use crate::budget;
use crate::helpers::{self, registry};

/// Checks what one expression gave (`ours`) against handlebars, run from the budget as it
/// stood `before` the expression, where `scope` stands.
///
/// A path of plain names is the one deliberate difference: the engine looks it up
/// leniently (a name into a list finds nothing), where handlebars fails.
pub(super) fn expression(
    scope: &mut Value,
    expression: &Expression,
    before: &budget::Snapshot,
    ours: Result<Option<Value>, String>,
) {
    if expression.program.calls_function() {
        return;
    }
    let theirs = with_context(scope, |ctx| {
        budget::aside(before, || evaluate_with_handlebars(&expression.param, ctx))
    });
    if stopped_by_guard(&ours) {
        return;
    }
    if expression.program.plain_names().is_some() {
        assert_eq!(ours, Ok(theirs.ok().flatten()), "{:?}", expression.param);
    } else {
        assert_eq!(ours, theirs, "{:?}", expression.param);
    }
}

/// Checks the text one block wrote (`ours`) against handlebars, as [`expression`] does.
pub(super) fn block(
    scope: &mut Value,
    template: &Template,
    before: &budget::Snapshot,
    ours: Result<String, String>,
) {
    let theirs = with_context(scope, |ctx| {
        budget::aside(before, || {
            let mut out = MeteredString::default();
            let mut rc = RenderContext::new(None);
            let result = template.render(registry(), ctx, &mut rc, &mut out);
            if let Some(exceeded) = out.exceeded.take() {
                return Err(exceeded.message());
            }
            result
                .map(|()| out.text)
                .map_err(|e| render_error_message(&e))
        })
    });
    if stopped_by_guard(&ours) {
        return;
    }
    assert_eq!(ours, theirs, "{template:?}");
}

/// A failure the caller's guard may have caused, which a run without it would not share.
fn stopped_by_guard<T>(ours: &Result<T, String>) -> bool {
    ours.is_err() && budget::guarded()
}

fn evaluate_with_handlebars(param: &Parameter, ctx: &Context) -> Result<Option<Value>, String> {
    let mut rc = RenderContext::new(None);
    param
        .expand(registry(), ctx, &mut rc)
        .map(|value| (!value.is_value_missing()).then(|| value.value().clone()))
        .map_err(|e| render_error_message(&e))
}

/// Lends `scope` to handlebars as its context, and takes it back.
fn with_context<T>(scope: &mut Value, f: impl FnOnce(&Context) -> T) -> T {
    let mut ctx = Context::from(std::mem::take(scope));
    let result = f(&ctx);
    *scope = std::mem::take(ctx.data_mut());
    result
}

/// A handlebars error in the words the engine used for it.
fn render_error_message(e: &handlebars::RenderError) -> String {
    use handlebars::RenderErrorReason as R;
    match e.reason() {
        R::MissingVariable(Some(path)) => {
            format!("`{path}` is missing: the request has no such value and it has no default")
        }
        R::MissingVariable(None) => "a value used here is missing".to_owned(),
        R::HelperNotFound(name) => super::builtins::helper_not_found(name),
        R::ParamNotFoundForIndex(name, index) => super::builtins::param_not_found(name, *index),
        R::InvalidJsonIndex(name) => super::builtins::text_index(name),
        R::Other(message) => message.clone(),
        other => other.to_string(),
    }
}

/// The block as handlebars renders it, its loops metered as a compiled block meters them.
pub(super) fn metered_template(mut block: TemplateElement) -> Template {
    meter_each_items(&mut block);
    let mut template = Template::new();
    template.elements.push(block);
    template
}

/// Makes every `{{#each}}` inside `element` charge each item's work as it starts it, as a
/// compiled block does.
///
/// handlebars runs a block's loop by itself, so it would otherwise spend any time in
/// `{{#each a}}{{#each ../a}}{{/each}}{{/each}}` without a step or a byte being counted.
/// The first element of each loop body becomes a call of [`helpers::EACH_ITEM`], which
/// writes nothing; templates cannot name it themselves.
fn meter_each_items(element: &mut TemplateElement) {
    let TemplateElement::HelperBlock(block) = element else {
        return;
    };
    let is_each = matches!(&block.name, Parameter::Name(n) if n == "each")
        || matches!(&block.name, Parameter::Path(p) if path_first(p) == Some("each"));
    for template in [&mut block.template, &mut block.inverse]
        .into_iter()
        .flatten()
    {
        for inner in &mut template.elements {
            meter_each_items(inner);
        }
    }
    if let (true, Some(body)) = (is_each, &mut block.template) {
        if let Some(tick) = each_item_call() {
            body.elements.insert(0, tick);
            let first = body.mapping.first().cloned();
            if let Some(mapping) = first {
                body.mapping.insert(0, mapping);
            }
        }
    }
}

/// `{{__each_item}}`, parsed once.
fn each_item_call() -> Option<TemplateElement> {
    static CALL: std::sync::OnceLock<Option<TemplateElement>> = std::sync::OnceLock::new();
    CALL.get_or_init(|| {
        Template::compile(&format!("{{{{{}}}}}", helpers::EACH_ITEM))
            .ok()
            .and_then(|mut t| (!t.elements.is_empty()).then(|| t.elements.remove(0)))
    })
    .clone()
}
