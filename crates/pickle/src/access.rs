//! Reading the arena: typed views of one object at a time, and the idioms Python writes for
//! bytes (`_codecs.encode(text, 'latin1')` at protocols 0 to 2).

use std::borrow::Cow;

use crate::Pickle;
use crate::object::{Call, CallKind, Id, Object};

/// The encodings `_codecs.encode` may name for bytes (Python writes `latin1`).
const LATIN1: [&str; 4] = ["latin1", "latin-1", "iso-8859-1", "iso8859-1"];

impl<'a> Pickle<'a> {
    /// The pickled object (what STOP returned).
    pub fn top(&self) -> Id {
        self.top
    }

    /// How many objects the arena holds.
    pub fn len(&self) -> usize {
        self.objs.len()
    }

    /// Whether the arena is empty (never, for a parsed pickle).
    pub fn is_empty(&self) -> bool {
        self.objs.is_empty()
    }

    /// The object `id` names. Ids come from this pickle's objects (an id of another pickle
    /// is a bug of the caller and panics).
    pub fn get(&self, id: Id) -> &Object<'a> {
        &self.objs[id]
    }

    /// What the object is, in words for messages.
    pub fn kind(&self, id: Id) -> &'static str {
        self.get(id).kind()
    }

    /// An integer that fits in 64 bits (a bool counts, as in Python).
    pub fn int(&self, id: Id) -> Option<i64> {
        match *self.get(id) {
            Object::Int(v) => Some(v),
            Object::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }

    /// A text string.
    pub fn str(&self, id: Id) -> Option<&str> {
        match self.get(id) {
            Object::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A tuple's items.
    pub fn tuple(&self, id: Id) -> Option<&[Id]> {
        match self.get(id) {
            Object::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// A list's items.
    pub fn list(&self, id: Id) -> Option<&[Id]> {
        match self.get(id) {
            Object::List(v) => Some(v),
            _ => None,
        }
    }

    /// A dict's (key, value) entries, in the order they were set.
    pub fn dict(&self, id: Id) -> Option<&[(Id, Id)]> {
        match self.get(id) {
            Object::Dict(v) => Some(v),
            _ => None,
        }
    }

    /// A global's `(module, name)`.
    pub fn global(&self, id: Id) -> Option<(&str, &str)> {
        match *self.get(id) {
            Object::Global { module, name } => Some((self.str(module)?, self.str(name)?)),
            _ => None,
        }
    }

    /// Every global the pickle names, in the order it named them (with repeats).
    pub fn globals(&self) -> impl Iterator<Item = (&str, &str)> {
        (0..self.len()).filter_map(|id| self.global(id))
    }

    /// A call's record.
    pub fn call(&self, id: Id) -> Option<&Call> {
        match self.get(id) {
            Object::Call(c) => Some(c),
            _ => None,
        }
    }

    /// The `(module, name)` of the global a call calls (`None` for anything else).
    pub fn callee(&self, id: Id) -> Option<(&str, &str)> {
        self.global(self.call(id)?.callee)
    }

    /// The last BUILD state given to a call's result.
    pub fn state(&self, id: Id) -> Option<Id> {
        self.call(id)?.states.last().copied()
    }

    /// What a persistent id object wraps.
    pub fn persistent(&self, id: Id) -> Option<Id> {
        match *self.get(id) {
            Object::Persistent(pid) => Some(pid),
            _ => None,
        }
    }

    /// A byte string: [`Object::Bytes`], or bytes as Python writes them at protocols 0 to 2
    /// (`_codecs.encode(text, 'latin1')`, `bytes()` for empty ones), decoded, which copies.
    /// A caller that follows shared ids must bound the copies it makes.
    pub fn bytes(&self, id: Id) -> Option<Cow<'_, [u8]>> {
        if let Object::Bytes(b) = self.get(id) {
            return Some(Cow::Borrowed(b));
        }
        match self.encoded(id)? {
            Encoded::Latin1(s) => s
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<Vec<u8>>>()
                .map(Cow::Owned),
            Encoded::Empty => Some(Cow::Borrowed(&[])),
        }
    }

    /// Whether the object is the byte string `want` (as [`Pickle::bytes`] reads it), without
    /// copying it.
    pub fn bytes_eq(&self, id: Id, want: &[u8]) -> bool {
        if let Object::Bytes(b) = self.get(id) {
            return **b == *want;
        }
        match self.encoded(id) {
            // stops at the first difference
            Some(Encoded::Latin1(s)) => s.chars().map(u32::from).eq(want.iter().map(|&b| b.into())),
            Some(Encoded::Empty) => want.is_empty(),
            None => false,
        }
    }

    /// The value of `key` in a dict, looked up as a byte string (Python 2's `str`) first,
    /// then as a text string; the last entry wins, as in Python.
    pub fn dict_get(&self, dict: Id, key: &str) -> Option<Id> {
        let entries = self.dict(dict)?;
        let as_bytes = entries
            .iter()
            .rev()
            .find(|e| self.bytes_eq(e.0, key.as_bytes()));
        let as_text = || entries.iter().rev().find(|e| self.str(e.0) == Some(key));
        as_bytes.or_else(as_text).map(|e| e.1)
    }

    /// The text of an encoded byte string, when the object is one.
    fn encoded(&self, id: Id) -> Option<Encoded<'_>> {
        let call = self.call(id).filter(|c| c.kind == CallKind::Reduce)?;
        let args = self.tuple(call.args)?;
        match (self.callee(id)?, args) {
            (("_codecs", "encode"), &[text, codec]) => {
                let codec = self.str(codec)?;
                LATIN1
                    .contains(&codec)
                    .then(|| Some(Encoded::Latin1(self.str(text)?)))?
            }
            (("builtins" | "__builtin__", "bytes"), []) => Some(Encoded::Empty),
            _ => None,
        }
    }
}

/// Bytes written as a call.
enum Encoded<'p> {
    /// `_codecs.encode(text, 'latin1')`.
    Latin1(&'p str),
    /// `bytes()`.
    Empty,
}
