//! The benchmarks' command-line flags (`--name VALUE`, `--switch`). A value that does not
//! parse, or a flag given without one, stops the benchmark with a sentence naming the flag
//! and exit status 2: a typo (`--budget 4o`) must not run for an hour on the default instead.

use std::fmt::Display;
use std::str::FromStr;

/// Stops the benchmark with `message` on stderr and exit status 2 (a usage error).
pub fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

fn args() -> Vec<String> {
    std::env::args().collect()
}

/// Whether `--name` was given.
pub fn switch(name: &str) -> bool {
    args().iter().any(|a| a == name)
}

/// The text after `--name`, None when the flag is absent.
pub fn text(name: &str) -> Option<String> {
    let args = args();
    let at = args.iter().position(|a| a == name)?;
    match args.get(at + 1) {
        Some(v) if !v.starts_with("--") => Some(v.clone()),
        _ => fail(&format!("{name} needs a value")),
    }
}

/// `text` parsed as `T`, `default` when the flag is absent.
pub fn value<T: FromStr>(name: &str, default: T) -> T
where
    T::Err: Display,
{
    text(name).map_or(default, |v| parse(name, &v))
}

/// A comma-separated list after `--name` (`default` when absent), each item parsed as `T`.
pub fn list<T: FromStr>(name: &str, default: &str) -> Vec<T>
where
    T::Err: Display,
{
    let v = text(name).unwrap_or_else(|| default.to_string());
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| parse(name, s))
        .collect()
}

/// `v` parsed as `T`, or a stop naming the flag `name` and the value.
pub fn parse<T: FromStr>(name: &str, v: &str) -> T
where
    T::Err: Display,
{
    v.parse()
        .unwrap_or_else(|e| fail(&format!("{name}: {v:?} is not valid: {e}")))
}

/// What a benchmark reads from outside — a data file, a guest's answer, a node or a socket —
/// stops it, when it fails, with a sentence naming what and why and exit status 1, not a
/// panic and a backtrace.
pub trait OrExit<T> {
    fn or_exit(self, what: &str) -> T;
}

impl<T, E: Display> OrExit<T> for Result<T, E> {
    fn or_exit(self, what: &str) -> T {
        self.unwrap_or_else(|e| {
            eprintln!("error: {what}: {e}");
            std::process::exit(1)
        })
    }
}

impl<T> OrExit<T> for Option<T> {
    fn or_exit(self, what: &str) -> T {
        self.unwrap_or_else(|| {
            eprintln!("error: {what}: missing");
            std::process::exit(1)
        })
    }
}
