//! Typed sandbox limits. Every bound a guest can hit is raised by the host as an [`Exceeded`]
//! value (inside a trap, or recorded when a quota is refused as an error value), so a failure
//! is classified by type and never by matching text: a guest can print any text it likes.
//!
//! [`Meter`] is the per-call part every capability shares: the call's wall-clock deadline
//! (checked at the start of every host call, so a guest blocked in the host still stops) and
//! the bytes copied between guest and host.

use std::time::{Duration, Instant};

/// A limit the guest ran into: which one, its value, and in which call.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Exceeded {
    #[error("exceeded its wall-clock deadline of {deadline:.1?} (stopped in {call})")]
    Deadline {
        deadline: Duration,
        call: &'static str,
    },
    #[error("tried to use more than its memory limit of {} MiB", limit >> 20)]
    Memory { limit: usize },
    #[error("exceeded a store limit: more than {limit} {what}")]
    StoreLimit { what: &'static str, limit: usize },
    #[error("exceeded its log quota of {limit} bytes (log call of {len} bytes)")]
    Log { limit: usize, len: usize },
    #[error("wrote more than {limit} bytes to {stream}")]
    Stdio { stream: &'static str, limit: usize },
    #[error("exceeded its /scratch quota of {limit} bytes ({what})")]
    ScratchBytes { limit: u64, what: String },
    #[error("exceeded its /scratch quota of {limit} files and directories")]
    ScratchFiles { limit: u64 },
    #[error("held more than {limit} host resources at once (files, directory streams, pollables, tensors, buffers) in {call}")]
    Handles { limit: usize, call: &'static str },
    #[error(
        "copied more than {limit} bytes between guest and host in one call ({len} bytes in {call})"
    )]
    Copy {
        limit: u64,
        len: u64,
        call: &'static str,
    },
    #[error("{call} returned {len} bytes, more than the {limit} allowed")]
    Output {
        call: &'static str,
        len: u64,
        limit: u64,
    },
    #[error("{0}")]
    Tensor(String),
    #[error("{0}")]
    Gpu(String),
}

impl Exceeded {
    pub(crate) fn trap(self) -> wasmtime::Error {
        wasmtime::Error::new(self)
    }
}

/// The call-wide meter: deadline and copy budget, shared by every capability of one call.
pub(crate) struct Meter {
    started: Instant,
    deadline: Duration,
    copy_limit: u64,
    copied: u64,
    /// Quotas the host refused as error values during the call (the guest may have turned
    /// them into its own error): the first few, for the failure's reason.
    pub(crate) refusals: Vec<Exceeded>,
}

impl Meter {
    pub(crate) fn new(deadline: Duration, copy_limit: u64) -> Self {
        Meter {
            started: Instant::now(),
            deadline,
            copy_limit,
            copied: 0,
            refusals: Vec::new(),
        }
    }

    /// Time left before the deadline (zero once past it).
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_sub(self.started.elapsed())
    }

    /// Traps once the deadline has passed: every host call starts with this, so a guest that
    /// keeps calling the host (or returns from a long host op) stops there.
    pub(crate) fn check(&self, call: &'static str) -> wasmtime::Result<()> {
        if self.started.elapsed() >= self.deadline {
            return Err(Exceeded::Deadline {
                deadline: self.deadline,
                call,
            }
            .trap());
        }
        Ok(())
    }

    /// Counts `len` bytes crossing the boundary in `call`; traps past the call's budget.
    pub(crate) fn copy(&mut self, call: &'static str, len: usize) -> wasmtime::Result<()> {
        self.check(call)?;
        self.copied = self.copied.saturating_add(len as u64);
        if self.copied > self.copy_limit {
            return Err(Exceeded::Copy {
                limit: self.copy_limit,
                len: len as u64,
                call,
            }
            .trap());
        }
        Ok(())
    }

    /// Notes a quota the host refused as an error value.
    pub(crate) fn refused(&mut self, what: Exceeded) {
        if self.refusals.len() < 4 {
            self.refusals.push(what);
        }
    }
}

/// At most `max` bytes of guest text, cut at a character boundary, with a note of how much
/// was left out. Everything a guest says passes through this before the journal, a record or
/// the terminal sees it.
pub fn bound_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… [{} more bytes]", &text[..cut], text.len() - cut)
}

/// Guest text made safe for a terminal: control characters (ANSI escapes, carriage returns,
/// bidi overrides) are shown escaped instead of being interpreted. Newlines and tabs stay.
pub fn escape_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if (c.is_control() && c != '\n' && c != '\t') || bidi {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_bounded_at_a_char_boundary() {
        let s = "é".repeat(10);
        let b = bound_text(&s, 5);
        assert!(b.starts_with("éé"), "{b}");
        assert!(b.contains("[16 more bytes]"), "{b}");
        assert_eq!(bound_text("short", 10), "short");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("a\x1b[31mb"), "a\\u{1b}[31mb");
        assert_eq!(escape_control("x\ry\n"), "x\\u{d}y\n");
        assert_eq!(escape_control("\u{202e}abc"), "\\u{202e}abc");
    }

    #[test]
    fn deadline_and_copy_budget_trap_with_a_typed_error() {
        let mut m = Meter::new(Duration::from_secs(60), 10);
        m.copy("log", 6).expect("within");
        let e = m.copy("log", 6).expect_err("over");
        assert!(matches!(
            e.downcast_ref::<Exceeded>(),
            Some(Exceeded::Copy { limit: 10, .. })
        ));
        let m = Meter::new(Duration::ZERO, 10);
        let e = m.check("tensor.matmul").expect_err("past");
        assert!(e.to_string().contains("tensor.matmul"), "{e}");
    }
}
