#![no_main]
//! Fuzz target `cifar_python`: see `kiln_fuzz::cifar_python`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Ok or Err are both fine; a panic, overflow, hang or huge allocation is a bug.
    let _ = kiln_fuzz::cifar_python(data);
});
