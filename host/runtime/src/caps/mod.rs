//! The capabilities a guest can be granted, as units (the shape of Spin's factors): each one
//! owns the interfaces it answers for, its linker registration, its slice of
//! [`SandboxPolicy`](crate::SandboxPolicy), its per-call state and quota, and its typed failure
//! ([`Exceeded`](crate::limits::Exceeded)).
//!
//! [`CAPABILITIES`] is the one table both sides read: [`grant_for`] (what `inspect` and `load`
//! say about an import) and [`linker_for`] (what is linked for a world). An interface that is
//! not in a capability of the world is neither granted nor linked, so inspection and linking
//! cannot disagree.
//!
//! | unit | interfaces | policy | per-call state |
//! |---|---|---|---|
//! | `guest-io` (guest_io.rs) | hyper:research/types, log, progress | `log_bytes`, `copy_bytes` | log budget, copy meter |
//! | `stdio` (stdio.rs) | wasi:cli/* | `stdio_bytes` | captured pipes |
//! | `clocks` (clocks.rs) | wasi:clocks/* | — | virtual clock |
//! | `random` | wasi:random/* | — (seeded from the call) | seeded generators |
//! | `io` | wasi:io/* | `handles` | the resource table |
//! | `filesystem` (fs.rs) | wasi:filesystem/* | `data_dir`, `scratch`, `scratch_bytes`, `scratch_files` | scratch dir + quota |
//! | `tensor` (tensor.rs) | hyper:compute/tensor | `tensor_*` | tensor store, compute meter |
//! | `gpu` (gpu.rs) | hyper:compute/gpu | `gpu_*` | the call's device |
//! | `inert-sockets` (sockets.rs) | wasi:sockets/* | `LoadOptions::inert_sockets` | none: every use is denied |

pub(crate) mod clocks;
pub(crate) mod fs;
pub(crate) mod gpu;
pub(crate) mod guest_io;
pub(crate) mod sockets;
pub(crate) mod stdio;
pub(crate) mod tensor;

use wasmtime::component::{HasData, Linker, ResourceTable};

use crate::component::World;
use crate::host::HostState;
use crate::policy::{unversioned, LoadOptions};

/// When a capability's interfaces are granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    Always,
    /// Only when the component is loaded with [`LoadOptions::inert_sockets`].
    InertSockets,
    /// Only on a machine with a GPU adapter (asked once per process).
    GpuAdapter,
}

pub(crate) struct Capability {
    pub(crate) name: &'static str,
    /// `namespace:package/interface` (unversioned) and what the guest gets behind it.
    pub(crate) interfaces: &'static [(&'static str, &'static str)],
    pub(crate) worlds: &'static [World],
    pub(crate) grant: Grant,
    link: fn(&mut Linker<HostState>) -> wasmtime::Result<()>,
}

const ALL: &[World] = &[World::ResearchSkill, World::Evaluator, World::ToolSkill];
const COMPUTE: &[World] = &[World::ResearchSkill, World::Evaluator];

pub(crate) const GPU_INTERFACE: &str = "hyper:compute/gpu";

pub(crate) const INERT_SOCKETS: &str = "linked but inert: every socket operation is denied";

pub(crate) const CAPABILITIES: &[Capability] = &[
    Capability {
        name: "guest-io",
        interfaces: &[
            ("hyper:research/types", "shared types"),
            ("hyper:research/log", "bounded logging"),
        ],
        worlds: ALL,
        grant: Grant::Always,
        link: guest_io::link_log,
    },
    Capability {
        name: "progress",
        interfaces: &[("hyper:research/progress", "progress reports, bounded")],
        worlds: &[World::ResearchSkill],
        grant: Grant::Always,
        link: guest_io::link_progress,
    },
    Capability {
        name: "io",
        interfaces: &[
            ("wasi:io/error", "stream errors"),
            ("wasi:io/poll", "polling (clock pollables never block)"),
            ("wasi:io/streams", "streams"),
        ],
        worlds: ALL,
        grant: Grant::Always,
        link: link_io,
    },
    Capability {
        name: "stdio",
        interfaces: &[
            ("wasi:cli/environment", "empty environment and arguments"),
            ("wasi:cli/exit", "exit (ends the call)"),
            ("wasi:cli/stdin", "empty stdin"),
            ("wasi:cli/stdout", "captured, size-limited stdout"),
            ("wasi:cli/stderr", "captured, size-limited stderr"),
            ("wasi:cli/terminal-input", "no terminal"),
            ("wasi:cli/terminal-output", "no terminal"),
            ("wasi:cli/terminal-stdin", "no terminal"),
            ("wasi:cli/terminal-stdout", "no terminal"),
            ("wasi:cli/terminal-stderr", "no terminal"),
        ],
        worlds: ALL,
        grant: Grant::Always,
        link: link_cli,
    },
    Capability {
        name: "clocks",
        interfaces: &[
            (
                "wasi:clocks/monotonic-clock",
                "virtual clock: waiting is instant and advances it",
            ),
            (
                "wasi:clocks/wall-clock",
                "virtual clock derived from the seed",
            ),
        ],
        worlds: ALL,
        grant: Grant::Always,
        link: clocks::link,
    },
    Capability {
        name: "random",
        interfaces: &[
            ("wasi:random/random", "seeded random"),
            ("wasi:random/insecure", "seeded random"),
            ("wasi:random/insecure-seed", "seeded random"),
        ],
        worlds: ALL,
        grant: Grant::Always,
        link: link_random,
    },
    Capability {
        name: "filesystem",
        interfaces: &[
            (
                "wasi:filesystem/types",
                "only /data (read-only) and /scratch (with a quota)",
            ),
            (
                "wasi:filesystem/preopens",
                "only /data (read-only) and /scratch (with a quota)",
            ),
        ],
        worlds: ALL,
        grant: Grant::Always,
        link: fs::link,
    },
    Capability {
        name: "tensor",
        interfaces: &[(
            "hyper:compute/tensor",
            "host tensors, within the call's memory, handle and compute quotas",
        )],
        worlds: COMPUTE,
        grant: Grant::Always,
        link: tensor::link,
    },
    Capability {
        name: "gpu",
        interfaces: &[(
            GPU_INTERFACE,
            "GPU compute, within the call's buffer, pipeline and time quotas",
        )],
        worlds: COMPUTE,
        grant: Grant::GpuAdapter,
        link: gpu::link,
    },
    Capability {
        name: "inert-sockets",
        interfaces: &[
            ("wasi:sockets/network", INERT_SOCKETS),
            ("wasi:sockets/instance-network", INERT_SOCKETS),
            ("wasi:sockets/tcp", INERT_SOCKETS),
            ("wasi:sockets/tcp-create-socket", INERT_SOCKETS),
            ("wasi:sockets/udp", INERT_SOCKETS),
            ("wasi:sockets/udp-create-socket", INERT_SOCKETS),
            ("wasi:sockets/ip-name-lookup", INERT_SOCKETS),
        ],
        worlds: ALL,
        grant: Grant::InertSockets,
        link: sockets::link,
    },
];

/// The capability that answers for `import` in `world`, if any.
pub(crate) fn capability_for(
    import: &str,
    world: World,
) -> Option<(&'static Capability, &'static str)> {
    let bare = unversioned(import);
    CAPABILITIES
        .iter()
        .filter(|c| c.worlds.contains(&world))
        .find_map(|c| {
            c.interfaces
                .iter()
                .find(|(name, _)| *name == bare)
                .map(|(_, why)| (c, *why))
        })
}

/// Why `import` is granted in `world`, or why not.
pub(crate) fn grant_for(
    import: &str,
    world: World,
    options: LoadOptions,
) -> Result<&'static str, String> {
    let bare = unversioned(import);
    let Some((cap, why)) = capability_for(import, world) else {
        return Err(
            match CAPABILITIES
                .iter()
                .find(|c| c.interfaces.iter().any(|(n, _)| *n == bare))
            {
                Some(c) => format!(
                    "the `{}` capability (`{bare}`) is not granted to a `{}` component",
                    c.name,
                    world.name()
                ),
                None => format!("the sandbox policy does not grant `{bare}`"),
            },
        );
    };
    match cap.grant {
        Grant::Always => Ok(why),
        Grant::InertSockets if options.inert_sockets => Ok(why),
        Grant::InertSockets => Err(format!(
            "the sandbox policy does not grant `{bare}` (network access); load with inert sockets to link it with every operation denied"
        )),
        Grant::GpuAdapter => match hyper_compute::gpu::probe() {
            Ok(_) => Ok(why),
            Err(e) => Err(format!(
                "the skill imports `{GPU_INTERFACE}` but this machine has no GPU adapter ({e}); on Linux without a GPU, install mesa-vulkan-drivers for the lavapipe software adapter"
            )),
        },
    }
}

/// The linker of `world`: exactly the capabilities of that world, nothing else.
pub(crate) fn linker_for(
    engine: &wasmtime::Engine,
    world: World,
) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    for cap in CAPABILITIES.iter().filter(|c| c.worlds.contains(&world)) {
        (cap.link)(&mut linker)?;
    }
    Ok(linker)
}

struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

fn link_io(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<HostState, Io>(l, |s| {
        &mut s.table
    })?;
    poll::add_to_linker::<HostState, Io>(l, |s| &mut s.table)?;
    streams::add_to_linker::<HostState, Io>(l, |s| &mut s.table)
}

fn link_cli(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::p2::bindings::cli;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, |s| s.cli())
}

fn link_random(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::random;
    use wasmtime_wasi::random::WasiRandom;
    random::random::add_to_linker::<HostState, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure::add_to_linker::<HostState, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, |s| s.wasi.random())
}
