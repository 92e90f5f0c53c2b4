//! kiln-data.
