//! kiln-metrics.
