//! Why a pickle was refused.

/// Everything that makes a pickle unreadable. Byte positions count from the pickle's start
/// and name the opcode at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PickleError {
    /// The input ends inside an opcode or before STOP.
    #[error("the pickle ends early, inside the opcode at byte {at} (truncated?)")]
    Truncated {
        /// Where the opcode that is cut short starts.
        at: usize,
    },
    /// PROTO names a protocol this reader does not know.
    #[error("pickle protocol {protocol} is newer than 5")]
    Protocol {
        /// The protocol the pickle asks for.
        protocol: u8,
    },
    /// A byte that is no pickle opcode.
    #[error("unsupported pickle opcode {op:#04x} at byte {at}")]
    UnknownOpcode {
        /// The byte.
        op: u8,
        /// Where it is.
        at: usize,
    },
    /// An opcode that needs something outside the file (the copyreg extension registry,
    /// out-of-band buffers).
    #[error("pickle opcode {name} at byte {at} is refused: {why}")]
    Refused {
        /// The opcode's name in Python's `pickletools`.
        name: &'static str,
        /// Where it is.
        at: usize,
        /// What it would need.
        why: &'static str,
    },
    /// An opcode whose operands or stack are wrong.
    #[error("{reason} (opcode at byte {at})")]
    Malformed {
        /// Where the opcode is.
        at: usize,
        /// What is wrong, in words.
        reason: String,
    },
    /// Bytes after STOP.
    #[error("{extra} bytes follow the pickle's end")]
    Trailing {
        /// How many.
        extra: usize,
    },
    /// The objects would take more memory than the input's size allows.
    #[error(
        "the pickle builds more than {limit} bytes of objects, more than its size allows (at byte {at})"
    )]
    Budget {
        /// The memory allowed, in bytes.
        limit: usize,
        /// The opcode that went past it.
        at: usize,
    },
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, PickleError>;
