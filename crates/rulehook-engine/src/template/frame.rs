//! Where a compiled expression is evaluated: the blocks around it, innermost first, each
//! with the value it stands on, the variables it set and its block parameters.

use serde_json::Value;

/// What a function body's frame stands on: a name it reads is bound or missing.
static NOTHING: Value = Value::Null;

/// Where an expression is evaluated: the value the innermost block stands on, the variables
/// and parameters it set, and the blocks around it. The outermost frame stands on the
/// whole scope.
pub(super) struct Frame<'s> {
    pub(super) this: &'s Value,
    pub(super) locals: Locals<'s>,
    pub(super) params: BlockParams<'s>,
    pub(super) parent: Option<&'s Frame<'s>>,
    /// A function's arguments, by parameter name, read where the caller has them.
    pub(super) bound: Vec<(&'s str, &'s Value)>,
}

/// `@first`, `@last`, `@index` and `@key`, as `{{#each}}` sets them.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Locals<'s> {
    pub(super) first: Option<bool>,
    pub(super) last: Option<bool>,
    pub(super) index: Option<usize>,
    pub(super) key: Option<&'s str>,
}

impl Locals<'_> {
    pub(super) fn get(&self, name: &str) -> Option<Value> {
        match name {
            "first" => self.first.map(Value::Bool),
            "last" => self.last.map(Value::Bool),
            "index" => self.index.map(Value::from),
            "key" => self.key.map(Value::from),
            _ => None,
        }
    }
}

/// A block's `as |item key|` parameters.
#[derive(Default)]
pub(super) struct BlockParams<'s> {
    pub(super) item: Option<(&'s str, &'s Value)>,
    pub(super) key: Option<(&'s str, &'s Value)>,
}

impl<'s> Frame<'s> {
    pub(super) fn root(scope: &'s Value) -> Frame<'s> {
        Frame {
            this: scope,
            locals: Locals::default(),
            params: BlockParams::default(),
            parent: None,
            bound: Vec::new(),
        }
    }

    /// The frame a function body is evaluated in when its arguments are read in place:
    /// nothing but `bound` is in reach.
    pub(super) fn bound(bound: Vec<(&'s str, &'s Value)>) -> Frame<'s> {
        Frame {
            bound,
            ..Frame::root(&NOTHING)
        }
    }

    /// The frame `depth` blocks out; handlebars falls back to the innermost one when there
    /// are fewer blocks.
    pub(super) fn up(&self, depth: usize) -> &Frame<'s> {
        self.level(depth).unwrap_or(self)
    }

    pub(super) fn level(&self, level: usize) -> Option<&Frame<'s>> {
        let mut frame = self;
        for _ in 0..level {
            frame = frame.parent?;
        }
        Some(frame)
    }

    pub(super) fn outermost(&self) -> &Frame<'s> {
        let mut frame = self;
        while let Some(parent) = frame.parent {
            frame = parent;
        }
        frame
    }

    /// The value of the block parameter `name` of the innermost block that has one; a key
    /// parameter wins over an item parameter of the same name, as in handlebars' map.
    pub(super) fn block_param(&self, name: &str) -> Option<&'s Value> {
        let mut frame = Some(self);
        while let Some(f) = frame {
            if let Some((_, key)) = f.params.key.filter(|(n, _)| *n == name) {
                return Some(key);
            }
            if let Some((_, item)) = f.params.item.filter(|(n, _)| *n == name) {
                return Some(item);
            }
            if let Some((_, value)) = f.bound.iter().find(|(n, _)| *n == name) {
                return Some(value);
            }
            frame = f.parent;
        }
        None
    }
}
