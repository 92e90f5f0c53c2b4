//! kiln-train.
