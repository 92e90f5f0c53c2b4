#![no_main]
//! Fuzz target `torch_zip`: see `kiln_fuzz::torch_zip`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Ok or Err are both fine; a panic, overflow, hang or huge allocation is a bug.
    let _ = kiln_fuzz::torch_zip(data);
});
