//! On a machine without a GPU adapter, a skill that imports `hyper:compute/gpu` is refused at
//! load with a reason, and skills that do not import it load and run as before.
//!
//! Its own test binary (process): it hides every Vulkan driver before the first adapter probe,
//! which is cached for the process.

use hyper_runtime::{inspect, ImportVerdict, Skill};
use hyper_tests::*;

#[test]
fn without_an_adapter_only_gpu_skills_are_refused() {
    // SAFETY (set_var): this binary has one test and sets these before any thread reads them.
    unsafe {
        std::env::set_var("VK_ICD_FILENAMES", "/nonexistent/icd.json");
        std::env::set_var("VK_DRIVER_FILES", "/nonexistent/icd.json");
    }
    let runtime = runtime();
    let bytes = read(fixtures::GPU_USER);
    let inspection = inspect(&runtime, &bytes).expect("inspect");
    let refusal = inspection
        .imports
        .iter()
        .find_map(|(name, verdict)| match verdict {
            ImportVerdict::Refused(why) if name.starts_with("hyper:compute/gpu") => Some(why),
            _ => None,
        })
        .unwrap_or_else(|| panic!("gpu import not refused: {:?}", inspection.imports));
    assert!(refusal.contains("no GPU adapter"), "{refusal}");
    let Err(err) = Skill::load(&runtime, &bytes) else {
        panic!("a gpu skill loaded without an adapter")
    };
    assert!(err.to_string().contains("no GPU adapter"), "{err}");
    // A skill without the import is unaffected.
    let trivial = Skill::load(&runtime, &read(fixtures::TRIVIAL)).expect("trivial loads");
    drop(trivial);
    let tensor = Skill::load(&runtime, &read(fixtures::TENSOR_USER)).expect("tensor skill loads");
    drop(tensor);
}
