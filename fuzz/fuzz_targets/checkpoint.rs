#![no_main]
//! Fuzz target `checkpoint`: see `kiln_fuzz::checkpoint`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Ok or Err are both fine; a panic, overflow, hang or huge allocation is a bug.
    let _ = kiln_fuzz::checkpoint(data);
});
