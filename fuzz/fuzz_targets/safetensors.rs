#![no_main]
//! Fuzz target `safetensors`: see `kiln_fuzz::safetensors`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Ok or Err are both fine; a panic, overflow, hang or huge allocation is a bug.
    let _ = kiln_fuzz::safetensors(data);
});
