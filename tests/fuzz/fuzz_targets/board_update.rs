#![no_main]
#[path = "../../fuzz_targets.rs"]
#[allow(dead_code)]
mod fuzz_targets;

static QUIET_HOOK: std::sync::Once = std::sync::Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on *every* panic through its panic hook, even one the board
    // catches on purpose (Loro's decoder asserts on some malformed updates; `Board` turns
    // that into a refusal). A silent hook lets those through; a panic that escapes the target
    // is still caught by libfuzzer-sys's own catch_unwind and reported as a crash.
    QUIET_HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    fuzz_targets::board_update(data)
});
