//! Why a helper call failed. The render reports it as `<helper>: <this message>` at the
//! template's file and line; values quoted from the request are cut short first.

use serde_json::Value;

use crate::budget::Exceeded;
use crate::clip::clip;
use crate::json::type_name;

/// Argument indexes are zero-based here and one-based in messages, as users count them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HelperError {
    /// Building the result would pass a limit of the render.
    #[error("{}", .0.message())]
    Exceeded(Exceeded),
    #[error("argument {} is missing", .0 + 1)]
    Missing(usize),
    #[error("argument {} must be {expected}, not {found}", .index + 1)]
    WrongType {
        index: usize,
        expected: &'static str,
        found: &'static str,
    },
    #[error("argument {} must be a string", .0 + 1)]
    NotAString(usize),
    #[error("argument {} must be a whole number", .0 + 1)]
    NotAWholeNumberArgument(usize),
    /// A helper's own operand, such as `sort`'s field or `find`'s namespace.
    #[error("the {what} must be {expected}, not {found}")]
    Operand {
        what: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("cannot order {}", both(.first, .second))]
    CannotOrder {
        first: &'static str,
        second: &'static str,
    },
    #[error("cannot reverse a string, only a list or a map's values")]
    CannotReverseText,
    #[error("the base must be a whole number from 2 to 36, not {0}")]
    BadBase(String),
    #[error("`{text}` is not a whole number in base {base}")]
    NotInBase { text: String, base: u32 },
    #[error("cannot hash {0}; hash its JSON text with `toJson`")]
    CannotHash(&'static str),
    #[error("cannot search in {0}")]
    CannotSearchIn(&'static str),
    #[error("{0} has no length")]
    NoLength(&'static str),
    #[error(transparent)]
    Pattern(crate::pattern::PatternError),
    #[error("the group must be a whole number")]
    GroupNotWhole,
    #[error("the format ends in the middle of a `%` verb")]
    UnfinishedVerb,
    #[error("an argument is missing")]
    ArgumentMissing,
    #[error("`%{0}` has no argument")]
    VerbWithoutArgument(char),
    #[error("`%{verb}` needs {expected}, not {found}")]
    VerbNeeds {
        verb: char,
        expected: &'static str,
        found: &'static str,
    },
    #[error("a precision over {0} digits is not supported")]
    PrecisionTooLarge(usize),
    #[error("unknown verb `%{0}`; use %s, %v, %d, %x or %f")]
    UnknownVerb(char),
    #[error("more arguments than `%` verbs")]
    TooManyArguments,
    #[error("`{0}` is not a whole number")]
    NotAWholeNumber(String),
    #[error("cannot make a number of {0}")]
    CannotMakeNumber(&'static str),
    #[error("{0} overflows a 64-bit integer")]
    Overflow(&'static str),
    #[error("the result is not a finite number")]
    NotFinite,
    #[error("division by zero")]
    DivisionByZero,
    #[error("mod needs whole numbers")]
    ModNeedsWholeNumbers,
    #[error("needs key and value pairs")]
    OddPairs,
    #[error("a key is missing")]
    KeyMissing,
    #[error("a range of more than {0} numbers")]
    RangeTooLong(i64),
    /// Positions in a list count from 0, as `indexOf` and `$index` do.
    #[error("the item at index {index} is {found}, not a number")]
    NotANumberItem { index: usize, found: &'static str },
    #[error("not valid JSON: {reason} at line {line} column {column}")]
    BadJson {
        reason: String,
        line: usize,
        column: usize,
    },
    /// `fail`: the rule's own message, and nothing else.
    #[error("{0}")]
    Failed(String),
}

impl HelperError {
    pub(crate) fn wrong_type(index: usize, expected: &'static str, found: &Value) -> Self {
        HelperError::WrongType {
            index,
            expected,
            found: type_name(found),
        }
    }

    /// A JSON syntax error, by its position; serde_json's reasons quote none of the text.
    pub(crate) fn bad_json(e: &serde_json::Error) -> Self {
        let (line, column) = (e.line(), e.column());
        let text = e.to_string();
        let reason = text
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&text);
        HelperError::BadJson {
            reason: clip(reason).into_owned(),
            line,
            column,
        }
    }

    pub(crate) fn verb_needs(verb: char, expected: &'static str, found: &Value) -> Self {
        HelperError::VerbNeeds {
            verb,
            expected,
            found: type_name(found),
        }
    }
}

/// Two types as a message names them: "a number and a list", or "two lists".
fn both(first: &str, second: &str) -> String {
    match (first == second, first.strip_prefix("a ")) {
        (true, Some(kind)) => format!("two {kind}s"),
        _ => format!("{first} and {second}"),
    }
}

impl From<Exceeded> for HelperError {
    fn from(e: Exceeded) -> Self {
        HelperError::Exceeded(e)
    }
}

impl From<crate::pattern::PatternError> for HelperError {
    fn from(e: crate::pattern::PatternError) -> Self {
        match e {
            crate::pattern::PatternError::Exceeded(e) => HelperError::Exceeded(e),
            other => HelperError::Pattern(other),
        }
    }
}
