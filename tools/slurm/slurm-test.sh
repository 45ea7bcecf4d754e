#!/bin/bash
# End-to-end test of the Slurm scripts on one machine:
#   1. installs Debian's slurm-wlm and munge if missing (needs root and apt);
#   2. starts munged, slurmctld and slurmd on 127.0.0.1 with a throw-away configuration;
#   3. submits SWEEP_FILE as a SHARDS-task job array plus a dependent merge job;
#   4. runs the same sweep locally, without Slurm;
#   5. checks that the merged table equals the local one (rows sorted by run_id, ignoring
#      wall_time_s) and that every shard took its index from the array;
#   6. stops the daemons it started (always, via trap) and prints the elapsed time.
#
#   AGORA_BIN=path/to/agora slurm-test.sh SWEEP_FILE [SHARDS]
#
# SLURM_TEST_KEEP=1 keeps the scratch directory. Exit status 0 means the tables matched; any
# other status is a failure (a missing package that cannot be installed included: this test
# never skips).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${AGORA_BIN:?set AGORA_BIN to the agora binary (e.g. target/debug/agora)}"
AGORA_BIN=$(realpath "$AGORA_BIN")
export AGORA_BIN
sweep_file=$(realpath "${1:?usage: AGORA_BIN=... slurm-test.sh SWEEP_FILE [SHARDS]}")
shards=${2:-4}
t0=${EPOCHREALTIME/./}
log() {
    local us=$((${EPOCHREALTIME/./} - t0))
    printf '[slurm-test %4d.%01ds] %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*"
}

if [[ $(id -u) != 0 ]]; then
    echo "slurm-test.sh must run as root (it installs packages and starts daemons)" >&2
    exit 1
fi
missing=()
for bin in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged /usr/bin/sbatch; do
    [[ -x $bin ]] || missing+=("$bin")
done
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    echo "[slurm-test] installing slurm-wlm, munge, python3 (missing: ${missing[*]})"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurm-wlm munge python3 >/dev/null
fi

work=$(mktemp -d /tmp/agora-slurm-test.XXXXXX)
node=$(hostname -s)
started_munge=""
cleanup() {
    local status=$?
    set +e
    wait_pid() {
        for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
        kill -9 "$1" 2>/dev/null
    }
    local pids=()
    for pidfile in "$work/slurmd.pid" "$work/slurmctld.pid"; do
        [[ -s $pidfile ]] && pids+=("$(cat "$pidfile")")
    done
    [[ -n $started_munge ]] && pids+=("$started_munge")
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait_pid "$pid"; done
    log "daemons stopped"
    if ((status != 0)); then
        echo "[slurm-test] FAILED (status $status); logs:" >&2
        tail -n 20 "$work"/log/*.log "$work"/run/*.out 2>/dev/null >&2
    fi
    if [[ ${SLURM_TEST_KEEP:-0} == 1 || $status != 0 ]]; then
        echo "[slurm-test] scratch directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# munge: the package's postinst created /etc/munge/munge.key.
mkdir -p /run/munge && chown munge:munge /run/munge
if ! munge -n </dev/null >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
    started_munge=$(cat /run/munge/munged.pid)
fi

mkdir -p "$work"/{state,spool,log,run}
export SLURM_CONF=$work/slurm.conf
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ { print int($2 / 1024 * 0.95) }' /proc/meminfo)
cat >"$SLURM_CONF" <<CONF
ClusterName=local
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF

/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF" -N "$node"
for _ in $(seq 100); do
    sinfo -h -o '%T' 2>/dev/null | grep -qx idle && break
    sleep 0.2
done
sinfo -h -o '%T' | grep -qx idle || { echo "the node did not become idle" >&2; exit 1; }
log "slurm is up ($(sinfo -h -o '%P %D %T %N'))"

cd "$work/run"
read -r array_job merge_job < <("$here/agora-submit.sh" "$sweep_file" "$work/out" "$shards")
log "submitted array job $array_job ($shards tasks) and merge job $merge_job"

state=""
for _ in $(seq 1500); do
    state=$(scontrol show job "$merge_job" -o 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
    case $state in
        COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | PREEMPTED) break ;;
    esac
    sleep 0.2
done
log "merge job state: ${state:-unknown}"
if [[ $state != COMPLETED ]]; then
    scontrol show job "$array_job" -o | grep -o 'JobId=[0-9]* .*JobState=[A-Z_]*' | cut -c1-200 >&2 || true
    exit 1
fi

for ((i = 0; i < shards; i++)); do
    grep -q '"source": "slurm-array"' "$work/out/shards/$i/sweep.json" || {
        echo "shard $i did not take its index from the job array" >&2
        exit 1
    }
    grep -q "\"index\": $i," "$work/out/shards/$i/sweep.json" || {
        echo "shard $i has the wrong index" >&2
        exit 1
    }
done

"$AGORA_BIN" sweep "$sweep_file" --jobs 2 --out "$work/local" >/dev/null
log "local sweep done"

python3 - "$work/out/merged/results.csv" "$work/local/results.csv" <<'PY'
import csv, sys

def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    wall = header.index("wall_time_s")
    strip = lambda r: r[:wall] + r[wall + 1:]
    return strip(header), sorted((strip(r) for r in body), key=lambda r: r[0])

merged_header, merged = load(sys.argv[1])
local_header, local = load(sys.argv[2])
if merged_header != local_header:
    sys.exit(f"headers differ:\n  merged {merged_header}\n  local  {local_header}")
if merged != local:
    ids = {r[0] for r in merged} ^ {r[0] for r in local}
    diff = next((a, b) for a, b in zip(merged, local) if a != b) if not ids else ids
    sys.exit(f"tables differ ({len(merged)} merged rows, {len(local)} local rows): {diff}")
print(f"[slurm-test] merged table equals the local sweep: {len(merged)} rows")
PY
[[ -s $work/out/merged/summary.csv ]] || { echo "the merge job wrote no summary" >&2; exit 1; }
compgen -G "$work/out/merged/plots/*.png" >/dev/null || { echo "the merge job drew no plots" >&2; exit 1; }
log "PASS"
