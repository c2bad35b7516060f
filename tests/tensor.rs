//! A real component using `hyper:compute/tensor`: it trains a model through host tensors, and
//! what a careless or hostile skill asks for (bad shapes, a 4 TB tensor, endless tensors)
//! comes back as typed errors while the host stays up.

use hyper_runtime::{inspect, ImportVerdict, SandboxPolicy, Skill};
use hyper_tests::*;

fn run(skill: &Skill, policy: &SandboxPolicy, case: &str, seed: u64) -> String {
    let (result, _) = skill.run(
        policy,
        &spec(
            "t",
            seed,
            &[
                ("case", hyper_runtime::ParamValue::Choice(case.into())),
                ("steps", hyper_runtime::ParamValue::Int(200)),
            ],
        ),
        None,
    );
    let artifact = result.unwrap_or_else(|f| panic!("{case}: {f}"));
    String::from_utf8(artifact.bytes).expect("utf-8")
}

#[test]
fn a_skill_trains_through_host_tensors() {
    let runtime = runtime();
    let bytes = read(fixtures::TENSOR_USER);
    let inspection = inspect(&runtime, &bytes).expect("inspect");
    assert!(
        inspection
            .imports
            .iter()
            .any(|(name, verdict)| name.starts_with("hyper:compute/tensor")
                && matches!(verdict, ImportVerdict::Granted(_))),
        "{:?}",
        inspection.imports
    );
    let skill = Skill::load(&runtime, &bytes).expect("load");
    let policy = SandboxPolicy::default();
    let out = run(&skill, &policy, "train", 1);
    let field = |name: &str| -> f32 {
        out.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    assert!(
        field("last") < field("first") / 1000.0,
        "the loss did not fall: {out}"
    );
    assert!((field("w") - 3.0).abs() < 0.05, "{out}");
    assert!((field("b") - 1.0).abs() < 0.05, "{out}");
    assert!(out.contains("device=cpu"), "{out}");
    // Deterministic: the same seed gives the same bits; another seed other data.
    assert_eq!(run(&skill, &policy, "train", 1), out);
    assert_ne!(run(&skill, &policy, "train", 2), out);
}

#[test]
fn tensor_errors_and_quotas_are_typed_and_the_host_stays_up() {
    let runtime = runtime();
    let skill = Skill::load(&runtime, &read(fixtures::TENSOR_USER)).expect("load");
    let policy = SandboxPolicy {
        tensor_handles: 500,
        tensor_bytes: 64 << 20,
        ..SandboxPolicy::default()
    };
    let shape = run(&skill, &policy, "shape-error", 0);
    assert!(shape.starts_with("TensorError::Shape"), "{shape}");
    assert!(shape.contains("inner dimensions"), "{shape}");
    let huge = run(&skill, &policy, "huge", 0);
    assert!(huge.starts_with("TensorError::MemoryQuota"), "{huge}");
    let leak = run(&skill, &policy, "leak", 0);
    assert!(
        leak.starts_with("after 500: TensorError::HandleQuota"),
        "{leak}"
    );
    // Quotas are per call: the next call starts from nothing.
    let again = run(&skill, &policy, "leak", 0);
    assert_eq!(again, leak);
    assert!(run(&skill, &policy, "train", 1).contains("device=cpu"));
}

/// The journal row of one experiment of `skill_path` on the search domain.
fn one_experiment(skill_path: &str) -> hyper_journal::Record {
    let (_t, home) = temp_home();
    let runtime = runtime();
    let mut journal = hyper_journal::Journal::open(home.join("journal.db")).expect("journal");
    hyper_research::ResearchLoop {
        domain: search_domain(&home),
        skill: Skill::load(&runtime, &read(skill_path)).expect("skill"),
        evaluator: hyper_runtime::Evaluator::load(&runtime, &read(fixtures::SEARCH_EVALUATOR))
            .expect("evaluator"),
        journal: &mut journal,
    }
    .run(
        &hyper_research::LoopOptions {
            experiments: Some(1),
            ..Default::default()
        },
        &mut |_| {},
    )
    .expect("loop");
    journal.list("search").expect("rows").remove(0)
}

/// The research loop records where a skill's tensors lived, as part of the platform.
#[test]
fn the_tensor_device_is_recorded_with_the_result() {
    // The search evaluator cannot score a text artifact (a crash row), but the row says
    // where the tensors were.
    let row = one_experiment(fixtures::TENSOR_USER);
    assert!(row.platform.ends_with("tensors=cpu"), "{row:?}");
    // A skill that uses no tensors says nothing about them.
    let row = one_experiment(fixtures::SEARCH_BM25);
    assert!(!row.platform.contains("tensors="), "{row:?}");
}

/// A domain sets its skills' tensor memory; nonsense is refused when the manifest loads.
#[test]
fn a_domain_budgets_tensor_memory() {
    use hyper_research::{domain, Domain};
    let (_t, home) = temp_home();
    let d = search_domain(&home);
    assert_eq!(
        d.skill_policy().tensor_bytes,
        SandboxPolicy::default().tensor_bytes
    );
    let path = d.dir.join(domain::MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).expect("manifest");
    let with = |line: &str| text.replace("[budget]\n", &format!("[budget]\n{line}\n"));
    std::fs::write(&path, with("tensor_mib = 1")).expect("write");
    let d = Domain::load(&d.dir).expect("reload");
    assert_eq!(d.skill_policy().tensor_bytes, 1 << 20);
    assert_eq!(d.evaluator_policy().tensor_bytes, 1 << 20);
    // The 1 MiB budget reaches the skill: exactly 1,024 tensors of 256 floats fit.
    let skill = Skill::load(&runtime(), &read(fixtures::TENSOR_USER)).expect("skill");
    let leak = run(&skill, &d.skill_policy(), "leak", 0);
    assert!(
        leak.starts_with("after 1024: TensorError::MemoryQuota"),
        "{leak}"
    );
    std::fs::write(&path, with("tensor_mib = 0")).expect("write");
    let err = Domain::load(&d.dir).expect_err("zero budget");
    assert!(err.to_string().contains("tensor_mib"), "{err}");
}
