//! Runtime benchmark: prints the figures README.md quotes. Run with
//! `cargo bench -p hyper-tests --bench runtime` (release build).
//!
//! 1. Host overhead per experiment for a trivial skill: fresh store + WASI context +
//!    instantiate + call + drop (median over many calls).
//! 2. Guest→host call overhead: a skill calling the `progress` import N times, minus the same
//!    skill calling it 0 times, divided by N.
//! 3. BM25 over Cranfield inside the sandbox vs the same Rust source compiled natively (and a
//!    check that both produce byte-identical runs).

#[path = "../../skills/search-bm25/src/bm25.rs"]
#[allow(dead_code)]
mod bm25;

use hyper_tests::flags::OrExit;
use std::time::{Duration, Instant};

use hyper_runtime::{ParamValue, SandboxPolicy, Skill};
use hyper_tests::*;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed(), out)
}

fn main() {
    let quick = hyper_tests::flags::switch("--quick");
    let (_tmp, home) = temp_home();
    let domain = search_domain(&home);
    let runtime = runtime();
    println!(
        "hyper runtime benchmark ({}; pooling allocator: {})",
        hyper_research::platform(),
        runtime.pooling()
    );

    // 1. Host overhead per experiment.
    let trivial = Skill::load(&runtime, &read(fixtures::TRIVIAL)).or_exit("trivial skill");
    let bare = SandboxPolicy {
        data_dir: None,
        scratch: false,
        ..SandboxPolicy::default()
    };
    let full = domain.skill_policy();
    let calls = |n: i64| {
        spec(
            "bench",
            1,
            &[
                ("calls", ParamValue::Int(n)),
                ("entropy", ParamValue::Flag(false)),
            ],
        )
    };
    let iterations = if quick { 200 } else { 5000 };
    let spec0 = calls(0);
    let measure = |policy: &SandboxPolicy| {
        for _ in 0..iterations / 10 {
            trivial.run(policy, &spec0, None).0.or_exit("warm-up");
        }
        median(
            (0..iterations)
                .map(|_| time(|| trivial.run(policy, &spec0, None).0.or_exit("trivial run")).0)
                .collect(),
        )
    };
    let overhead_bare = measure(&bare);
    let overhead_full = measure(&full);
    let overhead_data = measure(&SandboxPolicy {
        scratch: false,
        ..full.clone()
    });
    let overhead_scratch = measure(&SandboxPolicy {
        data_dir: None,
        ..full.clone()
    });
    let instantiate = median(
        (0..iterations)
            .map(|_| trivial.instantiate_only(&bare).or_exit("instantiate"))
            .collect(),
    );
    println!("host overhead per experiment, trivial skill (median of {iterations}):");
    println!(
        "  instantiate + call + drop, no preopens       {:>10.1} µs   (target ≤ 20 µs)",
        overhead_bare.as_secs_f64() * 1e6
    );
    println!(
        "  instantiate + drop only                      {:>10.1} µs",
        instantiate.as_secs_f64() * 1e6
    );
    println!(
        "  with the domain's /data and /scratch         {:>10.1} µs",
        overhead_full.as_secs_f64() * 1e6
    );
    println!(
        "    of which: /data only                       {:>10.1} µs",
        overhead_data.as_secs_f64() * 1e6
    );
    println!(
        "              /scratch only                    {:>10.1} µs",
        overhead_scratch.as_secs_f64() * 1e6
    );

    // 2. Guest -> host call overhead.
    let n: i64 = if quick { 100_000 } else { 2_000_000 };
    let big = calls(n);
    let reps = if quick { 3 } else { 7 };
    let with_calls = median(
        (0..reps)
            .map(|_| time(|| trivial.run(&bare, &big, None).0.or_exit("calls run")).0)
            .collect(),
    );
    let without = median(
        (0..reps)
            .map(|_| time(|| trivial.run(&bare, &spec0, None).0.or_exit("run")).0)
            .collect(),
    );
    let per_call = with_calls.saturating_sub(without).as_secs_f64() / n as f64;
    println!("guest→host call (progress.report with an empty list, {n} calls):");
    println!(
        "  per call                                     {:>10.1} ns   (target ≤ 200 ns)",
        per_call * 1e9
    );

    // 3. BM25 in the sandbox vs native.
    let skill = Skill::load(&runtime, &read(fixtures::SEARCH_BM25)).or_exit("bm25 skill");
    let info = skill.describe(&full).or_exit("describe");
    let space = hyper_research::Space::new(info.params).or_exit("space");
    let bm25_spec = hyper_runtime::ExperimentSpec {
        id: "bench".into(),
        domain: "search".into(),
        params: space.to_wit(&space.defaults()),
        seed: 0,
        parent: None,
    };
    // Sandbox and native runs alternate so that both see the same machine noise (these VMs
    // share their cores); the ratio is given for the best of each (the least disturbed run)
    // and for the medians.
    let reps = if quick { 5 } else { 21 };
    let (mut sandbox_times, mut native_times) = (Vec::new(), Vec::new());
    let (mut sandbox_out, mut native_out) = (Vec::new(), String::new());
    for _ in 0..reps {
        let (t, artifact) = time(|| skill.run(&full, &bm25_spec, None).0.or_exit("bm25 run"));
        sandbox_times.push(t);
        sandbox_out = artifact.bytes;
        let (t, run) = time(|| {
            let docs =
                std::fs::read_to_string(domain.data_dir().join("cran.all.1400")).or_exit("docs");
            let queries =
                std::fs::read_to_string(domain.data_dir().join("cran.qry")).or_exit("queries");
            bm25::run_collection(&docs, &queries, &bm25::Options::default())
        });
        native_times.push(t);
        native_out = run;
    }
    assert_eq!(
        sandbox_out,
        native_out.as_bytes(),
        "sandboxed and native BM25 must produce the same run"
    );
    let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default();
    let (sandbox_best, native_best) = (best(&sandbox_times), best(&native_times));
    let (sandbox, native) = (median(sandbox_times), median(native_times));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("BM25 over Cranfield (1,400 docs, 225 queries; read + index + rank; {reps} alternating runs each; identical output):");
    println!(
        "  in the sandbox, best / median                {:>10.1} / {:.1} ms",
        ms(sandbox_best),
        ms(sandbox)
    );
    println!(
        "  native, best / median                        {:>10.1} / {:.1} ms",
        ms(native_best),
        ms(native)
    );
    println!(
        "  sandbox speed / native speed, best           {:>10.2} ×    (target ≥ 0.8×)",
        native_best.as_secs_f64() / sandbox_best.as_secs_f64()
    );
    println!(
        "  sandbox speed / native speed, median         {:>10.2} ×",
        native.as_secs_f64() / sandbox.as_secs_f64()
    );
}
