//! kiln-tensor.
