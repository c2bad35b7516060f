//! Every way a guest call can fail, turned into a kind and a sentence a user can act on.

use std::fmt;

use wasmtime::Trap;

use crate::host::{RunReport, LOG_QUOTA};
use crate::policy::SandboxPolicy;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Refused before running: not a component, wrong world or version, an import the policy
    /// does not grant.
    Refused,
    /// Ran past its wall-clock deadline.
    Deadline,
    /// Ran out of fuel.
    OutOfFuel,
    /// Tried to grow memory (or tables, instances) past its limit.
    Memory,
    /// Overflowed the wasm stack.
    StackOverflow,
    /// Panicked (Rust) or aborted.
    Panic,
    /// Exceeded its log or stdout/stderr quota.
    OutputQuota,
    /// Any other trap.
    Trap,
    /// Returned an error value (the skill's own words).
    GuestError,
    /// Produced something the evaluator or host rejects.
    BadArtifact,
    /// Called `exit`.
    Exit,
    /// Something went wrong in the host around the call (e.g. the data dir is missing).
    Host,
}

/// A failed guest call. `reason` is one readable sentence; `stderr_tail` keeps the last lines
/// the guest printed, which usually say why.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub reason: String,
    pub stderr_tail: Option<String>,
}

impl Failure {
    pub fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Failure {
            kind,
            reason: reason.into(),
            stderr_tail: None,
        }
    }

    /// Classifies an error from instantiating or calling a guest.
    pub(crate) fn from_call_error(
        error: wasmtime::Error,
        policy: &SandboxPolicy,
        report: &RunReport,
    ) -> Self {
        let chain: Vec<String> = error.chain().map(|e| e.to_string()).collect();
        let all = chain.join(": ");
        let stderr_tail = tail(&report.stderr);
        // When the stdout/stderr pipe is full, WASI returns an error to the guest rather than
        // trapping; Rust's `println!` then panics with "failed printing to stdout".
        let pipe_full = |captured: &[u8]| captured.len() + 64 * 1024 >= policy.stdio_bytes;
        let hit_stdio_quota = (pipe_full(&report.stdout) || pipe_full(&report.stderr))
            && stderr_tail
                .as_deref()
                .is_some_and(|t| t.contains("failed printing to std"));
        let (kind, reason) =
            if hit_stdio_quota || all.contains("write beyond capacity of MemoryOutputPipe") {
                (
                    FailureKind::OutputQuota,
                    format!(
                        "wrote more than {} bytes to stdout or stderr",
                        policy.stdio_bytes
                    ),
                )
            } else if let Some(trap) = error.downcast_ref::<Trap>() {
                match trap {
                    Trap::Interrupt => (
                        FailureKind::Deadline,
                        format!(
                            "exceeded its wall-clock deadline of {:.1?}",
                            policy.deadline
                        ),
                    ),
                    Trap::OutOfFuel => (
                        FailureKind::OutOfFuel,
                        format!(
                            "ran out of fuel (budget {} units)",
                            policy.fuel.unwrap_or(0)
                        ),
                    ),
                    Trap::StackOverflow => (
                        FailureKind::StackOverflow,
                        "overflowed the wasm stack (runaway recursion)".to_string(),
                    ),
                    Trap::UnreachableCodeReached => {
                        match stderr_tail.as_deref().and_then(panic_message) {
                            Some(message) => (FailureKind::Panic, format!("panicked: {message}")),
                            None => (
                                FailureKind::Panic,
                                "aborted (wasm `unreachable` reached)".to_string(),
                            ),
                        }
                    }
                    other => (FailureKind::Trap, format!("trapped: {other}")),
                }
            } else if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
                (FailureKind::Exit, format!("called exit({})", exit.0))
            } else if all.contains("forcing trap when growing memory")
                || all.contains("memory minimum size")
            {
                (
                    FailureKind::Memory,
                    format!(
                        "tried to use more than its memory limit of {} MiB",
                        policy.memory_bytes >> 20
                    ),
                )
            } else if all.contains("forcing trap when growing table")
                || all.contains("instance count too high")
                || all.contains("resource limit exceeded")
            {
                (
                    FailureKind::Memory,
                    format!("exceeded a store limit: {}", first_line(&all)),
                )
            } else if all.contains(LOG_QUOTA) {
                (
                    FailureKind::OutputQuota,
                    format!("exceeded its log quota of {} bytes", policy.log_bytes),
                )
            } else if all.contains("write beyond capacity of MemoryOutputPipe") {
                (
                    FailureKind::OutputQuota,
                    format!(
                        "wrote more than {} bytes to stdout or stderr",
                        policy.stdio_bytes
                    ),
                )
            } else {
                (FailureKind::Trap, format!("trapped: {}", first_line(&all)))
            };
        Failure {
            kind,
            reason,
            stderr_tail,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.reason)
    }
}

impl std::error::Error for Failure {}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s);
    line.chars().take(300).collect()
}

/// The last ~20 lines (≤ 2 KiB) of captured stderr, if any.
fn tail(stderr: &[u8]) -> Option<String> {
    if stderr.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(20);
    let mut out = lines[start..].join("\n");
    if out.len() > 2048 {
        let mut cut = out.len() - 2048;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = out[cut..].to_string();
    }
    Some(out)
}

/// Pulls the message out of Rust's "panicked at file:line:col:\nmessage".
fn panic_message(stderr: &str) -> Option<String> {
    let at = stderr.find("panicked at")?;
    let rest = &stderr[at..];
    let mut lines = rest.lines();
    let location = lines
        .next()?
        .trim_start_matches("panicked at ")
        .trim_end_matches(':')
        .to_string();
    let message = lines.next().unwrap_or("").trim();
    Some(if message.is_empty() {
        location
    } else {
        format!("{message} (at {location})")
    })
}
