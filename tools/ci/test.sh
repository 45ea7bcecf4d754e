#!/usr/bin/env bash
# The project's test command: what CI runs. Installs system packages the tests need, then
# checks formatting and lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/../.."

tools/ci/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
cargo test --workspace --locked
