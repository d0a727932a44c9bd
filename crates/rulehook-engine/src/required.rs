//! Required values a request left missing. A render fails on one only where something it
//! renders reads it (a leaf, a helper's argument, a `$forEach` or `$includeWhen`, a computed
//! value that is itself read), so a hook can guard the part that needs it with
//! `$includeWhen` and still answer without it.
//!
//! Values are evaluated before the templates, so a missing one is noted here for the render
//! on this thread, and the lookup of a top-level name that finds nothing asks here whether
//! that name is such a value. The failure is then reported as it always was: naming the
//! value, at the value's own place in the file.

use std::cell::RefCell;

use crate::locate::Pos;

/// A required value that is missing, and the failure reading it gives.
struct Missing {
    name: String,
    pos: Pos,
    message: String,
}

#[derive(Default)]
struct State {
    missing: Vec<Missing>,
    /// The failure of the last read of a missing value, until the render reports it.
    hit: Option<(Pos, String)>,
}

thread_local! {
    // Initialised in place: every top-level lookup of a plain path asks it.
    static STATE: RefCell<State> = const {
        RefCell::new(State {
            missing: Vec::new(),
            hit: None,
        })
    };
}

/// Forgets the render's missing values when dropped.
pub(crate) struct Installed(());

impl Drop for Installed {
    fn drop(&mut self) {
        STATE.with(|s| *s.borrow_mut() = State::default());
    }
}

/// Starts a render with no value missing.
pub(crate) fn install() -> Installed {
    STATE.with(|s| *s.borrow_mut() = State::default());
    Installed(())
}

/// Notes that the required value `name` is missing: reading it fails with `message` at `pos`.
pub(crate) fn mark(name: &str, pos: Pos, message: String) {
    STATE.with(|s| {
        s.borrow_mut().missing.push(Missing {
            name: name.to_owned(),
            pos,
            message,
        });
    });
}

/// Whether `name` is a required value this render is missing.
pub(crate) fn is_missing(name: &str) -> bool {
    STATE.with(|s| s.borrow().missing.iter().any(|m| m.name == name))
}

/// Reads the top-level name `name`, which the scope does not hold.
///
/// # Errors
///
/// When `name` is a missing required value: the message naming it.
pub(crate) fn read(name: &str) -> Result<(), String> {
    STATE.with(|s| {
        let mut state = s.borrow_mut();
        let Some(missing) = state.missing.iter().find(|m| m.name == name) else {
            return Ok(());
        };
        let (pos, message) = (missing.pos, missing.message.clone());
        state.hit = Some((pos, message.clone()));
        Err(message)
    })
}

/// The failure of a missing required value read since the last call, if one was.
pub(crate) fn take_hit() -> Option<(Pos, String)> {
    STATE.with(|s| s.borrow_mut().hit.take())
}

/// Whether a missing required value was read: the render then fails where handlebars, which
/// knows nothing of required values, would go on.
#[cfg(any(test, feature = "cross-check"))]
pub(crate) fn was_read() -> bool {
    STATE.with(|s| s.borrow().hit.is_some())
}
