#!/usr/bin/env bash
# scripts/setup.sh — install what building hyper's guests needs, idempotently.
#
# Guests (skills, evaluators, test fixtures) are Rust crates compiled to wasm32-wasip2
# components from source by host/guests/build.rs. rustup cannot add targets on these machines,
# so they are built with Debian's rustc-web 1.96 + rust-web-src (-Zbuild-std, RUSTC_BOOTSTRAP=1),
# Debian's wasi-libc and wasm-ld (lld-22), linked into a component by the wasm-component-ld that
# ships with the rustup toolchain. The output is already a component: no wasm-tools or WASI
# adapter is needed for Rust guests (C/Python/JS guests, which need them, come with the skill
# packages work).
#
# Safe to run any number of times; it only installs what is missing.
set -euo pipefail

APT_PACKAGES=(rustc-web cargo-web rust-web-src wasi-libc lld-22)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: guest toolchain packages present (${APT_PACKAGES[*]})" >&2
fi

# The host toolchain: rustup's stable with wasm-component-ld.
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found: install Rust (rustup) 1.95 or newer first" >&2
  exit 1
fi
wcl="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld"
if [[ ! -x "$wcl" && -z "${HYPER_WASM_COMPONENT_LD:-}" ]]; then
  echo "setup: $wcl is missing; install wasm-component-ld and set HYPER_WASM_COMPONENT_LD" >&2
  exit 1
fi

for f in /usr/bin/cargo /usr/bin/rustc /usr/bin/wasm-ld-22 /usr/lib/wasm32-wasi/libc.a; do
  [[ -e $f ]] || { echo "setup: expected $f after installing packages" >&2; exit 1; }
done
echo "setup: ok ($(/usr/bin/rustc --version) for guests, $(rustc --version) for the host)" >&2
