//! A safe reader of Python's pickle format (protocols 0 to 5), for data only.
//!
//! [`Pickle::parse`] runs the pickle machine over untrusted bytes and keeps what it builds as
//! an arena of [`Object`]s addressed by [`Id`]: scalars, strings, containers of ids, globals
//! as `(module, name)` names, persistent ids, and REDUCE/NEWOBJ/BUILD as [`Call`] records
//! over ids. Nothing is ever imported, looked up or called: what a global means is for the
//! caller to decide (kiln-nn's `torch.save` reader allows a short list of names, kiln-data's
//! CIFAR reader reads numpy's array state).
//!
//! Safe on hostile input: the machine never recurses (nesting costs no stack), the memo and
//! DUP share ids instead of copying, strings are borrowed from the input, and every byte the
//! arena takes is charged to a budget proportional to the input first
//! ([`BUDGET_PER_BYTE`]), so memory stays bounded by the input's size. Every malformed
//! input is a [`PickleError`], never a panic.

mod access;
mod error;
mod machine;
mod object;
mod opcodes;
mod text;

#[cfg(test)]
mod tests;

pub use error::{PickleError, Result};
pub use object::{Call, CallKind, Id, Object};

/// Bytes of objects [`Pickle::parse`] allows per byte of input, beyond [`BUDGET_BASE`]. Real
/// pickles need under 50 (a list of small ints: 24); the densest opcode sequences need 67.
pub const BUDGET_PER_BYTE: usize = 64;
/// Bytes of objects [`Pickle::parse`] allows for any input.
pub const BUDGET_BASE: usize = 1 << 20;

/// An unpickled object graph: the arena and the object STOP returned.
#[derive(Debug, Clone)]
pub struct Pickle<'a> {
    objs: Vec<Object<'a>>,
    top: Id,
}

impl<'a> Pickle<'a> {
    /// Runs a pickle to its STOP, with the default budget
    /// (`BUDGET_BASE + BUDGET_PER_BYTE * input.len()` bytes). Bytes after STOP are an error.
    pub fn parse(input: &'a [u8]) -> Result<Self> {
        Self::parse_with_budget(input, default_budget(input.len()))
    }

    /// Runs a pickle to its STOP, building at most `budget` bytes of objects. Bytes after
    /// STOP are an error.
    pub fn parse_with_budget(input: &'a [u8], budget: usize) -> Result<Self> {
        let (pk, used) = Self::run(input, budget)?;
        match input.len() - used {
            0 => Ok(pk),
            extra => Err(PickleError::Trailing { extra }),
        }
    }

    /// Runs the pickle that starts `input` to its STOP, with the default budget, and returns
    /// it with the number of bytes it took: what follows is left alone, as Python's
    /// `pickle.load` leaves the rest of a stream.
    pub fn parse_prefix(input: &'a [u8]) -> Result<(Self, usize)> {
        Self::run(input, default_budget(input.len()))
    }

    fn run(input: &'a [u8], budget: usize) -> Result<(Self, usize)> {
        let mut m = machine::Machine::new(input, budget);
        let top = m.run()?;
        Ok((Pickle { objs: m.objs, top }, m.pos))
    }
}

/// The default budget for an input of `len` bytes.
fn default_budget(len: usize) -> usize {
    len.saturating_mul(BUDGET_PER_BYTE)
        .saturating_add(BUDGET_BASE)
}
