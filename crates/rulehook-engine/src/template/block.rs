//! Compiled blocks: `{{#if}}`, `{{#unless}}`, `{{#each}}`, `{{#with}}` and the boolean
//! built-ins used as blocks, with the text and values inside them, rendered into a string
//! as handlebars 6.4 renders them.

use handlebars::template::{BlockParam, HelperTemplate, Parameter, TemplateElement};
use handlebars::Template;
use serde_json::Value;

use super::builtins::{helper_not_found, missing, render_json, truthy};
use super::frame::{BlockParams, Frame, Locals};
use super::program::{call_catalogue, each_item, Call, Callee, Message, Program};
use super::text::MeteredString;

/// One part of a block's body.
#[derive(Debug)]
pub(super) enum Element {
    Raw(String),
    /// `{{ value }}`: written as text; missing is an error.
    Value(Program),
    /// `{{ (subexpression) }}`: its value, or, when that value's text names a helper, a
    /// call of that helper with no arguments.
    Computed(Program),
    /// `{{ helper args }}`: what the helper writes.
    Call(Call),
    Block(Box<Block>),
}

/// `{{#helper args as |item key|}} body {{else}} inverse {{/helper}}`.
#[derive(Debug)]
pub(super) struct Block {
    call: Call,
    body: Option<Vec<Element>>,
    inverse: Option<Vec<Element>>,
    params: Params,
}

/// The names a block gives its parameters; handlebars reads a pair only for `each`.
#[derive(Debug)]
enum Params {
    None,
    Single(String),
    Pair(String, String),
}

impl Block {
    /// Compiles a block, or `None` for any other element the checker refuses at load.
    pub(super) fn compile(element: &TemplateElement) -> Option<Block> {
        match element {
            TemplateElement::HelperBlock(block) => Some(Block::from_template(block)),
            _ => None,
        }
    }

    fn from_template(block: &HelperTemplate) -> Block {
        let name = |p: &Parameter| match p {
            Parameter::Name(name) => Some(name.clone()),
            _ => None,
        };
        let params = match &block.block_param {
            Some(BlockParam::Single(item)) => name(item).map_or(Params::None, Params::Single),
            Some(BlockParam::Pair((item, key))) => match (name(item), name(key)) {
                (Some(item), Some(key)) => Params::Pair(item, key),
                _ => Params::None,
            },
            _ => Params::None,
        };
        Block {
            call: Call::compile(&block.name, &block.params, &block.hash),
            body: block.template.as_ref().map(compile_elements),
            inverse: block.inverse.as_ref().map(compile_elements),
            params,
        }
    }

    /// Renders the block where `frame` stands, appending to `out`.
    ///
    /// # Errors
    ///
    /// What handlebars would report: a helper's error, a missing value, or a limit passed
    /// while writing.
    pub(super) fn render(&self, frame: &Frame<'_>, out: &mut MeteredString) -> Result<(), Message> {
        render_call(&self.call, Some(self), frame, out)
    }

    /// Renders `body` once for each item, its own work charged first, with `@first`,
    /// `@last`, `@index` and (for a map's items, which come with their keys) `@key` set.
    fn render_items<'v>(
        &self,
        body: &[Element],
        items: impl ExactSizeIterator<Item = (Option<&'v str>, &'v Value)>,
        frame: &Frame<'_>,
        out: &mut MeteredString,
    ) -> Result<(), Message> {
        let count = items.len();
        for (index, (key, item)) in items.enumerate() {
            each_item()?;
            let locals = Locals {
                first: Some(index == 0),
                last: Some(index + 1 == count),
                index: Some(index),
                key,
            };
            let key = key.map_or_else(|| Value::from(index), Value::from);
            let child = Frame {
                this: item,
                locals,
                params: self.params(item, &key),
                parent: Some(frame),
                bound: Vec::new(),
            };
            render_elements(body, &child, out)?;
        }
        Ok(())
    }

    fn params<'s>(&'s self, item: &'s Value, key: &'s Value) -> BlockParams<'s> {
        let mut params = BlockParams::default();
        match &self.params {
            Params::None => {}
            Params::Single(name) => params.item = Some((name, item)),
            Params::Pair(name, key_name) => {
                params.item = Some((name, item));
                params.key = Some((key_name, key));
            }
        }
        params
    }
}

fn compile_elements(template: &Template) -> Vec<Element> {
    template
        .elements
        .iter()
        .filter_map(compile_element)
        .collect()
}

fn compile_element(element: &TemplateElement) -> Option<Element> {
    match element {
        TemplateElement::RawString(text) => Some(Element::Raw(text.clone())),
        TemplateElement::Expression(call) | TemplateElement::HtmlExpression(call) => {
            let name_only = !call.block && call.params.is_empty() && call.hash.is_empty();
            if !name_only {
                return Some(Element::Call(Call::compile(
                    &call.name,
                    &call.params,
                    &call.hash,
                )));
            }
            match &call.name {
                Parameter::Subexpression(_) => {
                    Some(Element::Computed(Program::compile(&call.name)))
                }
                Parameter::Name(name) => Some(name_only_path(name, &call.name)),
                Parameter::Path(path) => Some(name_only_path(super::path_text(path), &call.name)),
                Parameter::Literal(value) => Some(name_only_path(&render_json(value), &call.name)),
                _ => None,
            }
        }
        TemplateElement::HelperBlock(_) => {
            Block::compile(element).map(|b| Element::Block(Box::new(b)))
        }
        // Comments write nothing; partials and decorators never pass the checker.
        _ => None,
    }
}

/// `{{ name }}`: a call when a helper has that name, else a value.
fn name_only_path(name: &str, param: &Parameter) -> Element {
    let callee = Callee::named(name);
    if callee.exists() {
        Element::Call(Call::named(name, Vec::new()))
    } else {
        Element::Value(Program::compile(param))
    }
}

fn render_elements(
    elements: &[Element],
    frame: &Frame<'_>,
    out: &mut MeteredString,
) -> Result<(), Message> {
    for element in elements {
        match element {
            Element::Raw(text) => write(out, text)?,
            Element::Value(program) => write_value(program, frame, out)?,
            Element::Computed(program) => {
                let name = program.eval(frame)?;
                let name = render_json(name.as_deref().unwrap_or(&Value::Null)).into_owned();
                if Callee::named(&name).exists() {
                    // handlebars evaluates the name again to build the call.
                    let again = program.eval(frame)?;
                    let name = render_json(again.as_deref().unwrap_or(&Value::Null)).into_owned();
                    render_call(&Call::named(&name, Vec::new()), None, frame, out)?;
                } else {
                    write_value(program, frame, out)?;
                }
            }
            Element::Call(call) => render_call(call, None, frame, out)?,
            Element::Block(block) => block.render(frame, out)?,
        }
    }
    Ok(())
}

fn write_value(
    program: &Program,
    frame: &Frame<'_>,
    out: &mut MeteredString,
) -> Result<(), Message> {
    match program.eval(frame)? {
        Some(value) => write(out, &render_json(&value)),
        None => Err(missing(program.path())),
    }
}

/// Appends `text`, charged first; empty text is not written at all.
fn write(out: &mut MeteredString, text: &str) -> Result<(), Message> {
    if text.is_empty() {
        return Ok(());
    }
    out.push(text).map_err(|e| e.message())
}

/// Runs a helper as handlebars renders it into text, as an expression (`block` is `None`)
/// or as a block.
fn render_call(
    call: &Call,
    block: Option<&Block>,
    frame: &Frame<'_>,
    out: &mut MeteredString,
) -> Result<(), Message> {
    let super::program::Args {
        params: args,
        include_zero,
    } = call.args(frame)?;
    let body = block.and_then(|b| b.body.as_deref());
    let inverse = block.and_then(|b| b.inverse.as_deref());
    let either = |holds: bool, out: &mut MeteredString| match if holds { body } else { inverse } {
        Some(elements) => render_elements(elements, frame, out),
        None => Ok(()),
    };
    match &call.callee {
        Callee::Catalogue { info, body, .. } => {
            let value = call_catalogue(info, *body, &args)?;
            match (value, block) {
                (value, Some(_)) if info.is_condition() => {
                    either(value.as_deref().and_then(Value::as_bool) == Some(true), out)
                }
                (Some(value), _) => write(out, &render_json(&value)),
                (None, _) => Err(missing(None)),
            }
        }
        Callee::And | Callee::Or => {
            let holds = call.callee.truth(&args);
            match block {
                Some(_) => either(holds, out),
                None => write(out, if holds { "true" } else { "false" }),
            }
        }
        Callee::If | Callee::Unless => {
            let holds = truthy(call.callee.first(&args)?.json(), include_zero);
            either(holds == matches!(call.callee, Callee::If), out)
        }
        Callee::Each => {
            let arg = call.callee.first(&args)?;
            let (Some(block), Some(body)) = (block, body) else {
                return Ok(());
            };
            match arg.json() {
                Value::Array(items) if !items.is_empty() || inverse.is_none() => {
                    let items = items.iter().map(|item| (None, item));
                    block.render_items(body, items, frame, out)
                }
                Value::Object(map) if !map.is_empty() || inverse.is_none() => {
                    let items = map.iter().map(|(key, item)| (Some(key.as_str()), item));
                    block.render_items(body, items, frame, out)
                }
                _ => match inverse {
                    Some(elements) => render_elements(elements, frame, out),
                    None => Err(missing(arg.path)),
                },
            }
        }
        Callee::With => {
            let arg = call.callee.first(&args)?;
            let value = arg.json();
            if truthy(value, false) {
                let Some(body) = body else { return Ok(()) };
                let mut params = BlockParams::default();
                if let Some(Block {
                    params: Params::Single(name),
                    ..
                }) = block
                {
                    params.item = Some((name, value));
                }
                // `@index` and the other variables of an enclosing `each` stay visible.
                let child = Frame {
                    this: value,
                    locals: frame.locals,
                    params,
                    parent: Some(frame),
                    bound: Vec::new(),
                };
                render_elements(body, &child, out)
            } else {
                match inverse {
                    Some(elements) => render_elements(elements, frame, out),
                    None => Err(missing(arg.path)),
                }
            }
        }
        Callee::EachItem => each_item(),
        // Loading refuses these inside blocks; were one here, it would write its value.
        Callee::Function(function) => match function.call(&args, frame)? {
            Some(value) => write(out, &render_json(&value)),
            None => Err(missing(None)),
        },
        Callee::Unknown(name) => Err(helper_not_found(name)),
    }
}
