//! Capability `guest-io`: the `hyper:research` imports `log` and `progress` (and the shared
//! `types`). Both are metered: every byte a guest passes counts against the call's copy
//! budget (`SandboxPolicy::copy_bytes`), log messages against `log_bytes`, and a progress
//! report may carry at most [`MAX_PROGRESS_METRICS`] metrics with names of at most
//! [`MAX_NAME_BYTES`]. What is kept is bounded text.

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::v0_1_0::{log, progress, types};
use crate::host::{HostState, LogRecord};
use crate::limits::{bound_text, Exceeded};

/// Metrics one progress report may carry.
pub(crate) const MAX_PROGRESS_METRICS: usize = 64;
/// Longest metric or parameter name the host accepts from a guest.
pub(crate) const MAX_NAME_BYTES: usize = 128;
/// Longest single log message kept (the rest is cut, with a note).
const MAX_KEPT_MESSAGE: usize = 16 << 10;

pub(crate) fn link_log(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    types::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)?;
    log::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)
}

pub(crate) fn link_progress(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    progress::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.meter.copy("log", message.len())?;
        self.log_bytes = self.log_bytes.saturating_add(message.len());
        if self.log_bytes > self.log_budget {
            return Err(Exceeded::Log {
                limit: self.log_budget,
                len: message.len(),
            }
            .trap());
        }
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        let message = bound_text(&message, MAX_KEPT_MESSAGE);
        tracing::debug!(target: "hyper::guest", level, "{message}");
        self.logs.push(LogRecord { level, message });
        Ok(())
    }
}

impl progress::Host for HostState {
    fn report(
        &mut self,
        step: u32,
        total: u32,
        metrics: Vec<types::Metric>,
    ) -> wasmtime::Result<()> {
        let bytes: usize = metrics.iter().map(|m| m.name.len() + 9).sum();
        self.meter.copy("progress.report", bytes)?;
        if metrics.len() > MAX_PROGRESS_METRICS {
            return Err(Exceeded::Output {
                call: "progress.report (metrics)",
                len: metrics.len() as u64,
                limit: MAX_PROGRESS_METRICS as u64,
            }
            .trap());
        }
        if let Some(long) = metrics.iter().find(|m| m.name.len() > MAX_NAME_BYTES) {
            return Err(Exceeded::Output {
                call: "progress.report (metric name)",
                len: long.name.len() as u64,
                limit: MAX_NAME_BYTES as u64,
            }
            .trap());
        }
        if let Some(callback) = self.progress.as_mut() {
            callback(step, total, &metrics);
        }
        Ok(())
    }
}

impl types::Host for HostState {}
