#!/usr/bin/env bash
# scripts/setup.sh — install what building hyper's guests needs, idempotently.
#
# Guests (skills, evaluators, test fixtures) are built from source:
# - Rust: Debian's rustc-web 1.96 + rust-web-src (-Zbuild-std, RUSTC_BOOTSTRAP=1; rustup cannot
#   add targets on these machines), Debian's wasi-libc and wasm-ld (lld-22), linked into a
#   component by the wasm-component-ld that ships with the rustup toolchain;
# - C: clang-14 for wasm32-wasi with wasi-libc; bindings (wit-bindgen-c) and the WASI adapter
#   (wit-component) are done in-process by hyper-toolchain, so no wasm-tools CLI is needed;
# - Python: componentize-py (PyPI); JavaScript: componentize-js (npm).
#
# Safe to run any number of times; it only installs what is missing.
set -euo pipefail

APT_PACKAGES=(rustc-web cargo-web rust-web-src wasi-libc lld-22 clang-14 lld-14 libclang-rt-14-dev-wasm32
  # GPU compute tests on machines without a GPU: lavapipe, a software Vulkan adapter.
  mesa-vulkan-drivers libvulkan1
  # componentize-py runs in a venv; componentize-js needs node.
  python3-venv nodejs
  # The dashboard's browser tests: Debian's Chromium, driven by playwright-core.
  chromium)
# npm: Debian's package, unless node came from elsewhere with its own npm (NodeSource's
# nodejs bundles npm and conflicts with Debian's).
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(npm)
# Python and JavaScript guests: componentize-py (PyPI) and componentize-js (npm), pinned,
# installed under the guest tools prefix (HYPER_GUEST_TOOLS, default ~/.cache/hyper-guest-tools).
COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
TOOLS=${HYPER_GUEST_TOOLS:-$HOME/.cache/hyper-guest-tools}

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
  echo "setup: packages present (${APT_PACKAGES[*]})" >&2
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

# Python guests.
if [[ "$("$TOOLS/venv/bin/componentize-py" --version 2>/dev/null)" != *"$COMPONENTIZE_PY_VERSION"* ]]; then
  echo "setup: installing componentize-py $COMPONENTIZE_PY_VERSION under $TOOLS/venv" >&2
  mkdir -p "$TOOLS"
  [[ -x "$TOOLS/venv/bin/python" ]] || python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
# JavaScript guests.
js_version=$(node -p "try{require('$TOOLS/js/node_modules/@bytecodealliance/componentize-js/package.json').version}catch(e){''}" 2>/dev/null || true)
if [[ "$js_version" != "$COMPONENTIZE_JS_VERSION" ]]; then
  echo "setup: installing componentize-js $COMPONENTIZE_JS_VERSION under $TOOLS/js" >&2
  mkdir -p "$TOOLS/js"
  [[ -f "$TOOLS/js/package.json" ]] || echo '{"name":"hyper-guest-js-tools","private":true,"type":"module"}' > "$TOOLS/js/package.json"
  (cd "$TOOLS/js" && npm install --no-fund --no-audit --loglevel=error "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION")
fi

# The dashboard's front-end packages (uPlot, embedded in the binary; playwright-core for its
# browser tests), pinned by host/dashboard/web/package-lock.json.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WEB="$ROOT/host/dashboard/web"
if ! cmp -s "$WEB/package-lock.json" "$WEB/node_modules/.hyper-installed-lock" 2>/dev/null; then
  echo "setup: installing the dashboard's npm packages under $WEB/node_modules" >&2
  (cd "$WEB" && npm ci --no-fund --no-audit --loglevel=error && cp package-lock.json node_modules/.hyper-installed-lock)
fi

for f in /usr/bin/chromium "$WEB/node_modules/uplot/dist/uPlot.iife.min.js" /usr/bin/cargo /usr/bin/rustc /usr/bin/wasm-ld-22 /usr/lib/wasm32-wasi/libc.a /usr/bin/clang-14 \
         "$TOOLS/venv/bin/componentize-py" "$TOOLS/js/node_modules/.bin/componentize-js"; do
  [[ -e $f ]] || { echo "setup: expected $f after installing packages" >&2; exit 1; }
done
echo "setup: ok ($(/usr/bin/rustc --version) for guests, $(rustc --version) for the host)" >&2
