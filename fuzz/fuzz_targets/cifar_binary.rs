#![no_main]
//! Fuzz target `cifar_binary`: see `kiln_fuzz::cifar_binary`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Ok or Err are both fine; a panic, overflow, hang or huge allocation is a bug.
    let _ = kiln_fuzz::cifar_binary(data);
});
