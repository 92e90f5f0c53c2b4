//! The objects of the arena. Containers hold ids, never objects, so sharing (memo, DUP)
//! and cycles copy nothing and dropping an arena never recurses.

use std::borrow::Cow;

/// An object's index in its [`Pickle`](crate::Pickle)'s arena.
pub type Id = usize;

/// One unpickled object. Strings borrow from the input unless an escape had to be decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Object<'a> {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer beyond 64 bits (its value is not kept).
    BigInt,
    /// A float.
    Float(f64),
    /// Python 3 `bytes`, `bytearray`, or Python 2 `str` (byte strings, as `encoding='bytes'`
    /// reads them).
    Bytes(Cow<'a, [u8]>),
    /// A text string (`str`, Python 2 `unicode`).
    Str(Cow<'a, str>),
    /// A tuple.
    Tuple(Vec<Id>),
    /// A list.
    List(Vec<Id>),
    /// A dict's (key, value) entries in the order set; a repeated key is kept twice (the
    /// last one is Python's value).
    Dict(Vec<(Id, Id)>),
    /// A set.
    Set(Vec<Id>),
    /// A frozenset.
    FrozenSet(Vec<Id>),
    /// A class or function named by GLOBAL, STACK_GLOBAL or INST: two [`Object::Str`] ids.
    /// Only a name: never imported, looked up or called.
    Global {
        /// The module, `collections`.
        module: Id,
        /// The name inside it, `OrderedDict`.
        name: Id,
    },
    /// PERSID / BINPERSID: the persistent id that Python would hand `persistent_load`.
    Persistent(Id),
    /// What a call would have returned (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ): recorded,
    /// never made.
    Call(Box<Call>),
}

/// How a call would have made its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `callee(*args)`: REDUCE, INST, OBJ.
    Reduce,
    /// `callee.__new__(callee, *args, **kwargs)`: NEWOBJ, NEWOBJ_EX.
    NewObj,
}

/// A call, never made, and what the pickle then did to its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// REDUCE-like or NEWOBJ-like.
    pub kind: CallKind,
    /// The function or class called: a [`Object::Global`] or another call's result.
    pub callee: Id,
    /// The positional arguments: a [`Object::Tuple`].
    pub args: Id,
    /// NEWOBJ_EX's keyword arguments: a [`Object::Dict`].
    pub kwargs: Option<Id>,
    /// Items appended (APPEND, APPENDS) or added (ADDITEMS) to the result, in order.
    pub items: Vec<Id>,
    /// Entries set (SETITEM, SETITEMS) on the result, in order.
    pub entries: Vec<(Id, Id)>,
    /// BUILD states given to the result (`__setstate__` or `__dict__.update`), in order.
    pub states: Vec<Id>,
}

impl Object<'_> {
    /// What the object is, in words for messages: "an integer", "a dict".
    pub fn kind(&self) -> &'static str {
        match self {
            Object::None => "None",
            Object::Bool(_) => "a bool",
            Object::Int(_) => "an integer",
            Object::BigInt => "an integer beyond 64 bits",
            Object::Float(_) => "a float",
            Object::Bytes(_) => "a byte string",
            Object::Str(_) => "a string",
            Object::Tuple(_) => "a tuple",
            Object::List(_) => "a list",
            Object::Dict(_) => "a dict",
            Object::Set(_) => "a set",
            Object::FrozenSet(_) => "a frozenset",
            Object::Global { .. } => "a class or function",
            Object::Persistent(_) => "a persistent id",
            Object::Call(_) => "an object",
        }
    }
}
