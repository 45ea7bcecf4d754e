#!/usr/bin/env bash
# Outputs must not depend on the instruction set a build targets or a run uses: SIMD code
# uses fixed-width lanes, and fused multiply-adds only where every version fuses them (in
# hardware or in software with the same rounding). This builds `agora` for x86-64-v3 (AVX2)
# and compares its outputs, byte for byte, with those of the default build given as $1, run
# as it is (kernels with an AVX or AVX2 version use it, chosen at run time) and with
# AGORA_SIMD=baseline (SSE2 only), on the scenarios whose hot loops run in SIMD lanes
# (Flockers sums, batched ChaCha8 draws: Flockers and the lossy gossip channel).
#
# Usage: tools/ci/cpu-levels.sh path/to/default/agora
set -euo pipefail
cd "$(dirname "$0")/../.."

default_bin=$1
if [ "$(uname -m)" != x86_64 ] || ! grep -qw avx2 /proc/cpuinfo; then
  echo "cpu-levels: NOT RUN: this machine cannot execute x86-64-v3 (AVX2) code" >&2
  exit 0
fi

RUSTFLAGS="-C target-cpu=x86-64-v3" CARGO_TARGET_DIR=target/x86-64-v3 \
  cargo build --locked --release -p agora-cli
v3_bin=target/x86-64-v3/release/agora

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for case in "flockers_1k.ron 60" "flockers_10k.ron 30" "flocking.ron 40" "forager.ron 30" "gossip_lossy.ron 300"; do
  set -- $case
  for build in default baseline v3; do
    bin=$default_bin
    [ "$build" = v3 ] && bin=$v3_bin
    level=auto
    [ "$build" = baseline ] && level=baseline
    AGORA_SIMD=$level "$bin" run "scenarios/$1" --ticks "$2" --out "$work/$build-$1" >/dev/null
  done
  d1=$(grep -o '"digest": "[0-9a-f]*"' "$work/default-$1/manifest.json")
  for build in baseline v3; do
    for file in metrics.csv summary.json; do
      if ! cmp -s "$work/default-$1/$file" "$work/$build-$1/$file"; then
        echo "cpu-levels: FAILED: $1 $file differs between the default build and $build" >&2
        status=1
      fi
    done
    d=$(grep -o '"digest": "[0-9a-f]*"' "$work/$build-$1/manifest.json")
    if [ "$d1" != "$d" ]; then
      echo "cpu-levels: FAILED: $1 digest $d1 (default) vs $d ($build)" >&2
      status=1
    fi
  done
  if [ $status = 0 ]; then
    echo "cpu-levels: $1 ($2 ticks): identical (default, baseline, x86-64-v3), $d1"
  fi
done
exit $status
