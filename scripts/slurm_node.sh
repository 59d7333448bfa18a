#!/usr/bin/env bash
# A single-node Slurm on this machine (Debian's munge, slurmctld and slurmd;
# scripts/setup.sh --test installs them), kept entirely in a new temporary
# directory, for the tests (make test) or by hand:
#
#   dir=$(scripts/slurm_node.sh start)    # prints the directory
#   SLURM_CONF=$dir/slurm.conf sbatch ... / srun ... / squeue
#   scripts/slurm_node.sh stop "$dir"     # cancels its jobs, stops it, removes the directory
#
# The node is this machine: its hostname, nproc CPUs, one partition. Its
# munge key is generated in the directory, and every daemon's state, spool,
# log, pid file and socket are there, so stop leaves nothing behind. No
# cgroups (containers often lack them): processes are tracked by their
# parents (proctrack/linuxproc), tasks bound to CPUs by task/affinity. The
# daemons run as the user who starts them (root on CI), as do the jobs.
set -euo pipefail

die() {
  echo "slurm_node: $*" >&2
  exit 1
}

# A TCP port on 127.0.0.1 that nothing listens on now, from 40000-49999.
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((40000 + RANDOM % 10000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free port found in 40000-49999"
}

write_conf() {
  local dir=$1 host=$2
  # Job ids from a random start: a distributed srun without MASTER_PORT
  # derives its port from the job id, so two such nodes on one machine
  # (concurrent test runs) should not hand out the same ids.
  cat >"$dir/slurm.conf" <<EOF
ClusterName=paperlab
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
PlugStackConfig=$dir/plugstack.conf
FirstJobId=$((1000 + RANDOM % 8000))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=5
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=node Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$dir/plugstack.conf"
}

start() {
  for cmd in mungekey munged slurmctld slurmd sinfo sbatch srun squeue scancel; do
    command -v "$cmd" >/dev/null || die "$cmd is missing: scripts/setup.sh --test installs Slurm and munge"
  done
  local dir host
  dir=$(mktemp -d "${TMPDIR:-/tmp}/paperlab-slurm.XXXXXX")
  # A failed start removes what it started.
  trap "stop '$dir' >/dev/null 2>&1" ERR
  host=$(hostname -s)
  mkdir -m 700 "$dir/state" "$dir/spool"
  mungekey --create --keyfile="$dir/munge.key" >/dev/null
  munged --force --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
    --log-file="$dir/munged.log" --pid-file="$dir/munged.pid" \
    --seed-file="$dir/munged.seed" 2>>"$dir/start.log" ||
    fail "$dir" "munged did not start"
  write_conf "$dir" "$host"
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -c 2>>"$dir/start.log" || fail "$dir" "slurmctld did not start"
  slurmd 2>>"$dir/start.log" || fail "$dir" "slurmd did not start"
  for _ in $(seq 60); do
    if [ "$(sinfo -h -n "$host" -o %T 2>/dev/null)" = idle ]; then
      echo "$dir"
      return
    fi
    sleep 0.5
  done
  fail "$dir" "node $host is not idle after 30 s: $(sinfo -h -o '%T %E' 2>&1)"
}

# Stop what started, show its logs' ends, and exit 1.
fail() {
  local dir=$1
  shift
  for log in "$dir"/*.log; do
    [ -s "$log" ] && { echo "--- $log" && tail -n 5 "$log"; } >&2
  done
  trap - ERR
  stop "$dir" >/dev/null 2>&1 || true
  die "$*"
}

# End the process whose pid file is $1 (TERM, then KILL after 10 s).
end_process() {
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

stop() {
  local dir=${1:-}
  [ -n "$dir" ] && [ -f "$dir/slurm.conf" ] && [[ $(basename "$dir") == paperlab-slurm.* ]] ||
    die "usage: $0 stop DIR (the directory start printed)"
  export SLURM_CONF=$dir/slurm.conf
  # Its jobs first, while slurmd can still end their steps.
  if [ -f "$dir/slurmctld.pid" ] && scancel --full --quiet --user="$(id -un)" 2>/dev/null; then
    for _ in $(seq 40); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  end_process "$dir/slurmd.pid"
  end_process "$dir/slurmctld.pid"
  end_process "$dir/munged.pid"
  rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*) die "usage: $0 start | stop DIR" ;;
esac
