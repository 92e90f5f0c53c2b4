//! A restricted unpickler for CIFAR-10 python batches: the pickle machine's data opcodes
//! (protocols 2 to 5), with nothing ever imported or called.
//!
//! A GLOBAL is only a name; REDUCE of one keeps its arguments as an opaque call, except
//! `_codecs.encode(s, 'latin1')`, which Python 3 writes for bytes at protocol 2 and which
//! becomes the bytes. BUILD replaces an object by its state (a numpy array by
//! `(version, shape, dtype, fortran, raw bytes)`). Objects live in an arena addressed by
//! index, so the memo and DUP share instead of copying, cycles cost nothing and nothing
//! recurses; byte strings are borrowed from the input. The only copies (latin-1 decoding)
//! are charged to a budget proportional to the input, so memory stays bounded by it.

use std::borrow::Cow;
use std::collections::HashMap;

/// An object's index in the arena.
pub(crate) type Id = usize;

/// Bytes that may be copied per byte of input, beyond a fixed allowance.
const BUDGET_PER_BYTE: usize = 4;
const BUDGET_BASE: usize = 1 << 16;

/// A pickled object.
#[derive(Debug)]
pub(crate) enum Obj<'a> {
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond 64 bits.
    BigInt,
    Float,
    Bytes(Cow<'a, [u8]>),
    Str(&'a str),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set,
    /// A global name (a class or function, never resolved).
    Global {
        encode: bool,
    },
    /// The call of a global other than `_codecs.encode`: its argument tuple.
    Call(Id),
}

impl Obj<'_> {
    /// The kind of object, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::Bool(_) => "a bool",
            Obj::Int(_) => "an integer",
            Obj::BigInt => "an integer beyond 64 bits",
            Obj::Float => "a float",
            Obj::Bytes(_) | Obj::Str(_) => "a string",
            Obj::Tuple(_) | Obj::List(_) => "a sequence",
            Obj::Set => "a set",
            Obj::Dict(_) => "a dict",
            Obj::Global { .. } => "a class or function",
            Obj::Call(_) => "an object",
        }
    }
}

/// An unpickled object graph.
pub(crate) struct Pickle<'a> {
    objs: Vec<Obj<'a>>,
    top: Id,
}

impl<'a> Pickle<'a> {
    /// Runs the pickle to its STOP. Errors say what is wrong in words.
    pub fn parse(input: &'a [u8]) -> Result<Self, String> {
        let mut m = Machine {
            input,
            pos: 0,
            objs: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            budget: input
                .len()
                .saturating_mul(BUDGET_PER_BYTE)
                .saturating_add(BUDGET_BASE),
        };
        let top = m.run()?;
        if m.pos != input.len() {
            return Err(format!(
                "{} bytes follow the pickle's end",
                input.len() - m.pos
            ));
        }
        Ok(Pickle { objs: m.objs, top })
    }

    /// The pickled object.
    pub fn top(&self) -> Id {
        self.top
    }

    pub fn obj(&self, id: Id) -> &Obj<'a> {
        &self.objs[id]
    }

    /// The items of a tuple or list (the arguments of an opaque call count as a tuple).
    pub fn items(&self, id: Id) -> Option<&[Id]> {
        match &self.objs[id] {
            Obj::Tuple(v) | Obj::List(v) => Some(v),
            // REDUCE checked that the arguments are a tuple; tuples never change
            Obj::Call(args) => match &self.objs[*args] {
                Obj::Tuple(v) => Some(v),
                _ => None,
            },
            _ => None,
        }
    }

    /// The bytes of a byte string, or of a text string as UTF-8.
    pub fn bytes(&self, id: Id) -> Option<&[u8]> {
        match &self.objs[id] {
            Obj::Bytes(b) => Some(b),
            Obj::Str(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The value of `key` in a dict, looked up as a byte string (Python 2's `str`) first,
    /// then as a text string; the last entry wins, as in Python.
    pub fn dict_get(&self, dict: Id, key: &str) -> Option<Id> {
        let Obj::Dict(entries) = &self.objs[dict] else {
            return None;
        };
        let find = |bytes: bool| {
            entries
                .iter()
                .rev()
                .find_map(|&(k, v)| match &self.objs[k] {
                    Obj::Bytes(b) if bytes && **b == *key.as_bytes() => Some(v),
                    Obj::Str(s) if !bytes && *s == key => Some(v),
                    _ => None,
                })
        };
        find(true).or_else(|| find(false))
    }
}

/// The pickle machine's state.
struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    objs: Vec<Obj<'a>>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
    /// Bytes that may still be copied.
    budget: usize,
}

type Res<T> = Result<T, String>;

fn truncated<T>() -> Res<T> {
    Err("the pickle ends early (truncated?)".into())
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let input: &'a [u8] = self.input;
        match self.pos.checked_add(n).and_then(|e| input.get(self.pos..e)) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => truncated(),
        }
    }
    fn byte(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }
    fn le(&mut self, n: usize) -> Res<u64> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    }
    /// A length prefix of `n` bytes, then that many bytes.
    fn counted(&mut self, n: usize) -> Res<&'a [u8]> {
        let len = self.le(n)?;
        match usize::try_from(len) {
            Ok(l) if l <= self.input.len() - self.pos => self.take(l),
            _ => truncated(),
        }
    }
    fn line(&mut self) -> Res<&'a str> {
        let rest = &self.input[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return truncated();
        };
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| "a text line is not UTF-8".into())
    }
    fn text(b: &'a [u8]) -> Res<&'a str> {
        std::str::from_utf8(b).map_err(|_| "a text string is not UTF-8".into())
    }

    fn push(&mut self, o: Obj<'a>) {
        self.objs.push(o);
        self.stack.push(self.objs.len() - 1);
    }
    /// Pops one item, never below the last mark.
    fn pop(&mut self) -> Res<Id> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err("the pickle pops an empty stack".into());
        }
        self.stack
            .pop()
            .ok_or_else(|| "the pickle pops an empty stack".into())
    }
    fn top(&self) -> Res<Id> {
        let floor = self.marks.last().copied().unwrap_or(0);
        match self.stack.last() {
            Some(&id) if self.stack.len() > floor => Ok(id),
            _ => Err("the pickle reads an empty stack".into()),
        }
    }
    /// Pops everything above the last mark, and the mark.
    fn pop_mark(&mut self) -> Res<Vec<Id>> {
        match self.marks.pop() {
            Some(m) => Ok(self.stack.split_off(m)),
            None => Err("the pickle has no mark to pop to".into()),
        }
    }
    fn memo_put(&mut self, key: u64) -> Res<()> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }
    fn memo_get(&mut self, key: u64) -> Res<()> {
        match self.memo.get(&key) {
            Some(&id) => {
                self.stack.push(id);
                Ok(())
            }
            None => Err(format!("the pickle reads memo entry {key}, never written")),
        }
    }
    /// The container on top of the stack, to add to.
    fn top_mut(&mut self) -> Res<&mut Obj<'a>> {
        let id = self.top()?;
        Ok(&mut self.objs[id])
    }

    /// Runs opcodes to STOP and returns the result.
    fn run(&mut self) -> Res<Id> {
        loop {
            let at = self.pos;
            let op = self.byte()?;
            match op {
                0x80 => {
                    let proto = self.byte()?;
                    if proto > 5 {
                        return Err(format!("pickle protocol {proto} is newer than 5"));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let id = self.top()?;
                    self.stack.push(id);
                }
                // memo
                b'q' | b'r' | 0x94 | b'p' => {
                    let key = match op {
                        b'q' => self.le(1)?,
                        b'r' => self.le(4)?,
                        0x94 => self.memo.len() as u64,
                        _ => parse_int(self.line()?)? as u64,
                    };
                    self.memo_put(key)?;
                }
                b'h' | b'j' | b'g' => {
                    let key = match op {
                        b'h' => self.le(1)?,
                        b'j' => self.le(4)?,
                        _ => parse_int(self.line()?)? as u64,
                    };
                    self.memo_get(key)?;
                }
                // scalars
                b'N' => self.push(Obj::None),
                0x88 => self.push(Obj::Bool(true)),
                0x89 => self.push(Obj::Bool(false)),
                b'K' => {
                    let v = self.le(1)? as i64;
                    self.push(Obj::Int(v));
                }
                b'M' => {
                    let v = self.le(2)? as i64;
                    self.push(Obj::Int(v));
                }
                b'J' => {
                    let v = i64::from(self.le(4)? as u32 as i32);
                    self.push(Obj::Int(v));
                }
                0x8a | 0x8b => {
                    let b = if op == 0x8a {
                        let n = usize::from(self.byte()?);
                        self.take(n)?
                    } else {
                        self.counted(4)?
                    };
                    self.push(long(b));
                }
                b'I' => {
                    let o = match self.line()? {
                        "00" => Obj::Bool(false),
                        "01" => Obj::Bool(true),
                        s => Obj::Int(parse_int(s)?),
                    };
                    self.push(o);
                }
                b'L' => {
                    let s = self.line()?;
                    let o = match parse_int(s.strip_suffix('L').unwrap_or(s)) {
                        Ok(v) => Obj::Int(v),
                        Err(_) if is_integer(s.strip_suffix('L').unwrap_or(s)) => Obj::BigInt,
                        Err(e) => return Err(e),
                    };
                    self.push(o);
                }
                b'G' => {
                    self.take(8)?;
                    self.push(Obj::Float);
                }
                b'F' => {
                    self.line()?;
                    self.push(Obj::Float);
                }
                // strings
                b'U' | b'C' => {
                    let n = usize::from(self.byte()?);
                    let b = self.take(n)?;
                    self.push(Obj::Bytes(Cow::Borrowed(b)));
                }
                b'T' | b'B' | 0x8e | 0x96 => {
                    let b = self.counted(if op == b'T' || op == b'B' { 4 } else { 8 })?;
                    self.push(Obj::Bytes(Cow::Borrowed(b)));
                }
                0x8c => {
                    let n = usize::from(self.byte()?);
                    let s = Self::text(self.take(n)?)?;
                    self.push(Obj::Str(s));
                }
                b'X' | 0x8d => {
                    let s = Self::text(self.counted(if op == b'X' { 4 } else { 8 })?)?;
                    self.push(Obj::Str(s));
                }
                // containers
                b')' => self.push(Obj::Tuple(Vec::new())),
                b']' => self.push(Obj::List(Vec::new())),
                b'}' => self.push(Obj::Dict(Vec::new())),
                0x8f => self.push(Obj::Set),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = vec![0; n];
                    for slot in items.iter_mut().rev() {
                        *slot = self.pop()?;
                    }
                    self.push(Obj::Tuple(items));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::List(items));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(&items)?;
                    self.push(Obj::Dict(pairs));
                }
                0x91 => {
                    self.pop_mark()?;
                    self.push(Obj::Set);
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_mark()?
                    };
                    match self.top_mut()? {
                        Obj::List(v) => v.extend(items),
                        other => return Err(format!("the pickle appends to {}", other.kind())),
                    }
                }
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = self.pop()?;
                        let k = self.pop()?;
                        vec![(k, v)]
                    } else {
                        let items = self.pop_mark()?;
                        pairs(&items)?
                    };
                    match self.top_mut()? {
                        Obj::Dict(v) => v.extend(items),
                        other => {
                            return Err(format!("the pickle sets an item of {}", other.kind()));
                        }
                    }
                }
                0x90 => {
                    self.pop_mark()?;
                    match self.top_mut()? {
                        Obj::Set => {}
                        other => return Err(format!("the pickle adds to {}", other.kind())),
                    }
                }
                // globals and objects
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Obj::Str(module), Obj::Str(name)) = (&self.objs[module], &self.objs[name])
                    else {
                        return Err("STACK_GLOBAL needs two strings".into());
                    };
                    let g = global(module, name);
                    self.push(g);
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    self.reduce(f, args)?;
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args), kept as its arguments
                    let args = self.pop()?;
                    self.pop()?;
                    self.stack.push(args);
                }
                b'b' => {
                    // BUILD: the object is replaced by its state
                    let state = self.pop()?;
                    self.pop()?;
                    self.stack.push(state);
                }
                _ => {
                    return Err(format!(
                        "unsupported pickle opcode {op:#04x} at byte {at} (not part of a CIFAR-10 batch)"
                    ));
                }
            }
        }
    }

    /// REDUCE: `_codecs.encode(s, 'latin1')` becomes bytes; any other call is kept opaque.
    fn reduce(&mut self, f: Id, args: Id) -> Res<()> {
        let Obj::Tuple(a) = &self.objs[args] else {
            return Err(format!(
                "REDUCE arguments are {}, not a tuple",
                self.objs[args].kind()
            ));
        };
        match self.objs[f] {
            Obj::Global { encode: true } => {
                let (Some(&s), Some(&codec)) = (a.first(), a.get(1)) else {
                    return Err("_codecs.encode without a string and an encoding".into());
                };
                let (Obj::Str(s), Obj::Str(codec)) = (&self.objs[s], &self.objs[codec]) else {
                    return Err("_codecs.encode of something other than text".into());
                };
                if !matches!(*codec, "latin1" | "latin-1" | "iso-8859-1") {
                    return Err(format!("_codecs.encode to `{codec}`, not latin-1"));
                }
                let s: &'a str = s;
                // at most one byte per character: charged before the copy
                self.budget = self.budget.checked_sub(s.len()).ok_or(
                    "the pickle decodes more text than its size allows (not a CIFAR-10 batch)",
                )?;
                let bytes = s
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|_| "_codecs.encode of a character beyond latin-1".to_string())?;
                self.push(Obj::Bytes(Cow::Owned(bytes)));
            }
            Obj::Global { encode: false } => self.push(Obj::Call(args)),
            ref other => return Err(format!("the pickle calls {}", other.kind())),
        }
        Ok(())
    }
}

/// A global name: only `_codecs.encode` means anything here.
fn global<'a>(module: &str, name: &str) -> Obj<'a> {
    Obj::Global {
        encode: module == "_codecs" && name == "encode",
    }
}

/// Items above a mark as (key, value) pairs.
fn pairs(items: &[Id]) -> Res<Vec<(Id, Id)>> {
    if !items.len().is_multiple_of(2) {
        return Err("a dict is built from an odd number of items".into());
    }
    Ok(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

/// A little-endian two's-complement integer (LONG1/LONG4).
fn long<'a>(b: &[u8]) -> Obj<'a> {
    if b.len() > 8 {
        return Obj::BigInt;
    }
    let negative = b.last().is_some_and(|&x| x & 0x80 != 0);
    let mut buf = [if negative { 0xff } else { 0 }; 8];
    buf[..b.len()].copy_from_slice(b);
    Obj::Int(i64::from_le_bytes(buf))
}

fn parse_int(s: &str) -> Res<i64> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not an integer"))
}

fn is_integer(s: &str) -> bool {
    let s = s.trim();
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(p: &[u8]) -> String {
        match Pickle::parse(p) {
            Err(r) => r,
            Ok(_) => panic!("{p:?} parsed"),
        }
    }

    #[test]
    fn reads_a_dict_of_bytes_text_ints_and_an_encoded_string() {
        // {b'a': [1, -2, 300], 'b': _codecs.encode('\xe9x', 'latin1')}, protocol 2
        let p = b"\x80\x02}q\x00(U\x01aq\x01]q\x02(K\x01J\xfe\xff\xff\xffM,\x01eX\x01\x00\x00\x00bc_codecs\nencode\nq\x03X\x03\x00\x00\x00\xc3\xa9xX\x06\x00\x00\x00latin1\x86Ru.";
        let pk = Pickle::parse(p).unwrap();
        let a = pk.dict_get(pk.top(), "a").unwrap();
        let ints: Vec<_> = (pk.items(a).unwrap().iter())
            .map(|&i| match pk.obj(i) {
                Obj::Int(v) => *v,
                o => panic!("{o:?}"),
            })
            .collect();
        assert_eq!(ints, [1, -2, 300]);
        let b = pk.dict_get(pk.top(), "b").unwrap();
        assert_eq!(pk.bytes(b).unwrap(), b"\xe9x");
        assert!(pk.dict_get(pk.top(), "c").is_none());
    }

    #[test]
    fn malformed_pickles_are_errors() {
        assert!(refused(b"").contains("ends early"));
        assert!(refused(b"\x80\x02}").contains("ends early"));
        assert!(refused(b"\x80\x02.").contains("empty stack"));
        assert!(refused(b"\x80\x02(.").contains("empty stack"));
        assert!(refused(b"\x80\x02h\x07.").contains("memo"));
        assert!(refused(b"\x80\x02t.").contains("mark"));
        assert!(refused(b"\x80\x02X\xff\xff\xff\xff").contains("ends early"));
        assert!(refused(b"\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff").contains("ends early"));
        assert!(refused(b"\x80\x02K\x01K\x01a").contains("appends to an integer"));
        assert!(refused(b"\x80\x02\xff").contains("opcode 0xff"));
        assert!(refused(b"\x80\x02N.N").contains("follow"));
        assert!(refused(b"\x80\x06N.").contains("protocol 6"));
        assert!(refused(b"\x80\x02NNR.").contains("not a tuple"));
        assert!(refused(b"\x80\x02K\x01)R.").contains("calls an integer"));
    }

    #[test]
    fn longs_are_twos_complement_and_big_ones_are_named() {
        assert!(matches!(long(&[]), Obj::Int(0)));
        assert!(matches!(long(&[0xff]), Obj::Int(-1)));
        assert!(matches!(long(&[0x00, 0x01]), Obj::Int(256)));
        assert!(matches!(long(&[1; 9]), Obj::BigInt));
        let pk = Pickle::parse(b"L123456789012345678901234567890L\n.").unwrap();
        assert!(matches!(pk.obj(pk.top()), Obj::BigInt));
    }

    #[test]
    fn deep_nesting_and_cycles_cost_no_stack() {
        // a list nested 1,000,000 deep, and a list holding itself
        let n = 1_000_000;
        let mut p = b"\x80\x02".to_vec();
        p.extend(std::iter::repeat_n(b']', n));
        p.extend(std::iter::repeat_n(b'a', n - 1));
        p.push(b'.');
        let pk = Pickle::parse(&p).unwrap();
        assert_eq!(pk.items(pk.top()).unwrap().len(), 1);
        let pk = Pickle::parse(b"\x80\x02]q\x00h\x00a.").unwrap();
        assert_eq!(pk.items(pk.top()).unwrap(), [pk.top()]);
    }

    #[test]
    fn repeated_decoding_of_one_string_exhausts_the_budget() {
        // a 64 KB string, then 10,000 calls of _codecs.encode on it (kept in a list)
        let mut p = b"\x80\x02]q\x00c_codecs\nencode\nq\x010X\x00\x00\x01\x00".to_vec();
        p.extend([b'a'; 65536]);
        p.extend(b"q\x020X\x06\x00\x00\x00latin1q\x030");
        for _ in 0..10_000 {
            p.extend(b"h\x01h\x02h\x03\x86Ra");
        }
        p.push(b'.');
        let r = refused(&p);
        assert!(r.contains("more text than its size allows"), "{r}");
    }

    #[test]
    fn every_truncation_and_bit_flip_is_handled() {
        let p = b"\x80\x02}q\x00(U\x04dataq\x01cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nq\x02K\x00\x85U\x01b\x87Rq\x03(K\x01K\x02K\x03\x86U\x03abcN\x89U\x06abcdeftbU\x06labelsq\x04]q\x05(K\x01K\x02eu.";
        if let Err(e) = Pickle::parse(p) {
            panic!("{e}");
        }
        for cut in 0..p.len() {
            assert!(Pickle::parse(&p[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..p.len() {
            for bit in 0..8 {
                let mut d = p.to_vec();
                d[i] ^= 1 << bit;
                let _ = Pickle::parse(&d);
            }
        }
    }
}
