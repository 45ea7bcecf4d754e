#!/usr/bin/env bash
# The project's test command: what CI runs. Installs system packages the tests need, then
# checks formatting and lints and runs every test, then the cluster tier: a sweep submitted
# to a one-node Slurm cluster must merge into the table of the same sweep run locally.
set -euo pipefail
cd "$(dirname "$0")/../.."

tools/ci/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
cargo test --workspace --locked

# Cluster tier (about half a minute): needs root for the Slurm and munge daemons.
cargo build --locked -p agora-cli
slurm_test=(env AGORA_BIN=target/debug/agora tools/slurm/slurm-test.sh
  scenarios/sweeps/flockers_noise_density.ron 4)
if [ "$(id -u)" = 0 ]; then "${slurm_test[@]}"; else sudo "${slurm_test[@]}"; fi

# CPU tier (a few minutes): the same outputs from a build for AVX2 machines.
tools/ci/cpu-levels.sh target/debug/agora
