//! The one wasmtime `Engine` of a process, its epoch ticker, and the per-world linkers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::CompileCache;
use crate::caps::linker_for;
use crate::component::World;
use crate::host::HostState;

#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` compiles in memory every time.
    pub cache_dir: Option<PathBuf>,
    /// Count fuel (a deterministic instruction budget) in every store. Costs some speed.
    pub fuel: bool,
    /// Use the pooling allocator (falls back to on-demand when the machine refuses the
    /// virtual-memory reservation).
    pub pooling: bool,
    /// Granularity of wall-clock deadlines.
    pub epoch_tick: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            fuel: false,
            pooling: true,
            epoch_tick: Duration::from_millis(10),
        }
    }
}

pub(crate) struct Linkers {
    pub(crate) research: Linker<HostState>,
    pub(crate) evaluator: Linker<HostState>,
    pub(crate) tool: Linker<HostState>,
}

struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Inner {
    engine: Engine,
    config: RuntimeConfig,
    cache: Option<CompileCache>,
    linkers: Linkers,
    scratch: Arc<crate::host::scratch::ScratchPool>,
    pooling: bool,
    _ticker: Ticker,
}

/// A cheaply cloneable handle to the engine, cache and linkers.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

/// Largest linear memory any policy may grant; per-store limits enforce the real budget.
const MAX_MEMORY_BYTES: usize = 4 << 30;

fn wasmtime_config(config: &RuntimeConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    c.consume_fuel(config.fuel);
    c.max_wasm_stack(1 << 20);
    // `HYPER_PERFMAP=1` writes /tmp/perf-<pid>.map so that `perf record` names guest functions.
    if std::env::var_os("HYPER_PERFMAP").is_some() {
        c.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(128)
            .total_core_instances(512)
            .total_memories(256)
            .total_tables(256)
            .max_memory_size(MAX_MEMORY_BYTES)
            .table_keep_resident(64 << 10);
        // Reset the first pages of a reused slot in place instead of madvise, so the next
        // experiment does not page-fault its stack and heap back in (a large share of the
        // per-experiment overhead for small skills).
        if kernel_has_pagemap_scan() {
            // Only the pages a guest actually touched are reset, so keeping a Rust guest's
            // whole 1 MiB stack region resident costs nothing extra (~2x faster instantiation).
            pool.pagemap_scan(wasmtime::Enabled::Auto)
                .linear_memory_keep_resident(2 << 20);
        } else {
            // Without it the kept region is memset on every reuse: keep it small.
            pool.linear_memory_keep_resident(128 << 10);
        }
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

/// PAGEMAP_SCAN arrived in Linux 6.7.
fn kernel_has_pagemap_scan() -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    matches!((parts.next(), parts.next()), (Some(major), Some(minor)) if (major, minor) >= (6, 7))
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let (engine, pooling) = if config.pooling {
            match Engine::new(&wasmtime_config(&config, true)) {
                Ok(engine) => (engine, true),
                Err(e) => {
                    tracing::warn!(
                        "pooling allocator unavailable ({e}); using on-demand allocation"
                    );
                    (Engine::new(&wasmtime_config(&config, false))?, false)
                }
            }
        } else {
            (Engine::new(&wasmtime_config(&config, false))?, false)
        };
        // Each world's linker is exactly its capabilities (caps/mod.rs): the same table that
        // decides what inspection grants.
        let linkers = Linkers {
            research: linker_for(&engine, World::ResearchSkill)?,
            evaluator: linker_for(&engine, World::Evaluator)?,
            tool: linker_for(&engine, World::ToolSkill)?,
        };
        let cache = match &config.cache_dir {
            Some(dir) => Some(CompileCache::new(dir)?),
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop.clone();
            let tick = config.epoch_tick;
            std::thread::Builder::new()
                .name("hyper-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })?;
        }
        let scratch = crate::host::scratch::ScratchPool::new()?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                config,
                cache,
                linkers,
                scratch,
                pooling,
                _ticker: Ticker { stop },
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Whether the pooling allocator is in use (false after a fallback).
    pub fn pooling(&self) -> bool {
        self.inner.pooling
    }

    pub fn cache(&self) -> Option<&CompileCache> {
        self.inner.cache.as_ref()
    }

    pub(crate) fn scratch_pool(&self) -> &Arc<crate::host::scratch::ScratchPool> {
        &self.inner.scratch
    }

    pub(crate) fn linkers(&self) -> &Linkers {
        &self.inner.linkers
    }

    /// Epoch ticks for a wall-clock deadline.
    pub(crate) fn deadline_ticks(&self, deadline: Duration) -> u64 {
        let tick = self.inner.config.epoch_tick.as_nanos().max(1);
        (deadline.as_nanos() / tick).max(1) as u64 + 1
    }

    /// Compiles a component (through the cache when there is one).
    pub fn compile(
        &self,
        bytes: &[u8],
        content_hash: &str,
    ) -> anyhow::Result<wasmtime::component::Component> {
        match &self.inner.cache {
            Some(cache) => cache.load_or_compile(&self.inner.engine, bytes, content_hash),
            None => Ok(wasmtime::component::Component::new(
                &self.inner.engine,
                bytes,
            )?),
        }
    }
}
