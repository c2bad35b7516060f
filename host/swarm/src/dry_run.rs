//! Dry runs of a decoder on a peer's bytes in a forked copy of this process, so that what
//! would kill the process kills only the copy.
//!
//! Why a process and not `catch_unwind`: some failures do not unwind. Loro 1.17's decoders
//! call `Vec::with_capacity(n)` with an `n` read from the bytes (see
//! `tests/fuzz/corpus/board_update/loro-alloc-28TB`); an allocation that fails aborts the
//! process, and so does a stack overflow. Patching one call site in a vendored copy would
//! close one path of that class; a dry run in a child closes the class — any abort, any
//! fatal signal, a decoder that loops or eats memory — whatever decoder sits underneath.
//!
//! The child is a `fork` of the caller: it holds the very state the real import will meet
//! (copy-on-write, so nothing is copied until written), runs only the decoding, and leaves
//! with `_exit`. After `fork` only the calling thread exists in the child, so the dry run
//! must take no lock another thread may hold (the callers run only Loro's decoders on a
//! document whose lock they hold, and allocate; glibc's malloc is fork-safe). If it ever
//! blocks, the time bound ends it and the update is refused, which is safe.
//!
//! Bounds: the child's address space is limited to the parent's at the fork plus
//! [`Limits::memory`], and it is killed after [`Limits::time`]. Where `fork` is not
//! available (not Unix) the dry run is skipped and the caller runs the decoder as before.

use std::time::{Duration, Instant};

/// What a dry run may use.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Address space the child may add to what the parent had mapped at the fork.
    pub memory: u64,
    /// Wall-clock time the child may run.
    pub time: Duration,
}

/// Why a dry run refused the bytes, or could not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DryRunError {
    #[error("the decoder crashed on it in a dry run (signal {signal}{}), which would have killed the node", signal_name(.signal))]
    Crashed { signal: i32 },
    #[error("the decoder's dry run ended with status {0}")]
    Exited(i32),
    #[error("the decoder's dry run took longer than {0:?}")]
    TimedOut(Duration),
    /// The child could not be started or waited for: refused, since the bytes are unchecked.
    #[error("no dry run possible ({0}), so the bytes stay unchecked")]
    Unavailable(String),
}

fn signal_name(signal: &i32) -> &'static str {
    #[cfg(unix)]
    match *signal {
        libc::SIGABRT => ": abort, e.g. an allocation the size the bytes asked for failed",
        libc::SIGSEGV => ": segmentation fault, e.g. a stack overflow",
        libc::SIGKILL => ": killed, e.g. by the kernel's out-of-memory killer",
        libc::SIGILL | libc::SIGTRAP => ": an illegal instruction (Rust's abort)",
        _ => "",
    }
    #[cfg(not(unix))]
    {
        let _ = signal;
        ""
    }
}

/// Runs `decode` in a forked child within `limits`; `Ok` when it returned (whatever it
/// returned: the caller runs the decoder itself next and sees its errors and panics).
#[cfg(unix)]
pub fn dry_run(limits: Limits, decode: impl FnOnce()) -> Result<(), DryRunError> {
    // Computed before the fork: the child should do as little as possible besides decoding.
    let address_space = mapped_bytes().map(|now| now.saturating_add(limits.memory));
    // SAFETY: fork has no memory-safety preconditions of its own; what the child may do
    // afterwards (only the calling thread exists there) is the contract of this module's
    // callers, stated above, and the child never returns from this block.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(DryRunError::Unavailable(format!(
            "fork: {}",
            std::io::Error::last_os_error()
        ))),
        0 => child(address_space, decode),
        pid => wait(pid, limits.time),
    }
}

#[cfg(not(unix))]
pub fn dry_run(_limits: Limits, _decode: impl FnOnce()) -> Result<(), DryRunError> {
    Ok(())
}

/// The child: default handlers for fatal signals (a fuzzer's or wasmtime's handler must not
/// act on the child's crash as on its own), the memory limit, the decoder, `_exit`.
#[cfg(unix)]
fn child(address_space: Option<u64>, decode: impl FnOnce()) -> ! {
    // SAFETY: signal, setrlimit and _exit are async-signal-safe, which is all a forked child
    // of a multi-threaded process may rely on before it runs the decoder.
    unsafe {
        for signal in [
            libc::SIGABRT,
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGTRAP,
        ] {
            libc::signal(signal, libc::SIG_DFL);
        }
        if let Some(bytes) = address_space {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
        }
    }
    // A panic is the caller's to see when it runs the decoder itself (it catches panics);
    // here it must not unwind out of the child into the caller's frames, nor be reported:
    // the default hook would symbolise a backtrace, which maps the binary's debug
    // information, past the memory limit (seen: the child then hung until killed).
    std::panic::set_hook(Box::new(|_| {}));
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode));
    // SAFETY: ends the child without running the parent's atexit handlers or flushing its
    // buffers twice.
    unsafe { libc::_exit(0) }
}

/// Waits for the child until `time` has passed, then kills it.
#[cfg(unix)]
fn wait(pid: libc::pid_t, time: Duration) -> Result<(), DryRunError> {
    let start = Instant::now();
    #[cfg(target_os = "linux")]
    wait_for_exit(pid, time);
    let mut pause = Duration::from_micros(200);
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        match done {
            0 if start.elapsed() >= time => {
                // SAFETY: our own child, not yet reaped, so the pid is still ours.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                return Err(DryRunError::TimedOut(time));
            }
            0 => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            -1 if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            -1 => {
                return Err(DryRunError::Unavailable(format!(
                    "waitpid: {}",
                    std::io::Error::last_os_error()
                )))
            }
            _ if libc::WIFEXITED(status) => {
                return match libc::WEXITSTATUS(status) {
                    0 => Ok(()),
                    code => Err(DryRunError::Exited(code)),
                }
            }
            _ if libc::WIFSIGNALED(status) => {
                return Err(DryRunError::Crashed {
                    signal: libc::WTERMSIG(status),
                })
            }
            // Stopped or continued (a debugger): keep waiting.
            _ => {}
        }
    }
}

/// Sleeps until the child has exited or `time` has passed, woken by the kernel (a pidfd) at
/// the moment it exits: a dry run costs the fork and the decoding, not a polling interval.
/// Where pidfds are missing (Linux < 5.3) it returns at once and `wait` polls.
#[cfg(target_os = "linux")]
fn wait_for_exit(pid: libc::pid_t, time: Duration) {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let Ok(fd) = libc::c_int::try_from(fd) else {
        return;
    };
    if fd < 0 {
        return;
    }
    let deadline = Instant::now() + time;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis() + 1).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd; the descriptor is ours until closed below.
        let ready = unsafe { libc::poll(&mut poll, 1, ms) };
        let interrupted = ready == -1
            && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted;
        if !interrupted || left.is_zero() {
            break;
        }
    }
    // SAFETY: closes the descriptor opened above, once.
    unsafe { libc::close(fd) };
}

/// The address space this process has mapped now (Linux: `/proc/self/statm`); None where
/// unknown, and then the child runs without a memory limit, bounded by time alone.
#[cfg(unix)]
fn mapped_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(page).ok().map(|p| pages.saturating_mul(p))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        memory: 256 << 20,
        time: Duration::from_secs(10),
    };

    #[test]
    fn a_decoder_that_returns_passes() {
        assert_eq!(dry_run(LIMITS, || {}), Ok(()));
        // A panic is left to the caller, who runs the decoder itself under catch_unwind.
        assert_eq!(dry_run(LIMITS, || panic!("malformed")), Ok(()));
    }

    #[test]
    fn an_allocation_past_the_limit_kills_only_the_child() {
        let huge = std::hint::black_box(28_312_424_415_224usize);
        let outcome = dry_run(LIMITS, || {
            let v: Vec<u8> = Vec::with_capacity(huge);
            std::hint::black_box(v);
        });
        assert_eq!(
            outcome,
            Err(DryRunError::Crashed {
                signal: libc::SIGABRT
            })
        );
        // Within the limit, but more than the limit allows once touched.
        let outcome = dry_run(LIMITS, || {
            let v = vec![1u8; 512 << 20];
            std::hint::black_box(v);
        });
        assert!(
            matches!(outcome, Err(DryRunError::Crashed { .. })),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_stack_overflow_and_a_hang_are_contained() {
        fn deep(n: u64) -> u64 {
            if n == u64::MAX {
                return 0;
            }
            let pad = std::hint::black_box([n; 64]);
            deep(n + 1) + pad[3]
        }
        let outcome = dry_run(LIMITS, || {
            std::hint::black_box(deep(0));
        });
        assert!(
            matches!(outcome, Err(DryRunError::Crashed { .. })),
            "{outcome:?}"
        );
        let short = Limits {
            time: Duration::from_millis(300),
            ..LIMITS
        };
        let start = Instant::now();
        let outcome = dry_run(short, || loop {
            std::hint::black_box(());
        });
        assert_eq!(outcome, Err(DryRunError::TimedOut(short.time)));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
