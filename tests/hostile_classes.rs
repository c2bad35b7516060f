//! One case per class of attack on the sandbox (issue 12), each through a real component
//! built from source: a guest blocked inside a host call, filling /scratch, holding host
//! descriptors, flooding guest→host copies, oversized guest text, hostile `describe()`
//! output, text that imitates the host's own errors, and host tensors that would take the
//! host down. Each ends with a typed failure kind and a reason that names the limit, within
//! 1 s of the deadline where time is the bound; the host stays up for the next call.

use std::time::{Duration, Instant};

use hyper_runtime::{FailureKind, ParamValue, SandboxPolicy, Skill};
use hyper_tests::*;

/// How far past its deadline a call may end.
const OVERSHOOT: Duration = Duration::from_secs(1);

fn hostile(secs: u64) -> (tempfile::TempDir, hyper_research::Domain, Skill) {
    let (tmp, home) = temp_home();
    let domain = search_domain_with_budget(&home, secs, 64);
    let skill = Skill::load(&runtime(), &read(fixtures::HOSTILE)).expect("hostile loads");
    (tmp, domain, skill)
}

#[test]
fn a_guest_sleeping_in_a_host_call_ends_at_its_deadline() {
    let (_t, domain, skill) = hostile(2);
    let policy = domain.skill_policy();
    // One hour of sleep is virtual: it returns at once, having seen an hour pass.
    let start = Instant::now();
    let (slept, _) = skill.run(&policy, &attack("sleep"), None);
    let slept = slept.expect("a single sleep returns");
    assert_eq!(slept.media_type, "slept/seconds");
    assert!(
        String::from_utf8_lossy(&slept.bytes)
            .parse::<u64>()
            .expect("seconds")
            >= 3600
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // Sleeping forever ends at the 2 s deadline, not after an hour.
    let (_, took) = attack_fails(
        &skill,
        &policy,
        "sleep-loop",
        FailureKind::Deadline,
        &["deadline"],
    );
    let overshoot = took.saturating_sub(policy.deadline);
    println!("sleep-loop: deadline 2 s, ended after {took:?} (overshoot {overshoot:?})");
    assert!(overshoot <= OVERSHOOT, "overshoot {overshoot:?}");
}

#[test]
fn scratch_has_a_byte_and_a_file_quota() {
    let (_t, domain, skill) = hostile(30);
    let policy = SandboxPolicy {
        scratch_bytes: 8 << 20,
        scratch_files: 100,
        ..domain.skill_policy()
    };
    attack_fails(
        &skill,
        &policy,
        "scratch-fill",
        FailureKind::Quota,
        &["/scratch quota of 8388608 bytes"],
    );
    attack_fails(
        &skill,
        &policy,
        "scratch-sparse",
        FailureKind::Quota,
        &["/scratch quota", "set-size"],
    );
    // Overwriting 1 MiB in place 64 times is 1 MiB against the 8 MiB quota.
    let (done, _) = skill.run(&policy, &attack("scratch-overwrite"), None);
    assert_eq!(
        done.expect("in-place rewrites fit").media_type,
        "overwrote/64"
    );
    attack_fails(
        &skill,
        &policy,
        "scratch-files",
        FailureKind::Quota,
        &["100 files"],
    );
    // Nothing is left behind for the next call, which works.
    let (ok, _) = skill.run(&policy, &attack("scratch-snoop"), None);
    assert!(
        ok.expect("snoop").bytes.is_empty(),
        "scratch starts empty again"
    );
}

#[test]
fn open_descriptors_are_bounded() {
    let (_t, domain, skill) = hostile(30);
    let policy = SandboxPolicy {
        open_files: 50,
        ..domain.skill_policy()
    };
    attack_fails(
        &skill,
        &policy,
        "open-files",
        FailureKind::Quota,
        &["more than 50", "open-at"],
    );
    // Directory streams count too (each holds an OS descriptor).
    attack_fails(
        &skill,
        &policy,
        "open-dirs",
        FailureKind::Quota,
        &["more than 50"],
    );
    // Below the descriptor quota, the resource table's own capacity stops the same attack.
    let table = SandboxPolicy {
        handles: 40,
        ..domain.skill_policy()
    };
    attack_fails(
        &skill,
        &table,
        "open-files",
        FailureKind::Quota,
        &["more than 40 host resources"],
    );
}

#[test]
fn the_copy_budget_stops_a_flood_of_small_host_calls() {
    let (_t, domain, skill) = hostile(30);
    // Many 4 KiB log lines: within the log quota, past the copy budget.
    let policy = SandboxPolicy {
        copy_bytes: 64 << 10,
        log_bytes: 1 << 30,
        ..domain.skill_policy()
    };
    attack_fails(
        &skill,
        &policy,
        "log-flood",
        FailureKind::OutputQuota,
        &["copied more than 65536 bytes", "in log"],
    );
}

#[test]
fn guest_text_is_bounded_and_imitated_host_errors_change_nothing() {
    let (_t, domain, skill) = hostile(30);
    let policy = SandboxPolicy {
        memory_bytes: 256 << 20,
        ..domain.skill_policy()
    };
    let (reason, _) = attack_fails(
        &skill,
        &policy,
        "huge-error",
        FailureKind::GuestError,
        &["failed: eee"],
    );
    assert!(
        reason.len() < 5000,
        "a 48 MiB error kept as {} bytes",
        reason.len()
    );
    assert!(reason.contains("more bytes]"), "says it was cut");
    attack_fails(
        &skill,
        &policy,
        "big-log-line",
        FailureKind::OutputQuota,
        &["log quota of 1048576 bytes", "8388608"],
    );
    attack_fails(
        &skill,
        &policy,
        "progress-flood",
        FailureKind::OutputQuota,
        &["progress.report", "100000"],
    );
    // A panic whose stderr imitates the host's quota messages is a panic.
    let (reason, _) = attack_fails(
        &skill,
        &policy,
        "fake-quota-text",
        FailureKind::Panic,
        &["panicked"],
    );
    assert!(!reason.contains("quota of"), "{reason}");
}

#[test]
fn hostile_describe_output_is_refused_or_handled() {
    let (_t, domain, skill) = hostile(30);
    let policy = domain.skill_policy();
    let marker = domain.data_dir().join("hostile-describe");
    let describe = |mode: &str| {
        std::fs::write(&marker, mode).expect("marker");
        skill
            .describe(&policy)
            .map_err(|f| f.reason)
            .and_then(|info| hyper_research::Space::new(info.params))
    };
    let huge = describe("huge").expect_err("2 MB describe refused");
    assert!(
        huge.contains("describe returned") && huge.contains("1048576"),
        "{huge}"
    );
    assert!(describe("dup").expect_err("dup").contains("twice"));
    let ctrl = describe("ctrl").expect_err("ctrl");
    assert!(
        ctrl.contains("\\u{1b}") && !ctrl.contains('\u{1b}'),
        "{ctrl}"
    );
    assert!(describe("nan").expect_err("nan").contains("finite"));
    assert!(describe("log0").expect_err("log0").contains("above 0"));
    // Extreme but finite ranges run: a short loop on them stays inside the bounds.
    let space = describe("wide").expect("wide ranges are legal");
    let mut proposer = hyper_research::MixedProposer::new(3);
    let mut tried = vec![space.defaults()];
    for _ in 0..100 {
        use hyper_research::Proposer;
        let best = tried[tried.len() - 1].clone();
        let next = proposer.propose(&hyper_research::Context::new(&space, &best, &tried));
        assert!(
            matches!(next["wide"], hyper_research::Value::Float(x) if x.is_finite() && x.abs() <= 1e308)
        );
        tried.push(next);
    }
    std::fs::remove_file(&marker).expect("rm");
}

fn tensor_case(
    skill: &Skill,
    policy: &SandboxPolicy,
    case: &str,
) -> (Result<String, hyper_runtime::Failure>, Duration) {
    let start = Instant::now();
    let (result, _) = skill.run(
        policy,
        &spec(
            "t",
            1,
            &[
                ("case", ParamValue::Choice(case.into())),
                ("steps", ParamValue::Int(1)),
            ],
        ),
        None,
    );
    (
        result.map(|a| String::from_utf8_lossy(&a.bytes).into_owned()),
        start.elapsed(),
    )
}

#[test]
fn host_tensors_cannot_take_the_host_down() {
    let skill = Skill::load(&runtime(), &read(fixtures::TENSOR_USER)).expect("tensor skill");
    let policy = SandboxPolicy {
        deadline: Duration::from_secs(3),
        ..SandboxPolicy::default()
    };
    // A broadcast matmul whose copies would need 256 GiB: refused before it runs.
    let (r, took) = tensor_case(&skill, &policy, "broadcast-matmul");
    let f = r.expect_err("refused");
    assert_eq!(f.kind, FailureKind::Quota, "{f:?}");
    assert!(f.reason.contains("tensor memory quota"), "{}", f.reason);
    assert!(took < Duration::from_secs(3), "{took:?}");
    // 2000 tanh on a 4 MiB variable: the graph keeps each input alive, and is counted.
    let small = SandboxPolicy {
        tensor_bytes: 256 << 20,
        ..policy.clone()
    };
    let (r, _) = tensor_case(&skill, &small, "tanh-chain");
    let f = r.expect_err("graph growth refused");
    assert_eq!(f.kind, FailureKind::Quota, "{f:?}");
    assert!(f.reason.contains("tensor memory quota"), "{}", f.reason);
    // One op past the per-op compute cap traps at once.
    let (r, took) = tensor_case(&skill, &policy, "big-matmul");
    let f = r.expect_err("refused");
    assert_eq!(f.kind, FailureKind::Quota, "{f:?}");
    assert!(
        f.reason.contains("compute limit") && f.reason.contains("matmul"),
        "{}",
        f.reason
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Many ops under the cap: stopped at the deadline, between two ops.
    let (r, took) = tensor_case(&skill, &policy, "matmul-loop");
    let f = r.expect_err("deadline");
    assert_eq!(f.kind, FailureKind::Deadline, "{f:?}");
    let overshoot = took.saturating_sub(policy.deadline);
    println!("matmul-loop: deadline 3 s, ended after {took:?} (overshoot {overshoot:?})");
    assert!(overshoot <= OVERSHOOT, "overshoot {overshoot:?}");
    // The host is still up, and a good call still trains.
    let (r, _) = tensor_case(&skill, &policy, "train");
    assert!(r.expect("train").contains("device="));
}
