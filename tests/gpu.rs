//! A real component using `hyper:compute/gpu` on this machine's adapter (lavapipe in CI): a
//! WGSL kernel's numbers, and what a careless or hostile skill gets (bad WGSL, a 100 GB buffer,
//! a dispatch that does not end) while the host stays up.

use std::time::{Duration, Instant};

use hyper_runtime::{inspect, ImportVerdict, ParamValue, SandboxPolicy, Skill};
use hyper_tests::*;

fn run(skill: &Skill, policy: &SandboxPolicy, case: &str, n: i64) -> String {
    let (result, report) = skill.run(
        policy,
        &spec(
            "g",
            1,
            &[
                ("case", ParamValue::Choice(case.into())),
                ("n", ParamValue::Int(n)),
            ],
        ),
        None,
    );
    let artifact = result.unwrap_or_else(|f| panic!("{case}: {f}"));
    assert!(report.gpu_adapter.is_some(), "{case}: no adapter recorded");
    String::from_utf8(artifact.bytes).expect("utf-8")
}

#[test]
fn a_skill_runs_a_wgsl_kernel_and_gets_its_numbers() {
    let runtime = runtime();
    let bytes = read(fixtures::GPU_USER);
    let inspection = inspect(&runtime, &bytes).expect("inspect");
    assert!(
        inspection
            .imports
            .iter()
            .any(|(name, verdict)| name.starts_with("hyper:compute/gpu")
                && matches!(verdict, ImportVerdict::Granted(_))),
        "{:?}",
        inspection.imports
    );
    let skill = Skill::load(&runtime, &bytes).expect("load");
    let out = run(&skill, &SandboxPolicy::default(), "axpy", 1000);
    // c[i] = 2i + i/4 = 2.25 i: c[999] = 2247.75, Σ = 2.25 · 999 · 1000 / 2.
    assert!(
        out.starts_with("n=1000 first=0 last=2247.75 sum=1123875 "),
        "{out}"
    );
    assert!(out.contains("bytes=8000"), "{out}");
    assert!(out.contains("adapter="), "{out}");
}

#[test]
fn gpu_mistakes_and_attacks_get_typed_errors_and_the_host_stays_up() {
    let runtime = runtime();
    let skill = Skill::load(&runtime, &read(fixtures::GPU_USER)).expect("load");
    let policy = SandboxPolicy {
        gpu_timeout: Duration::from_millis(300),
        ..SandboxPolicy::default()
    };
    let bad = run(&skill, &policy, "bad-wgsl", 1);
    assert!(bad.starts_with("GpuError::Shader"), "{bad}");
    let huge = run(&skill, &policy, "huge", 1);
    assert!(huge.starts_with("GpuError::Quota"), "{huge}");
    assert!(huge.contains("100000000000 requested"), "{huge}");
    // 2,000 workgroups of a loop without end (about 1.5 s of lavapipe's time).
    let started = Instant::now();
    let endless = run(&skill, &policy, "endless", 2000);
    assert!(
        endless.starts_with("dispatch: GpuError::Timeout")
            && endless.contains("after: GpuError::Timeout"),
        "{endless}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The host, and the next call's GPU, are fine.
    let out = run(&skill, &policy, "axpy", 64);
    assert!(out.starts_with("n=64 first=0 last=141.75"), "{out}");
}
