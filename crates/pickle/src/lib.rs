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
        let budget = input
            .len()
            .saturating_mul(BUDGET_PER_BYTE)
            .saturating_add(BUDGET_BASE);
        Self::parse_with_budget(input, budget)
    }

    /// Runs a pickle to its STOP, building at most `budget` bytes of objects.
    pub fn parse_with_budget(input: &'a [u8], budget: usize) -> Result<Self> {
        let mut m = machine::Machine::new(input, budget);
        let top = m.run()?;
        if m.remaining() > 0 {
            return Err(PickleError::Trailing {
                extra: m.remaining(),
            });
        }
        Ok(Pickle { objs: m.objs, top })
    }
}
