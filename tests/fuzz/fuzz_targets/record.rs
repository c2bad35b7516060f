#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hyper_tests::fuzz_targets::record(data));
