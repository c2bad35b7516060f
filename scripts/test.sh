#!/usr/bin/env bash
# scripts/test.sh — the whole test suite from a clean checkout: set up the guest toolchain,
# build every guest from source (host/guests/build.rs), run the host workspace's tests and the
# native unit tests of the guest crates that have them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace
# Pure-Rust parts of guests (the evaluator's scoring code), tested natively.
cargo test --manifest-path sdk/Cargo.toml -p search-scoring -p tinygpt -p finance-evaluator -p cisi-evaluator -p tldr-evaluator --lib
