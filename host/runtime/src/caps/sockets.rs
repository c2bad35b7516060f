//! Capability `inert-sockets`: `wasi:sockets/*` linked for language runtimes that import them
//! whether or not they use the network (CPython does), with every operation denied: the
//! WASI context allows no address, no TCP, no UDP and no name lookup. Granted only with
//! [`LoadOptions::inert_sockets`](crate::LoadOptions); `hyper skill install` asks first.

use wasmtime::component::Linker;
use wasmtime_wasi::p2::bindings::{sockets, sync};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};

use crate::host::HostState;

pub(crate) fn link(l: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let options = sockets::network::LinkOptions::default();
    sockets::tcp_create_socket::add_to_linker::<HostState, WasiSockets>(l, |s| s.sockets())?;
    sockets::instance_network::add_to_linker::<HostState, WasiSockets>(l, |s| s.sockets())?;
    sockets::network::add_to_linker::<HostState, WasiSockets>(l, &options, |s| s.sockets())?;
    sockets::ip_name_lookup::add_to_linker::<HostState, WasiSockets>(l, |s| s.sockets())?;
    sync::sockets::tcp::add_to_linker::<HostState, WasiSockets>(l, |s| s.sockets())?;
    sync::sockets::udp::add_to_linker::<HostState, WasiSockets>(l, |s| s.sockets())?;
    sync::sockets::udp_create_socket::add_to_linker::<HostState, WasiSockets>(l, |s| s.sockets())
}
