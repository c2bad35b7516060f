//! Capability `stdio`: `wasi:cli/stdout` and `stderr` captured in memory up to
//! `SandboxPolicy::stdio_bytes` each; stdin is empty and there is no terminal.
//!
//! Past the quota the stream traps with [`Exceeded::Stdio`] instead of returning a closed
//! stream: a guest whose print fails would otherwise panic with a message of its own choosing,
//! and the host would have to guess from that text what happened.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::limits::Exceeded;

/// One captured output stream; clones share the buffer.
#[derive(Clone)]
pub(crate) struct CapturedPipe {
    name: &'static str,
    limit: usize,
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl CapturedPipe {
    /// stdout and stderr of one call, each with the policy's `stdio_bytes`.
    pub(crate) fn pair(policy: &crate::SandboxPolicy) -> (Self, Self) {
        (
            Self::new("stdout", policy.stdio_bytes),
            Self::new("stderr", policy.stdio_bytes),
        )
    }

    fn new(name: &'static str, limit: usize) -> Self {
        CapturedPipe {
            name,
            limit,
            buffer: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub(crate) fn contents(&self) -> Vec<u8> {
        self.buffer.lock().map(|b| b.clone()).unwrap_or_default()
    }

    fn over(&self) -> StreamError {
        StreamError::Trap(
            Exceeded::Stdio {
                stream: self.name,
                limit: self.limit,
            }
            .trap(),
        )
    }

    fn left(&self) -> usize {
        let used = self.buffer.lock().map(|b| b.len()).unwrap_or(self.limit);
        self.limit.saturating_sub(used)
    }

    fn append(&self, bytes: &[u8]) -> Result<(), StreamError> {
        let mut buffer = self
            .buffer
            .lock()
            .map_err(|_| StreamError::trap("stdio buffer poisoned"))?;
        if bytes.len() > self.limit - buffer.len().min(self.limit) {
            drop(buffer);
            return Err(self.over());
        }
        buffer.extend_from_slice(bytes);
        Ok(())
    }
}

impl IsTerminal for CapturedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match self.left() {
            0 => Err(self.over()),
            n => Ok(n),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let n = buf.len().min(self.left());
        if n == 0 && !buf.is_empty() {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "{} quota of {} bytes reached",
                self.name, self.limit
            ))));
        }
        Poll::Ready(
            self.append(&buf[..n])
                .map(|()| n)
                .map_err(|_| std::io::Error::other("stdio quota")),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
