//! The state dict in a `torch.save` archive's `data.pkl`: a dict (or OrderedDict) of tensors,
//! each `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` over a
//! persistent id `('storage', storage type, key, location, numel)`.
//!
//! kiln-pickle reads the pickle as data; here its globals are checked against a short
//! allow-list (`collections.OrderedDict`, `_rebuild_tensor_v2` and `_rebuild_parameter`,
//! torch storage types and dtypes), any other is refused by name, and the graph is read as a
//! state dict. What is copied out (names, storage keys, shapes) is charged to a budget
//! proportional to the pickle's length: the memo may share one long key among many tensors.

use kiln_pickle::{CallKind, Id, Object, Pickle};

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

/// What an allow-listed global names.
#[derive(Debug, Clone, PartialEq)]
enum Known {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    /// `torch.FloatStorage`, `torch.float32`, ...: an element type, or the torch name of one
    /// Kiln does not know.
    Elem(Result<ElemType, String>),
}

/// The most dimensions a tensor may have.
const MAX_RANK: usize = 64;
/// Bytes of copied-out data allowed per byte of pickle (a real state dict needs about 4:
/// a dimension costs 2 bytes inline and 16 copied).
const BUDGET_PER_BYTE: usize = 16;

/// Looks a global up in the allow-list.
fn known(module: &str, name: &str) -> Result<Known, PickleError> {
    let elem = |e| Ok(Known::Elem(Ok(e)));
    match (module, name) {
        ("collections", "OrderedDict") => Ok(Known::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Ok(Known::RebuildTensor),
        ("torch._utils", "_rebuild_parameter") => Ok(Known::RebuildParameter),
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
            Ok(Known::Elem(Err(n.to_string())))
        }
        _ => Err(PickleError::Forbidden {
            module: module.to_string(),
            name: name.to_string(),
        }),
    }
}

/// Unpickles a state dict: its (name, tensor) entries in order.
pub(crate) fn state_dict(input: &[u8]) -> Result<Vec<(String, TensorRef)>, PickleError> {
    // as torch.load: bytes after STOP are left unread
    let (pk, _) = Pickle::parse_prefix(input).map_err(|e| PickleError::Format(e.to_string()))?;
    // every name the pickle holds must be allowed, used or not
    for (module, name) in pk.globals() {
        known(module, name)?;
    }
    let budget = input
        .len()
        .saturating_mul(BUDGET_PER_BYTE)
        .saturating_add(4096);
    Reader { pk: &pk }.entries(budget)
}

/// Reads a parsed pickle whose globals are all allowed.
struct Reader<'p, 'a> {
    pk: &'p Pickle<'a>,
}

impl<'p> Reader<'p, '_> {
    /// What an allow-listed global is (`None` for anything else).
    fn global(&self, id: Id) -> Option<Known> {
        let (module, name) = self.pk.global(id)?;
        known(module, name).ok()
    }

    /// The allow-listed global a call calls.
    fn called(&self, id: Id) -> Option<Known> {
        self.global(self.pk.call(id)?.callee)
    }

    /// A dict's entries: a dict, or `OrderedDict()` with its items set.
    fn dict(&self, id: Id) -> Option<Result<&'p [(Id, Id)], PickleError>> {
        if let Some(d) = self.pk.dict(id) {
            return Some(Ok(d));
        }
        let call = self.pk.call(id)?;
        if self.called(id)? != Known::OrderedDict {
            return None;
        }
        // REDUCE `OrderedDict()`, or NEWOBJ `OrderedDict.__new__(OrderedDict)`
        let no_args = self.pk.tuple(call.args).is_some_and(<[_]>::is_empty);
        if call.kind == CallKind::Reduce && !no_args || !call.items.is_empty() {
            return Some(bad("OrderedDict with arguments"));
        }
        Some(Ok(&call.entries))
    }

    /// An integer >= 0.
    fn uint(&self, id: Id) -> Option<u64> {
        self.pk.int(id).and_then(|v| u64::try_from(v).ok())
    }

    /// A tuple of non-negative ints.
    fn dims(&self, id: Id) -> Option<Vec<u64>> {
        let t = self.pk.tuple(id)?;
        if t.len() > MAX_RANK {
            return None;
        }
        t.iter().map(|&i| self.uint(i)).collect()
    }

    /// A tensor: `_rebuild_tensor_v2(...)`, or `_rebuild_parameter` of one (`None` for
    /// anything else).
    fn tensor(&self, id: Id) -> Option<Result<TensorRef, PickleError>> {
        let call = self.pk.call(id).filter(|c| c.kind == CallKind::Reduce)?;
        let args = self.pk.tuple(call.args)?;
        match self.called(id)? {
            Known::RebuildTensor => Some(self.rebuild_tensor(args)),
            Known::RebuildParameter => {
                // (data, requires_grad, backward_hooks): data must be a tensor itself
                let data = args
                    .first()
                    .filter(|&&d| self.called(d) == Some(Known::RebuildTensor));
                match data.and_then(|&d| self.tensor(d)) {
                    Some(t) => Some(t),
                    None => Some(bad("_rebuild_parameter of something other than a tensor")),
                }
            }
            _ => None,
        }
    }

    /// `(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
    fn rebuild_tensor(&self, a: &[Id]) -> Result<TensorRef, PickleError> {
        let malformed = || bad("_rebuild_tensor_v2 with arguments of the wrong kinds");
        if a.len() != 6 && a.len() != 7 {
            return malformed();
        }
        let Some(pid) = self.pk.persistent(a[0]) else {
            return malformed();
        };
        let storage = self.storage(pid)?;
        let (Some(offset), Some(size), Some(stride)) =
            (self.uint(a[1]), self.dims(a[2]), self.dims(a[3]))
        else {
            return malformed();
        };
        if size.len() != stride.len() {
            return malformed();
        }
        Ok(TensorRef {
            storage,
            offset,
            size,
            stride,
        })
    }

    /// A persistent id `('storage', storage type, key, location, numel)`.
    fn storage(&self, pid: Id) -> Result<StorageRef, PickleError> {
        let malformed = || bad("a persistent id is not ('storage', type, key, location, numel)");
        let Some(&[tag, ty, key, _location, numel]) = self.pk.tuple(pid) else {
            return malformed();
        };
        let parts = (self.pk.str(tag), self.global(ty), self.pk.str(key));
        let (Some("storage"), Some(Known::Elem(elem)), Some(key)) = parts else {
            return malformed();
        };
        let Some(numel) = self.uint(numel) else {
            return malformed();
        };
        Ok(StorageRef {
            key: key.to_string(),
            elem,
            numel,
        })
    }

    /// What an object is, for messages.
    fn kind(&self, id: Id) -> &'static str {
        if self.dict(id).is_some() {
            return "a dict";
        }
        if self.tensor(id).is_some() {
            return "a tensor";
        }
        match self.pk.get(id) {
            Object::Int(_) | Object::BigInt => "an int",
            Object::Bytes(_) => "bytes",
            Object::Global { .. } if matches!(self.global(id), Some(Known::Elem(_))) => "a dtype",
            Object::Global { .. } => "a function",
            Object::Persistent(_) => "a storage",
            other => other.kind(),
        }
    }

    /// The top-level dict's (name, tensor) entries; `budget` bounds the bytes copied out.
    fn entries(&self, budget: usize) -> Result<Vec<(String, TensorRef)>, PickleError> {
        let top = self.pk.top();
        let Some(items) = self.dict(top) else {
            return bad(format!(
                "the file holds {}, not a state dict (a dict of tensors)",
                self.kind(top)
            ));
        };
        let items = items?;
        // a checkpoint (`{'epoch': 3, 'model_state_dict': {...}}`) says so first
        for &(k, v) in items {
            if let (Some(name), Some(_)) = (self.pk.str(k), self.dict(v)) {
                return bad(format!(
                    "entry `{name}` is a dict, not a tensor: the file is a checkpoint holding a state dict; save the state dict itself, `torch.save(model.state_dict(), path)`"
                ));
            }
        }
        let mut out = Vec::new();
        let mut copied = 0usize;
        for &(k, v) in items {
            let Some(name) = self.pk.str(k) else {
                return bad(format!(
                    "a state dict key is {}, not a string",
                    self.kind(k)
                ));
            };
            let Some(t) = self.tensor(v) else {
                return bad(format!(
                    "entry `{name}` is {}, not a tensor (a state dict holds only tensors)",
                    self.kind(v)
                ));
            };
            let t = t?;
            // charged before the copies are kept
            copied =
                copied.saturating_add(name.len() + t.storage.key.len() + 16 * t.size.len() + 64);
            if copied > budget {
                return bad("the pickle refers to the same data too many times (not a state dict)");
            }
            out.push((name.to_string(), t));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
