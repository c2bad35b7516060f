//! Hostile skills built from source (tests/fixtures/hostile, hostile-sockets): every attack
//! ends as a failure with a clear reason, nothing escapes, and the host stays up.

use hyper_runtime::{Evaluator, FailureKind, ParamValue, Skill, Split};
use hyper_tests::*;

fn hostile() -> (tempfile::TempDir, hyper_research::Domain, Skill) {
    let (tmp, home) = temp_home();
    let domain = search_domain_with_budget(&home, 2, 64);
    let skill = Skill::load(&runtime(), &read(fixtures::HOSTILE))
        .expect("hostile skill loads: it only imports granted interfaces");
    (tmp, domain, skill)
}

fn expect_failure(
    skill: &Skill,
    domain: &hyper_research::Domain,
    name: &str,
    kind: FailureKind,
    words: &[&str],
) -> String {
    attack_fails(skill, &domain.skill_policy(), name, kind, words).0
}

#[test]
fn infinite_loop_hits_the_deadline() {
    let (_t, domain, skill) = hostile();
    let start = std::time::Instant::now();
    expect_failure(
        &skill,
        &domain,
        "infinite-loop",
        FailureKind::Deadline,
        &["deadline", "2"],
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "deadline not enforced promptly: {:?}",
        start.elapsed()
    );
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let (_t, domain, skill) = hostile();
    expect_failure(
        &skill,
        &domain,
        "memory-bomb",
        FailureKind::Memory,
        &["64 MiB"],
    );
}

#[test]
fn deep_recursion_overflows_the_stack_cleanly() {
    let (_t, domain, skill) = hostile();
    expect_failure(
        &skill,
        &domain,
        "deep-recursion",
        FailureKind::StackOverflow,
        &["stack"],
    );
}

#[test]
fn no_ambient_filesystem() {
    let (_t, domain, skill) = hostile();
    expect_failure(
        &skill,
        &domain,
        "read-passwd",
        FailureKind::GuestError,
        &["/etc/passwd"],
    );
    expect_failure(
        &skill,
        &domain,
        "escape-dotdot",
        FailureKind::GuestError,
        &["could not read /data/../"],
    );
}

#[test]
fn symlink_in_the_data_dir_does_not_escape() {
    let (_t, domain, skill) = hostile();
    std::os::unix::fs::symlink("/etc/passwd", domain.data_dir().join("escape-link"))
        .expect("symlink");
    expect_failure(
        &skill,
        &domain,
        "escape-symlink",
        FailureKind::GuestError,
        &["/data/escape-link"],
    );
}

#[test]
fn data_dir_is_read_only() {
    let (_t, domain, skill) = hostile();
    let before = std::fs::read(domain.data_dir().join("cran.qry")).expect("read");
    expect_failure(
        &skill,
        &domain,
        "write-data",
        FailureKind::GuestError,
        &["could not write /data/cran.qry"],
    );
    assert_eq!(
        std::fs::read(domain.data_dir().join("cran.qry")).expect("read"),
        before
    );
}

#[test]
fn environment_is_empty() {
    std::env::set_var("HYPER_SECRET_TOKEN", "must-not-leak");
    let (_t, domain, skill) = hostile();
    expect_failure(
        &skill,
        &domain,
        "read-env",
        FailureKind::GuestError,
        &["environment is empty"],
    );
}

#[test]
fn log_and_stdout_floods_are_stopped() {
    let (_t, domain, skill) = hostile();
    expect_failure(
        &skill,
        &domain,
        "log-flood",
        FailureKind::OutputQuota,
        &["log quota"],
    );
    expect_failure(
        &skill,
        &domain,
        "stdout-flood",
        FailureKind::OutputQuota,
        &["stdout"],
    );
}

#[test]
fn panic_is_reported_with_its_message() {
    let (_t, domain, skill) = hostile();
    expect_failure(
        &skill,
        &domain,
        "panic",
        FailureKind::Panic,
        &["panicked", "on purpose"],
    );
}

#[test]
fn malformed_artifact_is_rejected_by_the_evaluator() {
    let (_t, domain, skill) = hostile();
    let runtime = runtime();
    let evaluator =
        Evaluator::load(&runtime, &read(fixtures::SEARCH_EVALUATOR)).expect("evaluator");
    let (artifact, _) = skill.run(&domain.skill_policy(), &attack("malformed-artifact"), None);
    let artifact = artifact.expect("the skill itself succeeds");
    let failure = evaluator
        .score(&domain.evaluator_policy(), &artifact, Split::Validation)
        .expect_err("must be rejected");
    assert_eq!(failure.kind, FailureKind::BadArtifact);
    assert!(
        failure.reason.contains("UTF-8") || failure.reason.contains("line 1"),
        "{}",
        failure.reason
    );
}

#[test]
fn sockets_import_is_refused_at_load_naming_the_import() {
    let failure = Skill::load(&runtime(), &read(fixtures::HOSTILE_SOCKETS))
        .err()
        .expect("must be refused");
    assert_eq!(failure.kind, FailureKind::Refused);
    assert!(
        failure.reason.contains("refused import `wasi:sockets/"),
        "{}",
        failure.reason
    );
}

#[test]
fn inert_sockets_link_but_deny_every_network_use() {
    let (_t, domain, _) = hostile();
    let options = hyper_runtime::LoadOptions {
        inert_sockets: true,
    };
    let skill = Skill::load_with(&runtime(), &read(fixtures::HOSTILE_SOCKETS), options)
        .expect("loads with inert sockets");
    let (result, _) = skill.run(&domain.skill_policy(), &attack("none"), None);
    let failure = result.expect_err("name lookup must be denied");
    assert_eq!(failure.kind, FailureKind::GuestError);
    assert!(
        failure.reason.contains("network denied"),
        "{}",
        failure.reason
    );
}

#[test]
fn garbage_components_are_refused_with_a_reason() {
    let runtime = runtime();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "not a WebAssembly file"),
        (
            "text",
            b"hello world, not wasm".to_vec(),
            "not a WebAssembly file",
        ),
        (
            "core module",
            b"\0asm\x01\0\0\0".to_vec(),
            "core WebAssembly module",
        ),
        (
            "truncated",
            read(fixtures::TRIVIAL)[..4000].to_vec(),
            "invalid component",
        ),
    ];
    for (what, bytes, words) in cases {
        let failure = Skill::load(&runtime, &bytes)
            .err()
            .unwrap_or_else(|| panic!("{what} loaded"));
        assert_eq!(failure.kind, FailureKind::Refused, "{what}");
        assert!(failure.reason.contains(words), "{what}: {}", failure.reason);
    }
    // A component for an API version this host does not run.
    let failure = Skill::load(&runtime, &read(fixtures::FUTURE_API))
        .err()
        .expect("0.2 is refused");
    assert!(
        failure.reason.contains("targets hyper:research@0.2.0"),
        "{}",
        failure.reason
    );
    // The right kind of component for the wrong world.
    let failure = Skill::load(&runtime, &read(fixtures::SEARCH_EVALUATOR))
        .err()
        .expect("evaluator is not a skill");
    assert!(
        failure
            .reason
            .contains("`evaluator` component, expected a `research-skill`"),
        "{}",
        failure.reason
    );
}

#[test]
fn host_survives_every_attack_in_one_process() {
    let (_t, domain, skill) = hostile();
    let policy = domain.skill_policy();
    for name in [
        "memory-bomb",
        "deep-recursion",
        "panic",
        "log-flood",
        "stdout-flood",
        "infinite-loop",
    ] {
        let (result, _) = skill.run(&policy, &attack(name), None);
        assert!(result.is_err(), "{name}");
    }
    let (result, _) = skill.run(&policy, &attack("none"), None);
    assert_eq!(
        result.expect("a harmless call still works").bytes,
        b"1\t184\t1\t1.0\n"
    );
}

#[test]
fn random_and_clocks_are_seeded() {
    let (_t, home) = temp_home();
    let domain = search_domain(&home);
    let skill = Skill::load(&runtime(), &read(fixtures::TRIVIAL)).expect("trivial");
    let entropy = |seed| {
        let s = spec(
            "entropy",
            seed,
            &[
                ("calls", ParamValue::Int(0)),
                ("entropy", ParamValue::Flag(true)),
            ],
        );
        skill
            .run(&domain.skill_policy(), &s, None)
            .0
            .expect("entropy run")
            .bytes
    };
    assert_eq!(
        entropy(7),
        entropy(7),
        "same seed, same random bytes and clock readings"
    );
    assert_ne!(entropy(7), entropy(8), "another seed, other random bytes");
}

#[test]
fn search_skill_is_deterministic() {
    let (_t, home) = temp_home();
    let domain = search_domain(&home);
    let skill = Skill::load(&runtime(), &read(fixtures::SEARCH_BM25)).expect("bm25");
    let info = skill.describe(&domain.skill_policy()).expect("describe");
    let space = hyper_research::Space::new(info.params).expect("space");
    let s = hyper_runtime::ExperimentSpec {
        id: "det".into(),
        domain: "search".into(),
        params: space.to_wit(&space.defaults()),
        seed: 3,
        parent: None,
    };
    let a = skill
        .run(&domain.skill_policy(), &s, None)
        .0
        .expect("run 1");
    let b = skill
        .run(&domain.skill_policy(), &s, None)
        .0
        .expect("run 2");
    assert_eq!(a.bytes, b.bytes);
}

#[test]
fn fuel_budget_stops_a_loop_and_counts_deterministically() {
    let runtime = hyper_runtime::Runtime::new(hyper_runtime::RuntimeConfig {
        fuel: true,
        ..Default::default()
    })
    .expect("runtime with fuel");
    let (_t, home) = temp_home();
    let domain = search_domain_with_budget(&home, 30, 64);
    let skill = Skill::load(&runtime, &read(fixtures::HOSTILE)).expect("hostile");
    let policy = hyper_runtime::SandboxPolicy {
        fuel: Some(20_000_000),
        ..domain.skill_policy()
    };
    let start = std::time::Instant::now();
    let (result, _) = skill.run(&policy, &attack("infinite-loop"), None);
    let failure = result.expect_err("must run out of fuel");
    assert_eq!(failure.kind, FailureKind::OutOfFuel, "{failure:?}");
    assert!(failure.reason.contains("20000000"), "{}", failure.reason);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "fuel, not the 30 s deadline, stopped it"
    );
    let fuel = |_| {
        skill
            .run(&policy, &attack("none"), None)
            .1
            .fuel_consumed
            .expect("fuel counted")
    };
    let (a, b) = (fuel(0), fuel(1));
    assert!(a > 0);
    assert_eq!(a, b, "the same call consumes the same fuel");
}

#[test]
fn compiled_components_are_cached_on_disk_and_bad_entries_recompiled() {
    let cache = tempfile::tempdir().expect("tmp");
    let config = hyper_runtime::RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(cache.path())
            .expect("cache dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .collect()
    };
    let bytes = read(fixtures::TRIVIAL);
    let skill = Skill::load(
        &hyper_runtime::Runtime::new(config.clone()).expect("rt1"),
        &bytes,
    )
    .expect("first load compiles");
    let files = entries();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0]
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(skill.hash())),
        "keyed by content hash"
    );
    let modified = std::fs::metadata(&files[0])
        .and_then(|m| m.modified())
        .expect("mtime");
    // A second runtime (another process, say) loads the compiled code instead of compiling.
    let again = Skill::load(
        &hyper_runtime::Runtime::new(config.clone()).expect("rt2"),
        &bytes,
    )
    .expect("cached load");
    assert_eq!(
        std::fs::metadata(&files[0])
            .and_then(|m| m.modified())
            .expect("mtime"),
        modified,
        "not rewritten"
    );
    assert!(again
        .describe(&hyper_runtime::SandboxPolicy::default())
        .is_ok());
    // A corrupted entry is discarded and recompiled, never trusted. (Nothing maps it any more:
    // entries in use are only ever replaced by rename.)
    drop((skill, again));
    std::fs::write(&files[0], b"garbage").expect("corrupt");
    let third = Skill::load(&hyper_runtime::Runtime::new(config).expect("rt3"), &bytes)
        .expect("recompiles");
    assert!(third
        .describe(&hyper_runtime::SandboxPolicy::default())
        .is_ok());
    assert!(
        std::fs::read(&files[0]).expect("entry").len() > 1000,
        "entry rewritten"
    );
}

#[test]
fn scratch_starts_empty_for_every_experiment() {
    let (_t, domain, skill) = hostile();
    let policy = domain.skill_policy();
    for round in 0..3 {
        // A harmless call in between leaves its (empty) scratch dir for reuse.
        skill.run(&policy, &attack("none"), None).0.expect("none");
        let (result, _) = skill.run(&policy, &attack("scratch-snoop"), None);
        let artifact = result.expect("snoop runs");
        assert_eq!(artifact.media_type, "snoop/scratch");
        assert!(
            artifact.bytes.is_empty(),
            "round {round}: saw {:?}",
            String::from_utf8_lossy(&artifact.bytes)
        );
    }
}
