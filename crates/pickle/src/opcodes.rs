//! The opcodes of pickle protocols 0 to 5, run as CPython's `Unpickler` runs them, except that
//! a global is only a name and a call is only recorded. Names are `pickletools`'.

use std::borrow::Cow;

use crate::error::{PickleError, Result};
use crate::machine::{ID, Machine};
use crate::object::{Call, CallKind, Id, Object};
use crate::text;

impl<'a> Machine<'a> {
    /// Runs opcodes to STOP and returns the pickled object.
    pub fn run(&mut self) -> Result<Id> {
        loop {
            self.at = self.pos;
            let op = self.byte()?;
            if op == b'.' {
                return self.pop(); // STOP
            }
            self.step(op)?;
        }
    }

    fn step(&mut self, op: u8) -> Result<()> {
        match op {
            // protocol and framing
            0x80 => {
                let protocol = self.byte()?;
                if protocol > 5 {
                    return Err(PickleError::Protocol { protocol });
                }
            }
            0x95 => {
                // FRAME: a length hint; the frame must be there
                let n = self.le(8)?;
                if n > self.remaining() as u64 {
                    return Err(PickleError::Truncated { at: self.at });
                }
            }
            // stack
            b'(' => self.mark()?,
            b'0' => {
                // POP: the top item, or the mark when nothing is above it (as CPython)
                if self.above_mark_empty() && self.has_mark() {
                    self.pop_mark()?;
                } else {
                    self.pop()?;
                }
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let id = self.top()?;
                self.push_id(id)?;
            }
            // memo
            b'p' | b'q' | b'r' | 0x94 => {
                let key = match op {
                    b'p' => self.key_line()?,
                    b'q' => self.le(1)?,
                    b'r' => self.le(4)?,
                    _ => self.memo_len(),
                };
                self.memo_put(key)?;
            }
            b'g' | b'h' | b'j' => {
                let key = match op {
                    b'g' => self.key_line()?,
                    b'h' => self.le(1)?,
                    _ => self.le(4)?,
                };
                self.memo_get(key)?;
            }
            // scalars
            b'N' => self.push(Object::None)?,
            0x88 => self.push(Object::Bool(true))?,
            0x89 => self.push(Object::Bool(false))?,
            b'K' => {
                let v = self.le(1)? as i64;
                self.push(Object::Int(v))?;
            }
            b'M' => {
                let v = self.le(2)? as i64;
                self.push(Object::Int(v))?;
            }
            b'J' => {
                let v = i64::from(self.le(4)? as u32 as i32);
                self.push(Object::Int(v))?;
            }
            0x8a | 0x8b => {
                let b = self.counted(if op == 0x8a { 1 } else { 4 })?;
                self.push(text::long(b))?;
            }
            b'I' | b'L' => {
                let line = self.text_line()?;
                let o = match line {
                    "00" if op == b'I' => Some(Object::Bool(false)),
                    "01" if op == b'I' => Some(Object::Bool(true)),
                    s if op == b'L' => text::int(s.strip_suffix('L').unwrap_or(s)),
                    s => text::int(s),
                };
                let Some(o) = o else {
                    return self.bad(format!("`{line}` is not an integer"));
                };
                self.push(o)?;
            }
            b'F' => {
                let line = self.text_line()?;
                let Ok(v) = line.trim().parse() else {
                    return self.bad(format!("`{line}` is not a float"));
                };
                self.push(Object::Float(v))?;
            }
            b'G' => {
                let b = self.take(8)?;
                let v = f64::from_be_bytes(b.try_into().unwrap_or_default());
                self.push(Object::Float(v))?;
            }
            // byte strings
            b'U' | b'C' => self.bytes(1)?,
            b'T' | b'B' => self.bytes(4)?,
            0x8e | 0x96 => self.bytes(8)?,
            b'S' => {
                let line = self.line()?;
                let b = text::string_literal(line).or_else(|r| self.bad(r))?;
                if let Cow::Owned(v) = &b {
                    self.charge(v.len())?;
                }
                self.push(Object::Bytes(b))?;
            }
            // text strings
            0x8c => self.text(1)?,
            b'X' => self.text(4)?,
            0x8d => self.text(8)?,
            b'V' => {
                let line = self.line()?;
                let s = text::raw_unicode(line).or_else(|r| self.bad(r))?;
                if let Cow::Owned(s) = &s {
                    self.charge(s.len())?;
                }
                self.push(Object::Str(s))?;
            }
            // containers
            b')' => self.push(Object::Tuple(Vec::new()))?,
            b']' => self.push(Object::List(Vec::new()))?,
            b'}' => self.push(Object::Dict(Vec::new()))?,
            0x8f => self.push(Object::Set(Vec::new()))?,
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let mut items = vec![0; n];
                for slot in items.iter_mut().rev() {
                    *slot = self.pop()?;
                }
                self.charge(n * ID)?;
                self.push(Object::Tuple(items))?;
            }
            b't' | b'l' | b'd' | 0x91 => {
                let items = self.pop_mark()?;
                let o = match op {
                    b't' => Object::Tuple(items),
                    b'l' => Object::List(items),
                    b'd' => Object::Dict(self.pairs(&items)?),
                    _ => Object::FrozenSet(items),
                };
                self.push(o)?;
            }
            b'a' | b'e' | 0x90 => {
                let items = if op == b'a' {
                    vec![self.pop()?]
                } else {
                    self.pop_mark()?
                };
                self.extend(op, items)?;
            }
            b's' | b'u' => {
                let entries = if op == b's' {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    vec![(k, v)]
                } else {
                    let items = self.pop_mark()?;
                    self.pairs(&items)?
                };
                self.set_items(entries)?;
            }
            // names, persistent ids, calls
            b'c' | b'i' => {
                let module = self.text_line()?;
                let name = self.text_line()?;
                let module = self.add(Object::Str(Cow::Borrowed(module)))?;
                let name = self.add(Object::Str(Cow::Borrowed(name)))?;
                let global = self.add(Object::Global { module, name })?;
                if op == b'c' {
                    self.push_id(global)?;
                } else {
                    // INST: the class called on the items above the mark
                    let items = self.pop_mark()?;
                    let args = self.add(Object::Tuple(items))?;
                    self.call(CallKind::Reduce, global, args, None)?;
                }
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let strings = (&self.objs[module], &self.objs[name]);
                if !matches!(strings, (Object::Str(_), Object::Str(_))) {
                    return self.bad("STACK_GLOBAL needs two strings");
                }
                self.push(Object::Global { module, name })?;
            }
            b'o' => {
                // OBJ: the first item above the mark called on the others
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return self.bad("OBJ without a class");
                }
                let class = items.remove(0);
                let args = self.add(Object::Tuple(items))?;
                self.call(CallKind::Reduce, class, args, None)?;
            }
            b'P' => {
                let pid = self.text_line()?;
                let pid = self.add(Object::Str(Cow::Borrowed(pid)))?;
                self.push(Object::Persistent(pid))?;
            }
            b'Q' => {
                let pid = self.pop()?;
                self.push(Object::Persistent(pid))?;
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let callee = self.pop()?;
                let kind = if op == b'R' {
                    CallKind::Reduce
                } else {
                    CallKind::NewObj
                };
                self.call(kind, callee, args, None)?;
            }
            0x92 => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let callee = self.pop()?;
                if !matches!(self.objs[kwargs], Object::Dict(_)) {
                    return self.bad("NEWOBJ_EX's keyword arguments are not a dict");
                }
                self.call(CallKind::NewObj, callee, args, Some(kwargs))?;
            }
            b'b' => {
                let state = self.pop()?;
                let target = self.top()?;
                self.charge(ID)?;
                match &mut self.objs[target] {
                    Object::Call(c) => c.states.push(state),
                    other => {
                        let reason = format!("the pickle sets the state of {}", other.kind());
                        return self.bad(reason);
                    }
                }
            }
            // what needs more than the file
            0x82..=0x84 => return self.refused(op, "it names an object by the copyreg registry"),
            0x97 | 0x98 => return self.refused(op, "out-of-band buffers are not in the file"),
            _ => return Err(PickleError::UnknownOpcode { op, at: self.at }),
        }
        Ok(())
    }

    /// A byte string with a length prefix of `n` bytes, borrowed from the input.
    fn bytes(&mut self, n: usize) -> Result<()> {
        let b = self.counted(n)?;
        self.push(Object::Bytes(Cow::Borrowed(b)))
    }

    /// A UTF-8 string with a length prefix of `n` bytes, borrowed from the input.
    fn text(&mut self, n: usize) -> Result<()> {
        let b = self.counted(n)?;
        let s = std::str::from_utf8(b).or_else(|_| self.bad("a text string is not UTF-8"))?;
        self.push(Object::Str(Cow::Borrowed(s)))
    }

    /// A memo key written as a decimal line (PUT, GET).
    fn key_line(&mut self) -> Result<u64> {
        let line = self.text_line()?;
        match line.trim().parse() {
            Ok(k) => Ok(k),
            Err(_) => self.bad(format!("`{line}` is not a memo key")),
        }
    }

    /// Items above a mark as (key, value) pairs.
    fn pairs(&mut self, items: &[Id]) -> Result<Vec<(Id, Id)>> {
        if !items.len().is_multiple_of(2) {
            return self.bad("a dict is built from an odd number of items");
        }
        self.charge(items.len() * ID)?;
        Ok(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
    }

    /// APPEND, APPENDS, ADDITEMS: items added to the container on top of the stack.
    fn extend(&mut self, op: u8, items: Vec<Id>) -> Result<()> {
        let target = self.top()?;
        self.charge(items.len() * ID)?;
        match (&mut self.objs[target], op) {
            (Object::List(v), b'a' | b'e') | (Object::Set(v), 0x90) => v.extend(items),
            (Object::Call(c), _) => c.items.extend(items),
            (other, _) => {
                let verb = if op == 0x90 { "adds to" } else { "appends to" };
                let reason = format!("the pickle {verb} {}", other.kind());
                return self.bad(reason);
            }
        }
        Ok(())
    }

    /// SETITEM, SETITEMS: entries set on the container on top of the stack.
    fn set_items(&mut self, entries: Vec<(Id, Id)>) -> Result<()> {
        let target = self.top()?;
        self.charge(entries.len() * 2 * ID)?;
        match &mut self.objs[target] {
            Object::Dict(v) => v.extend(entries),
            Object::Call(c) => c.entries.extend(entries),
            other => {
                let reason = format!("the pickle sets an item of {}", other.kind());
                return self.bad(reason);
            }
        }
        Ok(())
    }

    /// Records a call of a class or function on a tuple, and pushes its result.
    fn call(&mut self, kind: CallKind, callee: Id, args: Id, kwargs: Option<Id>) -> Result<()> {
        let callee_kind = &self.objs[callee];
        if !matches!(callee_kind, Object::Global { .. } | Object::Call(_)) {
            let reason = format!("the pickle calls {}", callee_kind.kind());
            return self.bad(reason);
        }
        if !matches!(self.objs[args], Object::Tuple(_)) {
            let reason = format!(
                "a call's arguments are {}, not a tuple",
                self.objs[args].kind()
            );
            return self.bad(reason);
        }
        self.push(Object::Call(Box::new(Call {
            kind,
            callee,
            args,
            kwargs,
            items: Vec::new(),
            entries: Vec::new(),
            states: Vec::new(),
        })))
    }

    fn refused<T>(&self, op: u8, why: &'static str) -> Result<T> {
        let name = match op {
            0x82 => "EXT1",
            0x83 => "EXT2",
            0x84 => "EXT4",
            0x97 => "NEXT_BUFFER",
            _ => "READONLY_BUFFER",
        };
        Err(PickleError::Refused {
            name,
            at: self.at,
            why,
        })
    }
}
