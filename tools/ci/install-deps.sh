#!/usr/bin/env bash
# Installs the system packages the test suite needs, when they are missing. Idempotent.
# Called by tools/ci/test.sh (and so by .ci/run); needs root or sudo for apt-get.
set -euo pipefail

need=()
# (Packages are added here as capabilities that need them land.)
# Replay pages are tested in a real browser (tests/replay_browser.rs).
if [ -z "${AGORA_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
# Sweeps: tools/slurm/slurm-test.sh starts a one-node Slurm cluster (munge for its
# authentication) and compares tables with python3.
[ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && command -v sbatch >/dev/null 2>&1 ||
  need+=(slurm-wlm)
[ -x /usr/sbin/munged ] || need+=(munge)
command -v python3 >/dev/null 2>&1 || need+=(python3)

if ((${#need[@]})); then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
