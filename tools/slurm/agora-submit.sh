#!/bin/bash
# Submits a sweep as a Slurm job array plus a merge job that runs when every task has ended
# (successful or not: the merge lists what is missing, see agora-merge.sbatch).
#
#   agora-submit.sh SWEEP_FILE OUT_DIR SHARDS [extra sbatch options for the array...]
#
# Prints "ARRAY_JOB_ID MERGE_JOB_ID". Environment: AGORA_BIN (default: agora on PATH).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sweep_file=${1:?usage: agora-submit.sh SWEEP_FILE OUT_DIR SHARDS [sbatch options...]}
out_dir=${2:?usage: agora-submit.sh SWEEP_FILE OUT_DIR SHARDS [sbatch options...]}
shards=${3:?usage: agora-submit.sh SWEEP_FILE OUT_DIR SHARDS [sbatch options...]}
shift 3
export AGORA_SHARDS=$shards
export AGORA_BIN=${AGORA_BIN:-agora}
mkdir -p "$out_dir"
array=$(sbatch --parsable --export=ALL --array="0-$((shards - 1))" "$@" \
    "$here/agora-sweep.sbatch" "$sweep_file" "$out_dir")
array=${array%%;*}
merge=$(sbatch --parsable --export=ALL --dependency="afterany:$array" \
    "$here/agora-merge.sbatch" "$out_dir")
merge=${merge%%;*}
echo "$array $merge"
