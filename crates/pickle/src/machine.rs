//! The pickle machine's state (the input, the stack and its marks, the memo, the arena) and
//! its primitives. Every byte of memory the arena, stack, marks and memo take is charged to a
//! budget first, so no input builds more than its budget allows.

use std::collections::HashMap;

use crate::error::{PickleError, Result};
use crate::object::{Id, Object};

/// The bytes one id takes (in a container, on the stack, as a mark).
pub(crate) const ID: usize = size_of::<Id>();
/// What a memo entry is charged (key, id, the table's overhead).
const MEMO_ENTRY: usize = 32;

pub(crate) struct Machine<'a> {
    input: &'a [u8],
    /// The next byte to read.
    pub pos: usize,
    /// Where the opcode being run starts (errors name it).
    pub at: usize,
    pub objs: Vec<Object<'a>>,
    stack: Vec<Id>,
    /// The stack's length at each MARK still open.
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
    /// Bytes that may still be charged.
    left: usize,
    limit: usize,
}

impl<'a> Machine<'a> {
    pub fn new(input: &'a [u8], limit: usize) -> Self {
        Machine {
            input,
            pos: 0,
            at: 0,
            objs: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            left: limit,
            limit,
        }
    }

    /// A malformed-opcode error at the current opcode.
    pub fn bad<T>(&self, reason: impl Into<String>) -> Result<T> {
        Err(PickleError::Malformed {
            at: self.at,
            reason: reason.into(),
        })
    }

    /// Charges `bytes` of memory to the budget, before they are taken.
    pub fn charge(&mut self, bytes: usize) -> Result<()> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(PickleError::Budget {
                limit: self.limit,
                at: self.at,
            }),
        }
    }

    // -- reading the input

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let input: &'a [u8] = self.input;
        let end = self.pos.checked_add(n).filter(|&e| e <= input.len());
        match end {
            Some(end) => {
                let b = &input[self.pos..end];
                self.pos = end;
                Ok(b)
            }
            None => Err(PickleError::Truncated { at: self.at }),
        }
    }
    pub fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    /// An unsigned little-endian integer of `n` bytes (n <= 8).
    pub fn le(&mut self, n: usize) -> Result<u64> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    }
    /// A length of `n` bytes that must fit in what is left of the input.
    pub fn len(&mut self, n: usize) -> Result<usize> {
        let len = self.le(n)?;
        match usize::try_from(len) {
            Ok(l) if l <= self.input.len() - self.pos => Ok(l),
            _ => Err(PickleError::Truncated { at: self.at }),
        }
    }
    /// A length prefix of `n` bytes, then that many bytes.
    pub fn counted(&mut self, n: usize) -> Result<&'a [u8]> {
        let len = self.len(n)?;
        self.take(len)
    }
    /// The bytes up to the next newline (which is consumed, not returned).
    pub fn line(&mut self) -> Result<&'a [u8]> {
        let input: &'a [u8] = self.input;
        let rest = &input[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return Err(PickleError::Truncated { at: self.at });
        };
        self.pos += n + 1;
        Ok(&rest[..n])
    }
    /// A line of UTF-8 text.
    pub fn text_line(&mut self) -> Result<&'a str> {
        let line = self.line()?;
        std::str::from_utf8(line).or_else(|_| self.bad("a text line is not UTF-8"))
    }

    // -- the arena and the stack

    /// Adds an object to the arena (not to the stack).
    pub fn add(&mut self, o: Object<'a>) -> Result<Id> {
        let extra = match &o {
            Object::Call(_) => size_of::<crate::Call>(),
            _ => 0,
        };
        self.charge(size_of::<Object>() + extra)?;
        self.objs.push(o);
        Ok(self.objs.len() - 1)
    }
    /// Adds an object and pushes it.
    pub fn push(&mut self, o: Object<'a>) -> Result<()> {
        let id = self.add(o)?;
        self.push_id(id)
    }
    pub fn push_id(&mut self, id: Id) -> Result<()> {
        self.charge(ID)?;
        self.stack.push(id);
        Ok(())
    }
    /// The stack's bottom for pops: the last open mark.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }
    /// Pops one item, never below the last mark.
    pub fn pop(&mut self) -> Result<Id> {
        match self.stack.last() {
            Some(&id) if self.stack.len() > self.floor() => {
                self.stack.pop();
                Ok(id)
            }
            _ => self.bad("the pickle pops an empty stack"),
        }
    }
    /// The top item, never below the last mark.
    pub fn top(&self) -> Result<Id> {
        match self.stack.last() {
            Some(&id) if self.stack.len() > self.floor() => Ok(id),
            _ => self.bad("the pickle reads an empty stack"),
        }
    }
    /// Whether the stack holds nothing above the last mark.
    pub fn above_mark_empty(&self) -> bool {
        self.stack.len() <= self.floor()
    }
    pub fn mark(&mut self) -> Result<()> {
        self.charge(ID)?;
        self.marks.push(self.stack.len());
        Ok(())
    }
    /// Pops everything above the last mark, and the mark.
    pub fn pop_mark(&mut self) -> Result<Vec<Id>> {
        let Some(m) = self.marks.pop() else {
            return self.bad("the pickle has no mark to pop to");
        };
        let items = self.stack.split_off(m);
        self.charge(items.len() * ID)?;
        Ok(items)
    }
    /// Whether a mark is open.
    pub fn has_mark(&self) -> bool {
        !self.marks.is_empty()
    }

    // -- the memo

    pub fn memo_len(&self) -> u64 {
        self.memo.len() as u64
    }
    /// Remembers the top item under `key`.
    pub fn memo_put(&mut self, key: u64) -> Result<()> {
        let id = self.top()?;
        self.charge(MEMO_ENTRY)?;
        self.memo.insert(key, id);
        Ok(())
    }
    /// Pushes the item remembered under `key`.
    pub fn memo_get(&mut self, key: u64) -> Result<()> {
        match self.memo.get(&key) {
            Some(&id) => self.push_id(id),
            None => self.bad(format!("the pickle reads memo entry {key}, never written")),
        }
    }

    /// The input left after the position.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }
}
