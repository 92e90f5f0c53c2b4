//! A restricted unpickler for the `data.pkl` of a `torch.save` archive: just enough of the
//! pickle machine for a state dict (a dict of tensors over persistent-id storages).
//!
//! Nothing is ever called or imported: a GLOBAL is looked up in a short allow-list of
//! names (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and
//! `_rebuild_parameter`, torch storage types and dtypes) and anything else is refused.
//! Objects live in an arena addressed by index, so sharing (memo, DUP) copies nothing and
//! cycles cost nothing; what is copied out (names, storage keys, shapes) is charged to a
//! budget proportional to the pickle's length, so memory stays bounded by the input.

use std::collections::HashMap;

use super::dtype::ElemType;

/// Why a pickle was refused.
#[derive(Debug)]
pub(crate) enum PickleError {
    /// Malformed, unsupported or not a state dict.
    Format(String),
    /// A global outside the allow-list.
    Forbidden { module: String, name: String },
}

fn bad<T>(reason: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError::Format(reason.into()))
}

/// A storage a tensor points at: `data/<key>` holding `numel` elements of `elem`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StorageRef {
    pub key: String,
    /// The element type, or the torch name of one Kiln does not know.
    pub elem: Result<ElemType, String>,
    pub numel: u64,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub size: Vec<u64>,
    pub stride: Vec<u64>,
}

/// The allow-listed things a GLOBAL may name.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
}

type Id = usize;

/// The most dimensions a tensor may have.
const MAX_RANK: usize = 64;
/// Bytes of copied-out data allowed per byte of pickle (a real state dict needs about 4:
/// a dimension costs 2 bytes inline and 16 copied).
const BUDGET_PER_BYTE: usize = 16;

#[derive(Debug)]
enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float,
    Str(String),
    Bytes,
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Callable(Global),
    /// `torch.FloatStorage`, `torch.float32`, ...
    StorageType(Result<ElemType, String>),
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Obj {
    fn kind(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::Bool(_) => "a bool",
            Obj::Int(_) => "an int",
            Obj::Float => "a float",
            Obj::Str(_) => "a string",
            Obj::Bytes => "bytes",
            Obj::Tuple(_) => "a tuple",
            Obj::List(_) => "a list",
            Obj::Dict(_) => "a dict",
            Obj::Callable(_) => "a function",
            Obj::StorageType(_) => "a dtype",
            Obj::Storage(_) => "a storage",
            Obj::Tensor(_) => "a tensor",
        }
    }
}

/// Looks a GLOBAL up in the allow-list.
fn global(module: &str, name: &str) -> Result<Obj, PickleError> {
    let elem = |e| Ok(Obj::StorageType(Ok(e)));
    match (module, name) {
        ("collections", "OrderedDict") => Ok(Obj::Callable(Global::OrderedDict)),
        ("torch._utils", "_rebuild_tensor_v2") => Ok(Obj::Callable(Global::RebuildTensor)),
        ("torch._utils", "_rebuild_parameter") => Ok(Obj::Callable(Global::RebuildParameter)),
        ("torch", "FloatStorage" | "float32" | "float") => elem(ElemType::F32),
        ("torch", "DoubleStorage" | "float64" | "double") => elem(ElemType::F64),
        ("torch", "HalfStorage" | "float16" | "half") => elem(ElemType::F16),
        ("torch", "BFloat16Storage" | "bfloat16") => elem(ElemType::BF16),
        ("torch", "LongStorage" | "int64" | "long") => elem(ElemType::I64),
        ("torch", "IntStorage" | "int32" | "int") => elem(ElemType::I32),
        ("torch", "ShortStorage" | "int16" | "short") => elem(ElemType::I16),
        ("torch", "CharStorage" | "int8") => elem(ElemType::I8),
        ("torch", "ByteStorage" | "uint8") => elem(ElemType::U8),
        ("torch", "BoolStorage" | "bool") => elem(ElemType::Bool),
        // other storage types (complex, quantised): data, named in the dtype error
        ("torch", n) if n.ends_with("Storage") && n.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Ok(Obj::StorageType(Err(n.to_string())))
        }
        _ => Err(PickleError::Forbidden {
            module: module.to_string(),
            name: name.to_string(),
        }),
    }
}

/// The pickle machine's state.
struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    objs: Vec<Obj>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
    /// Bytes that may still be copied out of the arena.
    budget: usize,
}

/// Unpickles a state dict: its (name, tensor) entries in order.
pub(crate) fn state_dict(input: &[u8]) -> Result<Vec<(String, TensorRef)>, PickleError> {
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
            .saturating_add(4096),
    };
    let top = m.run()?;
    m.entries(top)
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let input: &'a [u8] = self.input;
        match self
            .pos
            .checked_add(n)
            .and_then(|end| input.get(self.pos..end))
        {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => bad("the pickle ends early (truncated?)"),
        }
    }
    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn le(&mut self, n: usize) -> Result<u64, PickleError> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    }
    fn len(&mut self, n: usize) -> Result<usize, PickleError> {
        let v = self.le(n)?;
        // a length can never exceed what is left of the input
        match usize::try_from(v) {
            Ok(l) if l <= self.input.len() - self.pos => Ok(l),
            _ => bad("a length runs past the end of the pickle (truncated?)"),
        }
    }
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.input[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return bad("the pickle ends inside a text line (truncated?)");
        };
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).or_else(|_| bad("a text line of the pickle is not UTF-8"))
    }
    fn string(&mut self, n: usize) -> Result<String, PickleError> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).or_else(|_| bad("a string of the pickle is not UTF-8"))
    }

    /// Charges `n` copied bytes to the budget.
    fn charge(&mut self, n: usize) -> Result<(), PickleError> {
        match self.budget.checked_sub(n) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => bad("the pickle refers to the same data too many times (not a state dict)"),
        }
    }

    fn push(&mut self, o: Obj) {
        self.objs.push(o);
        self.stack.push(self.objs.len() - 1);
    }
    /// Pops one item, never below the last mark.
    fn pop(&mut self) -> Result<Id, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return bad("the pickle pops an empty stack");
        }
        Ok(self.stack.pop().unwrap_or_default())
    }
    fn top(&self) -> Result<Id, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        match self.stack.last() {
            Some(&id) if self.stack.len() > floor => Ok(id),
            _ => bad("the pickle reads an empty stack"),
        }
    }
    /// Pops everything above the last mark, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        match self.marks.pop() {
            Some(m) => Ok(self.stack.split_off(m)),
            None => bad("the pickle has no mark to pop to"),
        }
    }
    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }
    fn memo_get(&mut self, key: u64) -> Result<(), PickleError> {
        match self.memo.get(&key) {
            Some(&id) => {
                self.stack.push(id);
                Ok(())
            }
            None => bad(format!("the pickle reads memo entry {key}, never written")),
        }
    }
    fn int(&self, id: Id) -> Option<i64> {
        match self.objs[id] {
            Obj::Int(v) => Some(v),
            Obj::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }

    /// Runs opcodes to STOP and returns the result.
    fn run(&mut self) -> Result<Id, PickleError> {
        loop {
            let at = self.pos;
            let op = self.byte()?;
            match op {
                0x80 => {
                    let proto = self.byte()?;
                    if proto > 5 {
                        return bad(format!("pickle protocol {proto} is newer than 5"));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b')' => self.push(Obj::Tuple(Vec::new())),
                b']' => self.push(Obj::List(Vec::new())),
                b'}' => self.push(Obj::Dict(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
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
                b'a' => {
                    let v = self.pop()?;
                    self.extend_list(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend_list(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.extend_dict(vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let p = pairs(&items)?;
                    self.extend_dict(p)?;
                }
                b'q' => {
                    let k = self.le(1)?;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.le(4)?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'p' => {
                    let k = parse_int(self.line()?)?;
                    self.memo_put(k as u64)?;
                }
                b'h' => {
                    let k = self.le(1)?;
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = self.le(4)?;
                    self.memo_get(k)?;
                }
                b'g' => {
                    let k = parse_int(self.line()?)?;
                    self.memo_get(k as u64)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = global(module, name)?;
                    self.push(g);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Obj::Str(module), Obj::Str(name)) = (&self.objs[module], &self.objs[name])
                    else {
                        return bad("STACK_GLOBAL needs two strings");
                    };
                    let g = global(module, name)?;
                    self.push(g);
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    self.reduce(f, args)?;
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args); only an OrderedDict is allowed
                    let _args = self.pop()?;
                    let cls = self.pop()?;
                    match self.objs[cls] {
                        Obj::Callable(Global::OrderedDict) => self.push(Obj::Dict(Vec::new())),
                        _ => return bad(format!("NEWOBJ of {}", self.objs[cls].kind())),
                    }
                }
                b'b' => {
                    // BUILD sets attributes (an OrderedDict's `_metadata`): not needed
                    self.pop()?;
                    self.top()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let s = self.storage(pid)?;
                    self.charge(s.key.len() + 32)?;
                    self.push(Obj::Storage(s));
                }
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
                    let n = if op == 0x8a {
                        usize::from(self.byte()?)
                    } else {
                        self.len(4)?
                    };
                    let v = long(self.take(n)?)?;
                    self.push(Obj::Int(v));
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
                    let v = parse_int(s.strip_suffix('L').unwrap_or(s))?;
                    self.push(Obj::Int(v));
                }
                0x88 => self.push(Obj::Bool(true)),
                0x89 => self.push(Obj::Bool(false)),
                b'N' => self.push(Obj::None),
                b'G' => {
                    self.take(8)?;
                    self.push(Obj::Float);
                }
                b'X' | 0x8c | 0x8d | b'U' | b'T' => {
                    let n = match op {
                        0x8c | b'U' => usize::from(self.byte()?),
                        0x8d => self.len(8)?,
                        _ => self.len(4)?,
                    };
                    let s = self.string(n)?;
                    self.push(Obj::Str(s));
                }
                b'C' | b'B' | 0x8e => {
                    let n = match op {
                        b'C' => usize::from(self.byte()?),
                        b'B' => self.len(4)?,
                        _ => self.len(8)?,
                    };
                    self.take(n)?;
                    self.push(Obj::Bytes);
                }
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
                _ => {
                    return bad(format!(
                        "unsupported pickle opcode {op:#04x} at byte {at} (not part of a state dict)"
                    ));
                }
            }
        }
    }

    fn extend_list(&mut self, items: Vec<Id>) -> Result<(), PickleError> {
        let id = self.top()?;
        match &mut self.objs[id] {
            Obj::List(v) => {
                v.extend(items);
                Ok(())
            }
            other => bad(format!("the pickle appends to {}", other.kind())),
        }
    }

    fn extend_dict(&mut self, items: Vec<(Id, Id)>) -> Result<(), PickleError> {
        let id = self.top()?;
        match &mut self.objs[id] {
            Obj::Dict(v) => {
                v.extend(items);
                Ok(())
            }
            other => bad(format!("the pickle sets an item of {}", other.kind())),
        }
    }

    /// A persistent id `('storage', storage type, key, location, numel)`.
    fn storage(&self, pid: Id) -> Result<StorageRef, PickleError> {
        let malformed = || bad("a persistent id is not ('storage', type, key, location, numel)");
        let Obj::Tuple(t) = &self.objs[pid] else {
            return malformed();
        };
        let [tag, ty, key, _location, numel] = t[..] else {
            return malformed();
        };
        let (Obj::Str(tag), Obj::StorageType(elem), Obj::Str(key)) =
            (&self.objs[tag], &self.objs[ty], &self.objs[key])
        else {
            return malformed();
        };
        let numel = self.int(numel).and_then(|n| u64::try_from(n).ok());
        match numel {
            Some(numel) if tag == "storage" => Ok(StorageRef {
                key: key.clone(),
                elem: elem.clone(),
                numel,
            }),
            _ => malformed(),
        }
    }

    /// A tuple of non-negative ints.
    fn dims(&self, id: Id) -> Option<Vec<u64>> {
        let Obj::Tuple(t) = &self.objs[id] else {
            return None;
        };
        if t.len() > MAX_RANK {
            return None;
        }
        t.iter()
            .map(|&i| self.int(i).and_then(|v| u64::try_from(v).ok()))
            .collect()
    }

    /// Calls an allow-listed function on a tuple of arguments.
    fn reduce(&mut self, f: Id, args: Id) -> Result<(), PickleError> {
        let Obj::Tuple(all) = &self.objs[args] else {
            return bad("REDUCE arguments are not a tuple");
        };
        // the few leading arguments the allow-listed functions take (no copy of a long tuple)
        let a: Vec<Id> = all.iter().take(8).copied().collect();
        if all.len() > a.len() {
            return bad("REDUCE with too many arguments");
        }
        let Obj::Callable(g) = self.objs[f] else {
            return bad(format!("the pickle calls {}", self.objs[f].kind()));
        };
        match g {
            Global::OrderedDict => match a[..] {
                [] => self.push(Obj::Dict(Vec::new())),
                _ => return bad("OrderedDict with arguments"),
            },
            Global::RebuildParameter => match a[..] {
                [data, ..] if matches!(self.objs[data], Obj::Tensor(_)) => self.stack.push(data),
                _ => return bad("_rebuild_parameter of something other than a tensor"),
            },
            Global::RebuildTensor => {
                // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                let malformed = || bad("_rebuild_tensor_v2 with arguments of the wrong kinds");
                if a.len() != 6 && a.len() != 7 {
                    return malformed();
                }
                let Obj::Storage(storage) = &self.objs[a[0]] else {
                    return malformed();
                };
                let offset = self.int(a[1]).and_then(|v| u64::try_from(v).ok());
                let (Some(offset), Some(size), Some(stride)) =
                    (offset, self.dims(a[2]), self.dims(a[3]))
                else {
                    return malformed();
                };
                if size.len() != stride.len() {
                    return malformed();
                }
                let t = TensorRef {
                    storage: storage.clone(),
                    offset,
                    size,
                    stride,
                };
                self.charge(t.storage.key.len() + 16 * t.size.len() + 64)?;
                self.push(Obj::Tensor(t));
            }
        }
        Ok(())
    }

    /// The top-level dict's (name, tensor) entries.
    fn entries(&mut self, top: Id) -> Result<Vec<(String, TensorRef)>, PickleError> {
        let Obj::Dict(items) = &self.objs[top] else {
            return bad(format!(
                "the file holds {}, not a state dict (a dict of tensors)",
                self.objs[top].kind()
            ));
        };
        // a checkpoint (`{'epoch': 3, 'model_state_dict': {...}}`) says so first
        for &(k, v) in items {
            if let (Obj::Str(name), Obj::Dict(_)) = (&self.objs[k], &self.objs[v]) {
                return bad(format!(
                    "entry `{name}` is a dict, not a tensor: the file is a checkpoint holding a state dict; save the state dict itself, `torch.save(model.state_dict(), path)`"
                ));
            }
        }
        let mut out = Vec::new();
        let mut copied = 0usize;
        for &(k, v) in items {
            let Obj::Str(name) = &self.objs[k] else {
                return bad(format!(
                    "a state dict key is {}, not a string",
                    self.objs[k].kind()
                ));
            };
            match &self.objs[v] {
                Obj::Tensor(t) => {
                    copied = copied
                        .saturating_add(name.len() + t.storage.key.len() + 16 * t.size.len() + 64);
                    if copied > self.budget {
                        return bad(
                            "the pickle refers to the same data too many times (not a state dict)",
                        );
                    }
                    out.push((name.clone(), t.clone()));
                }
                other => {
                    return bad(format!(
                        "entry `{name}` is {}, not a tensor (a state dict holds only tensors)",
                        other.kind()
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Items above a mark as (key, value) pairs.
fn pairs(items: &[Id]) -> Result<Vec<(Id, Id)>, PickleError> {
    if !items.len().is_multiple_of(2) {
        return bad("a dict is built from an odd number of items");
    }
    Ok(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

/// A little-endian two's-complement integer (LONG1/LONG4) that fits in i64.
fn long(b: &[u8]) -> Result<i64, PickleError> {
    if b.len() > 8 {
        return bad("an integer of the pickle does not fit in 64 bits");
    }
    if b.is_empty() {
        return Ok(0);
    }
    let negative = b[b.len() - 1] & 0x80 != 0;
    let mut buf = [if negative { 0xff } else { 0 }; 8];
    buf[..b.len()].copy_from_slice(b);
    Ok(i64::from_le_bytes(buf))
}

fn parse_int(s: &str) -> Result<i64, PickleError> {
    s.trim()
        .parse()
        .or_else(|_| bad(format!("`{s}` is not an integer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(p: &[u8]) -> String {
        match state_dict(p) {
            Err(PickleError::Format(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_global_outside_the_allow_list_is_refused_by_name() {
        let p = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85R.";
        match state_dict(p) {
            Err(PickleError::Forbidden { module, name }) => {
                assert_eq!((module.as_str(), name.as_str()), ("os", "system"));
            }
            other => panic!("{other:?}"),
        }
        // STACK_GLOBAL (protocol 4) too
        let p = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
        assert!(matches!(
            state_dict(p),
            Err(PickleError::Forbidden { ref module, ref name }) if module == "builtins" && name == "eval"
        ));
    }

    #[test]
    fn malformed_pickles_are_errors() {
        assert!(refused(b"").contains("ends early"));
        assert!(refused(b"\x80\x02}").contains("ends early"));
        assert!(refused(b"\x80\x02.").contains("empty stack"));
        assert!(refused(b"\x80\x02(.").contains("empty stack"));
        assert!(refused(b"\x80\x02h\x07.").contains("memo"));
        assert!(refused(b"\x80\x02K\x01.").contains("not a state dict"));
        assert!(refused(b"\x80\x02t.").contains("mark"));
        assert!(refused(b"\x80\x02X\xff\xff\xff\xff").contains("past the end"));
        assert!(refused(b"\x80\x02\x8b\xff\xff\xff\x7f").contains("past the end"));
        assert!(
            refused(b"\x80\x02\x8a\x09\x01\x01\x01\x01\x01\x01\x01\x01\x01").contains("64 bits")
        );
        assert!(refused(b"\x80\x02}X\x01\x00\x00\x00aK\x01s.").contains("an int"));
        assert!(refused(b"\x80\x02\xff").contains("opcode 0xff"));
        assert!(refused(b"\x80\x02]K\x01u").contains("mark"));
    }

    #[test]
    fn every_truncation_and_bit_flip_of_a_real_pickle_is_handled() {
        let zip = include_bytes!("../../tests/fixtures/torch/views.pt");
        let archive = super::super::zip::Archive::parse(zip).unwrap();
        let pkl = archive.data("archive/data.pkl").unwrap().unwrap();
        let good = state_dict(pkl).unwrap();
        assert_eq!(good.len(), 8);
        for cut in 0..pkl.len() {
            assert!(state_dict(&pkl[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..pkl.len() {
            for bit in 0..8 {
                let mut d = pkl.to_vec();
                d[i] ^= 1 << bit;
                // Ok or Err, but never a panic, a hang or an allocation beyond the input
                let _ = state_dict(&d);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Random programs of pickle tokens (opcodes with operands, allow-listed globals,
        /// the pieces of a tensor), damaged or not: errors, never panics.
        #[test]
        fn random_token_programs_never_panic(
            tokens in proptest::collection::vec(proptest::sample::select(TOKENS.to_vec()), 0..120)
        ) {
            let mut p = b"\x80\x02".to_vec();
            for t in tokens {
                p.extend(t);
            }
            let _ = state_dict(&p);
        }
    }

    const TOKENS: &[&[u8]] = &[
        b"(",
        b")",
        b"]",
        b"}",
        b"t",
        b"\x85",
        b"\x86",
        b"\x87",
        b"l",
        b"d",
        b"a",
        b"e",
        b"s",
        b"u",
        b"q\x00",
        b"q\x01",
        b"r\x00\x00\x00\x00",
        b"\x94",
        b"h\x00",
        b"h\x01",
        b"j\x01\x00\x00\x00",
        b"p0\n",
        b"g0\n",
        b"R",
        b"b",
        b"\x81",
        b"Q",
        b"K\x00",
        b"K\x03",
        b"M\xff\xff",
        b"J\xff\xff\xff\xff",
        b"\x8a\x01\xff",
        b"\x8a\x09",
        b"\x8b\x01\x00\x00\x00\x05",
        b"I01\n",
        b"I-3\n",
        b"L5L\n",
        b"N",
        b"\x88",
        b"\x89",
        b"G\x00\x00\x00\x00\x00\x00\x00\x00",
        b"X\x07\x00\x00\x00storage",
        b"X\x01\x00\x00\x000",
        b"X\x03\x00\x00\x00cpu",
        b"\x8c\x05torch",
        b"\x8c\x0cFloatStorage",
        b"\x93",
        b"C\x01z",
        b"0",
        b"1",
        b"2",
        b".",
        b"ctorch\nFloatStorage\n",
        b"ctorch\nbfloat16\n",
        b"ctorch._utils\n_rebuild_tensor_v2\n",
        b"ctorch._utils\n_rebuild_parameter\n",
        b"ccollections\nOrderedDict\n",
        b"cos\nsystem\n",
        b"\x95\x00\x00\x00\x00\x00\x00\x00\x00",
        b"\xff",
        b"X\xff\xff\xff\x7f",
    ];

    #[test]
    fn longs_are_twos_complement() {
        assert_eq!(long(&[]).unwrap(), 0);
        assert_eq!(long(&[0xff]).unwrap(), -1);
        assert_eq!(long(&[0x00, 0x01]).unwrap(), 256);
        assert_eq!(
            long(&[0x00, 0x00, 0x00, 0x00, 0x00, 0x01]).unwrap(),
            1 << 40
        );
        assert_eq!(long(&i64::MIN.to_le_bytes()).unwrap(), i64::MIN);
    }

    #[test]
    fn shared_memo_entries_cost_no_copies() {
        // t = (t, t) 64 times: 2^64 leaves if references were copies
        let mut p = b"\x80\x02}(X\x01\x00\x00\x00a]q\x000".to_vec();
        for _ in 0..64 {
            p.extend(b"h\x00h\x00\x86q\x000");
        }
        p.extend(b"h\x00u.");
        let r = refused(&p);
        assert!(r.contains("a tuple"), "{r}");
    }

    #[test]
    fn repeated_references_to_a_long_key_exhaust_the_budget() {
        // one 4 KB storage key, then a dict of 100,000 tensors all pointing at it
        let mut p = b"\x80\x02}(".to_vec();
        p.extend(b"X\x00\x10\x00\x00");
        p.extend([b'k'; 4096]);
        p.extend(b"q\x010");
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\nq\x020");
        p.extend(
            b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nh\x01X\x03\x00\x00\x00cpuK\x01tQq\x030",
        );
        p.extend(b"h\x02(h\x03K\x00)))}tRq\x040");
        for i in 0..100_000u32 {
            p.push(b'X');
            p.extend(8u32.to_le_bytes());
            p.extend(format!("{i:08}").as_bytes());
            p.extend(b"h\x04");
        }
        p.extend(b"u.");
        let r = refused(&p);
        assert!(r.contains("too many times"), "{r}");
    }
}
