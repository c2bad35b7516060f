//! Capability `clocks`: `wasi:clocks/monotonic-clock` and `wall-clock`, both virtual.
//!
//! Time is derived from the call, not the machine: the monotonic clock advances 1 µs per
//! reading, the wall clock starts at a seed-derived instant in 2020 and follows it. Waiting is
//! virtual too: a pollable from `subscribe-duration` / `subscribe-instant` is ready at once and
//! moves the clock forward by the time waited. So `sleep(3600 s)` returns immediately having
//! "slept" an hour, two runs with the same inputs see the same readings, and no guest can park
//! the host thread inside `wasi:io/poll` — a guest that sleeps in a loop is busy in wasm,
//! where the epoch deadline stops it.

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi::p2::{subscribe, DynPollable, Pollable};

use crate::host::HostState;

/// One call's virtual time, in nanoseconds since the call began.
pub(crate) struct VirtualClock {
    nanos: u64,
    wall_start_secs: u64,
}

impl VirtualClock {
    pub(crate) fn new(seed: u64) -> Self {
        VirtualClock {
            nanos: 0,
            // 2020-01-01T00:00:00Z plus up to ~11 days: plausible but fixed by the seed.
            wall_start_secs: 1_577_836_800 + seed % 1_000_000,
        }
    }

    fn read(&mut self) -> u64 {
        self.nanos = self.nanos.saturating_add(1_000);
        self.nanos
    }

    fn advance_to(&mut self, when: u64) {
        self.nanos = self.nanos.max(when);
    }
}

/// A pollable that is always ready: the wait it stands for already happened on the virtual
/// clock.
struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

impl HostState {
    fn elapsed_pollable(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        self.meter.check("wasi:clocks/monotonic-clock.subscribe")?;
        let resource = self.table.push(Elapsed)?;
        subscribe(&mut self.table, resource)
    }
}

impl monotonic_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.clock.read())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1_000)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.clock.advance_to(when);
        self.elapsed_pollable()
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let when = self.clock.nanos.saturating_add(duration);
        self.clock.advance_to(when);
        self.elapsed_pollable()
    }
}

impl wall_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        let nanos = self.clock.read();
        Ok(wall_clock::Datetime {
            seconds: self.clock.wall_start_secs + nanos / 1_000_000_000,
            nanoseconds: (nanos % 1_000_000_000) as u32,
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime {
            seconds: 0,
            nanoseconds: 1_000,
        })
    }
}

pub(crate) fn link(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    monotonic_clock::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    wall_clock::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
}
