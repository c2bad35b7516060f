#![no_main]
#[path = "../../fuzz_targets.rs"]
#[allow(dead_code)]
mod fuzz_targets;
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::attestation(data));
