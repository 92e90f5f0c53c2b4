#![no_main]
//! Fuzz target `image`: see `kiln_fuzz::image`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Ok or Err are both fine; a panic, overflow, hang or huge allocation is a bug.
    let _ = kiln_fuzz::image(data);
});
