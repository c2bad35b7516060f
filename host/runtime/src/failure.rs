//! Every way a guest call can fail, turned into a kind and a sentence a user can act on.
//!
//! The kind comes from what the host knows for certain — wasmtime's trap codes, the host's own
//! typed limits ([`Exceeded`], raised by the capability units and the store limiter), a full
//! resource table, `exit` — and never from text: a guest controls its stderr, its error
//! messages and its panic messages, and could otherwise claim any failure it liked. Guest text
//! appears only as the guest's own words, bounded.

use std::fmt;

use wasmtime::component::ResourceTableError;
use wasmtime::Trap;

use crate::host::RunReport;
use crate::limits::{bound_text, Exceeded};
use crate::policy::SandboxPolicy;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Refused before running: not a component, wrong world or version, an import the policy
    /// does not grant.
    Refused,
    /// Ran past its wall-clock deadline (in wasm or inside a host call).
    Deadline,
    /// Ran out of fuel.
    OutOfFuel,
    /// Tried to grow memory (or tables, instances) past its limit.
    Memory,
    /// Overflowed the wasm stack.
    StackOverflow,
    /// Panicked (Rust) or aborted.
    Panic,
    /// Exceeded its log or stdout/stderr quota, its copy budget, or returned too much.
    OutputQuota,
    /// Exceeded another resource quota: /scratch bytes or files, open files, host resources,
    /// host tensor memory or compute, GPU.
    Quota,
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

impl Exceeded {
    pub fn kind(&self) -> FailureKind {
        match self {
            Exceeded::Deadline { .. } => FailureKind::Deadline,
            Exceeded::Memory { .. } | Exceeded::StoreLimit { .. } => FailureKind::Memory,
            Exceeded::Log { .. }
            | Exceeded::Stdio { .. }
            | Exceeded::Copy { .. }
            | Exceeded::Output { .. } => FailureKind::OutputQuota,
            Exceeded::ScratchBytes { .. }
            | Exceeded::ScratchFiles { .. }
            | Exceeded::Handles { .. }
            | Exceeded::Tensor(_)
            | Exceeded::Gpu(_) => FailureKind::Quota,
        }
    }
}

impl Failure {
    pub fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Failure {
            kind,
            reason: reason.into(),
            stderr_tail: None,
        }
    }

    /// The guest returned an error value. If the host had refused a quota during the call,
    /// that is what happened, whatever words the guest chose.
    pub(crate) fn guest_error(words: String, report: &RunReport) -> Self {
        match report.refusals.first() {
            Some(refusal) => Failure {
                kind: refusal.kind(),
                reason: format!("{refusal}; the guest then failed: {words}"),
                stderr_tail: tail(&report.stderr),
            },
            None => Failure::new(FailureKind::GuestError, words),
        }
    }

    /// Classifies an error from instantiating or calling a guest.
    pub(crate) fn from_call_error(
        error: wasmtime::Error,
        policy: &SandboxPolicy,
        report: &RunReport,
    ) -> Self {
        let stderr_tail = tail(&report.stderr);
        let exceeded = error.downcast_ref::<Exceeded>().cloned().or_else(|| {
            error
                .chain()
                .find_map(|e| e.downcast_ref::<Exceeded>().cloned())
        });
        let table_full = error
            .downcast_ref::<ResourceTableError>()
            .is_some_and(|e| matches!(e, ResourceTableError::Full))
            || error.chain().any(|e| {
                matches!(
                    e.downcast_ref::<ResourceTableError>(),
                    Some(ResourceTableError::Full)
                )
            });
        let (kind, reason) = if let Some(e) = exceeded {
            (e.kind(), e.to_string())
        } else if table_full {
            (
                FailureKind::Quota,
                format!(
                    "held more than {} host resources at once (files, streams, pollables, tensors, buffers)",
                    policy.handles
                ),
            )
        } else if let Some(trap) = error.downcast_ref::<Trap>() {
            match trap {
                Trap::Interrupt => (
                    FailureKind::Deadline,
                    format!(
                        "exceeded its wall-clock deadline of {:.1?} (stopped in wasm)",
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
                // The trap code says it aborted; the message, if any, is the guest's own
                // (from its stderr) and labelled as such.
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
        } else {
            // An error the host or wasmtime raised without a type of ours (instance limits,
            // a failed instantiation): its root cause, not the backtrace context around it.
            (
                FailureKind::Trap,
                format!("trapped: {}", first_line(&error.root_cause().to_string())),
            )
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
    bound_text(s.lines().next().unwrap_or(s), 300)
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
    let (message, location) = (bound_text(message, 1024), bound_text(&location, 256));
    Some(if message.is_empty() {
        location
    } else {
        format!("{message} (at {location})")
    })
}
