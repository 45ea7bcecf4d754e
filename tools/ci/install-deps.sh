#!/usr/bin/env bash
# Installs the system packages the test suite needs, when they are missing. Idempotent.
# Called by tools/ci/test.sh (and so by .ci/run); needs root or sudo for apt-get.
set -euo pipefail

need=()
# (Packages are added here as capabilities that need them land.)

if ((${#need[@]})); then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
