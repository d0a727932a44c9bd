//! Library functions: named whole expressions with parameters, called like helpers
//! (`{{ readyNames pods }}`). A rule compiles each function it may call once, and its calls
//! are resolved to it when the rule loads, as helpers are.
//!
//! While a template compiles, the functions in scope are held in a thread-local table set
//! by [`in_scope`], because handlebars' parameters are turned into programs deep inside the
//! compiler, where no other context reaches. At run time the table is empty: calls hold
//! their function.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::frame::Frame;
use super::program::{Arg, Found, Message, Program};
use super::render::STEP_WORK;
use crate::budget;
use crate::now::NOW;

/// How deep library definitions may nest: functions calling functions, and templates
/// using templates. Each level costs stack when a rule loads and when it renders, and no
/// hand-written library comes near it, so a file cannot make either overflow.
pub(crate) const MAX_DEPTH: usize = 32;

/// A compiled library function.
#[derive(Debug)]
pub(crate) struct Function {
    pub(crate) name: String,
    /// The library that defines it.
    pub(crate) library: String,
    pub(crate) params: Vec<String>,
    /// Where it is defined, `file:line:column`, for messages.
    pub(crate) origin: String,
    /// Where its expression is, `file:line:column`: the place a failing call names.
    expr_at: String,
    /// How many calls deep a call of it may go, itself included.
    pub(crate) depth: usize,
    pub(super) body: Program,
    /// Whether its body reads nothing but names (`objects.items`), never the scope as a
    /// whole (`this`, `@root`, `../`): its arguments can then be read where they are.
    reads_names_only: bool,
}

/// The functions a template may call, by name.
pub(crate) type Functions = BTreeMap<String, Arc<Function>>;

thread_local! {
    static IN_SCOPE: RefCell<Option<Rc<Functions>>> = const { RefCell::new(None) };
}

/// Puts `functions` in scope for what compiles until the returned guard is dropped, which
/// puts back what was in scope before (compiling a library template inside a rule nests).
pub(crate) fn enter(functions: Rc<Functions>) -> Entered {
    Entered(IN_SCOPE.with(|s| s.borrow_mut().replace(functions)))
}

/// What was in scope before [`enter`], put back on drop.
pub(crate) struct Entered(Option<Rc<Functions>>);

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.0.take();
        IN_SCOPE.with(|s| *s.borrow_mut() = previous);
    }
}

/// Runs `compile` with `functions` in scope (see [`enter`]).
pub(crate) fn in_scope<T>(functions: Rc<Functions>, compile: impl FnOnce() -> T) -> T {
    let _entered = enter(functions);
    compile()
}

/// The function in scope named `name`, if there is one.
pub(crate) fn lookup(name: &str) -> Option<Arc<Function>> {
    IN_SCOPE.with(|s| s.borrow().as_ref().and_then(|f| f.get(name).cloned()))
}

/// The names of the functions in scope, for "did you mean".
pub(crate) fn names() -> Vec<String> {
    IN_SCOPE.with(|s| {
        s.borrow()
            .as_ref()
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default()
    })
}

impl Function {
    /// Calls the function with arguments evaluated where it is called: each parameter is
    /// bound beside `now` and nothing else, so the caller's names are out of reach. A
    /// step's work is charged per call. Arguments are read where the caller has them when
    /// the body allows it; otherwise each is copied into a scope of its own, its bytes
    /// charged first.
    ///
    /// A body may call other functions, and those others: the depth of that is bounded by
    /// the definitions, which loading refuses to let call themselves (directly or not), so
    /// no input makes it recurse further.
    pub(super) fn call<'s>(
        &'s self,
        args: &[Arg<'s>],
        frame: &Frame<'s>,
    ) -> Result<Found<'s>, Message> {
        budget::work(STEP_WORK).map_err(|e| e.message())?;
        let now = frame.outermost().this.get(NOW);
        let found = match self.bound_in_place(args, now) {
            // Arguments that live in the caller's scope (or its program) are read where they
            // are, as block parameters are: nothing is copied, and what the body finds of them
            // is handed back as it is.
            Some(bound) => self.body.eval(&Frame::bound(bound)),
            None => return self.call_with_copies(args, now),
        };
        found.map_err(|message| self.failed(&message))
    }

    /// The arguments bound by name, with `now`, when every one is read in place.
    fn bound_in_place<'s>(
        &'s self,
        args: &[Arg<'s>],
        now: Option<&'s Value>,
    ) -> Option<Vec<(&'s str, &'s Value)>> {
        if !self.reads_names_only {
            return None;
        }
        let mut bound = Vec::with_capacity(self.params.len() + 1);
        for (name, arg) in self.params.iter().zip(args) {
            match &arg.value {
                // A missing argument leaves its parameter missing, as `$let` does.
                None => {}
                Some(Cow::Borrowed(value)) => bound.push((name.as_str(), *value)),
                Some(Cow::Owned(_)) => return None,
            }
        }
        if let Some(now) = now {
            bound.push((NOW, now));
        }
        Some(bound)
    }

    /// A call whose arguments are bound in a scope of their own: each is copied (and
    /// charged), and so is what the body finds.
    fn call_with_copies<'s>(
        &self,
        args: &[Arg<'_>],
        now: Option<&Value>,
    ) -> Result<Found<'s>, Message> {
        let mut scope = Map::with_capacity(self.params.len() + 1);
        for (name, arg) in self.params.iter().zip(args) {
            if let Some(value) = arg.value.as_deref() {
                budget::charge_copy(value).map_err(|e| e.message())?;
                scope.insert(name.clone(), value.clone());
            }
        }
        if let Some(now) = now {
            scope.insert(NOW.to_owned(), now.clone());
        }
        let scope = Value::Object(scope);
        let found = self
            .body
            .eval(&Frame::root(&scope))
            .map_err(|message| self.failed(&message))?;
        Ok(found.map(|value| Cow::Owned(value.into_owned())))
    }

    /// A failure inside the body, named as the call's.
    fn failed(&self, message: &str) -> Message {
        format!("in function `{}` at {}: {message}", self.name, self.expr_at)
    }
}

impl super::Compiler<'_> {
    /// Compiles a library function's body, with `scope` the functions it may call.
    pub(crate) fn function(
        &mut self,
        library: &str,
        def: &super::Definition,
        scope: Rc<Functions>,
    ) -> Option<Function> {
        // What it may call, read from its text as the cycle check reads it.
        let called = super::definitions::names_used(&def.body);
        let depth = 1 + scope
            .iter()
            .filter(|(name, _)| called.contains(*name))
            .map(|(_, f)| f.depth)
            .max()
            .unwrap_or(0);
        if depth > MAX_DEPTH {
            self.error(
                def.pos,
                format!(
                    "`{}` calls functions {depth} deep; at most {MAX_DEPTH} may nest",
                    def.name
                ),
            );
            return None;
        }
        let expr = in_scope(scope, || self.expr_at(&def.body, &def.path))?;
        Some(Function {
            depth,
            name: def.name.clone(),
            library: library.to_owned(),
            params: def.params.clone(),
            origin: format!("{}:{}", self.file, def.pos),
            expr_at: format!("{}:{}", self.file, self.locator.value(&def.path)),
            reads_names_only: expr.expression.program.reads_names_only(),
            body: expr.expression.program,
        })
    }
}
