#!/usr/bin/env bash
# local-cluster.sh: a private, real Slurm cluster on this machine (munged + slurmctld + one slurmd per
# node, no systemd, no cgroups, no accounting), for tests and for trying the batch script. Everything
# lives under one directory; nothing in /etc/slurm, /run or /var is touched. See --help.
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin  # the daemons live there; a non-login root shell may lack them

usage() {
    cat <<'EOF'
Usage: local-cluster.sh up DIR [--nodes N] [--cpus C] [--kill-wait S] [--owner PID] [--max-seconds S]
       local-cluster.sh down DIR

up    writes DIR/slurm.conf, starts a munged with its own key and socket, slurmctld and N slurmd
      daemons (nodes n1..nN, each with C CPUs, all on this host), waits until every node is idle
      and prints the line `SLURM_CONF=DIR/slurm.conf` on stdout. Point every Slurm command at the
      cluster with that variable (sbatch, squeue, scancel, scontrol, srun).
        --nodes N        nodes (default 2)
        --cpus C         CPUs per node (default 2; Slurm trusts the configuration, so nodes may
                         claim more CPUs than the machine has)
        --kill-wait S    seconds between a job's SIGTERM and its SIGKILL (Slurm's KillWait;
                         default 30, as Slurm's own default)
        --owner PID      tear the cluster down when process PID ends (a test runner that dies
                         without cleaning up leaves nothing behind)
        --max-seconds S  tear the cluster down after S seconds at the latest (default 1800)
      If a daemon does not come up, everything started is stopped again, the daemons' logs are
      printed and the exit status is 1.
down  stops the cluster of DIR by the PIDs recorded at start: jobs first (SIGKILL to every process
      through Slurm, then SIGKILL by PID to whatever the daemons started and is still there), then
      slurmd, slurmctld and munged (SIGTERM, SIGKILL after 5 s). It removes no file: the logs stay
      in DIR/log for the caller to read; deleting DIR is the caller's choice.

Cluster settings (why): SlurmUser root (must run as root); MinJobAge 300 (finished jobs stay
visible to `scontrol show job` for 5 minutes; there is no accounting, so no sacct);
EnforcePartLimits ALL (a request larger than the nodes fails at once instead of pending forever);
AuthInfo cred_expire=5 (a requeued job may start again after 5 s; Slurm's default is 120 s) and
SchedulerParameters sched_interval=1,bf_interval=1 (pending jobs are looked at every second, not
every 30-60 s); MpiDefault none (`srun --mpi=pmix` chooses PMIx per step; mpi.conf keeps its
files in DIR/pmix); ports: a free block above 20000; job ids start from a number derived from the
ports, so that clusters side by side do not share them.
EOF
}

die() { echo "local-cluster.sh: $*" >&2; exit 1; }

# Prints a port P >= 20000 such that P..P+count-1 are not listened on (TCP, IPv4 or IPv6), from a
# random start so that clusters started at the same time do not pick the same block.
free_ports() {
    local count=$1 used port p ok
    # /proc/net/tcp*: local address "HEX_IP:HEX_PORT" in column 2, state 0A = LISTEN in column 4.
    used=$(awk '$4 == "0A" { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null \
           | while read -r hex; do echo $((16#$hex)); done | sort -un)
    for ((port = 20000 + RANDOM % 2000 * 10; port < 65000; port += 10)); do
        ok=1
        for ((p = port; p < port + count; p++)); do grep -qx "$p" <<<"$used" && { ok=0; break; }; done
        ((ok)) && { echo "$port"; return; }
    done
    die "no free block of $count TCP ports above 20000"
}

# Waits up to $2 seconds for the pid file $1 to hold a live PID and prints it.
pid_from() {
    local file=$1 deadline=$((SECONDS + $2)) pid
    while ((SECONDS < deadline)); do
        if [[ -s $file ]]; then
            pid=$(<"$file")
            kill -0 "$pid" 2>/dev/null && { echo "$pid"; return; }
        fi
        sleep 0.1
    done
    return 1
}

# Whether PID runs. Exited daemons may linger as zombies of PID 1 for a while: they do not run.
alive() {
    kill -0 "$1" 2>/dev/null && [[ $(cut -d ' ' -f 3 "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# Stops one process by PID: SIGTERM, then SIGKILL after 5 s.
stop_pid() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# PIDs of the processes this cluster started: slurmstepd (it inherits slurmd's environment, marked
# with WAVEMIX_LOCAL_CLUSTER) and every job process (Slurm exports SLURM_CONF and SLURM_JOB_ID into
# jobs). A shell that merely exported SLURM_CONF is not one of them.
cluster_processes() {
    local dir=$1 file pid
    # Not this script, nor the daemons (they are stopped by PID, gently, afterwards).
    local skip=" $$ $BASHPID $(cat "$dir"/pids/* 2>/dev/null | tr '\n' ' ') "
    {
        grep -lzxF "WAVEMIX_LOCAL_CLUSTER=$dir" /proc/[0-9]*/environ 2>/dev/null || true
        grep -lzxF "SLURM_CONF=$dir/slurm.conf" /proc/[0-9]*/environ 2>/dev/null | while read -r file; do
            if grep -qz '^SLURM_JOB_ID=' "$file" 2>/dev/null; then echo "$file"; fi
        done
    } | while read -r file; do
        pid=${file#/proc/}; pid=${pid%/environ}
        if [[ $skip != *" $pid "* ]]; then echo "$pid"; fi
    done
}

down() {
    local dir=$1 name pid deadline
    [[ -d $dir/pids ]] || { echo "local-cluster.sh: no cluster in $dir" >&2; return 0; }
    # The watchdog first, so that it does not race this teardown (unless this is the watchdog).
    if [[ -s $dir/pids/watchdog && $(<"$dir/pids/watchdog") != "$$" ]]; then
        kill "$(<"$dir/pids/watchdog")" 2>/dev/null || true
    fi
    # Jobs would outlive the daemons: SIGKILL every step through Slurm, as a node failure would, and
    # give the steps up to 10 s to go; then kill by PID whatever is left.
    export SLURM_CONF=$dir/slurm.conf
    # (Slurm's commands retry for long against a controller that does not answer: time limits.)
    if [[ -s $dir/pids/slurmctld ]] && alive "$(<"$dir/pids/slurmctld")"; then
        timeout 5 scancel --full --signal=KILL --user="$(id -un)" 2>/dev/null || true
        timeout 5 scancel --user="$(id -un)" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while ((SECONDS < deadline)) && [[ -n $(timeout 2 squeue -h -o %i 2>/dev/null) ]]; do sleep 0.2; done
    fi
    for pid in $(cluster_processes "$dir"); do kill -KILL "$pid" 2>/dev/null || true; done
    for name in $(ls "$dir/pids" | grep '^slurmd-') slurmctld munged; do
        [[ -s $dir/pids/$name ]] || continue
        stop_pid "$(<"$dir/pids/$name")"
        rm -f "$dir/pids/$name"
    done
    rm -f "$dir/pids/watchdog"
    echo "local-cluster.sh: stopped the cluster of $dir" >&2
}

show_logs() {
    local log
    for log in "$1"/log/*; do
        [[ -s $log ]] || continue
        echo "--- $log (last 20 lines)" >&2
        tail -n 20 "$log" >&2
    done
}

# Closes every inherited descriptor above 2. A daemon keeps what it inherits: an open descriptor of
# the caller's can keep the caller waiting forever (Foundation's Process, for one, learns that its
# child exited when a socket it passed to the child is closed).
close_inherited_descriptors() {
    local fd
    for fd in /proc/$$/fd/*; do
        fd=${fd##*/}
        if ((fd > 2)); then exec {fd}>&- 2>/dev/null || true; fi
    done
}

up() {
    local dir=$1; shift
    local nodes=2 cpus=2 kill_wait=30 owner="" max_seconds=1800
    while (($#)); do
        case $1 in
            --nodes) nodes=${2:?--nodes needs a value}; shift 2 ;;
            --cpus) cpus=${2:?--cpus needs a value}; shift 2 ;;
            --kill-wait) kill_wait=${2:?--kill-wait needs a value}; shift 2 ;;
            --owner) owner=${2:?--owner needs a value}; shift 2 ;;
            --max-seconds) max_seconds=${2:?--max-seconds needs a value}; shift 2 ;;
            *) die "unknown option '$1' (see --help)" ;;
        esac
    done
    for value in "$nodes" "$cpus" "$kill_wait" "$max_seconds" ${owner:+"$owner"}; do
        [[ $value =~ ^[1-9][0-9]*$ ]] || die "'$value' is not a positive integer"
    done
    [[ $(id -u) == 0 ]] || die "must run as root (the daemons run as SlurmUser=root)"
    for program in munged slurmctld slurmd sinfo runuser; do
        command -v "$program" >/dev/null || die "$program is not installed (apt-get install slurm-wlm munge)"
    done
    id munge >/dev/null 2>&1 || die "there is no 'munge' user (apt-get install munge)"
    [[ -e $dir/pids ]] && die "$dir already holds a cluster (local-cluster.sh down $dir)"
    close_inherited_descriptors

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    mkdir -p "$dir/pids" "$dir/log" "$dir/state" "$dir/munge"
    # Whatever stops this function before the cluster is up (an error, a die) stops what it started.
    starting=$dir
    trap 'echo "local-cluster.sh: starting the cluster failed" >&2; show_logs "$starting"; down "$starting"' EXIT

    # munged runs as the munge user with its own key and socket, so a system munged (if any) is
    # neither needed nor disturbed. It refuses a key others can read and a socket directory others
    # can write; every client must be able to traverse that directory.
    chown munge:munge "$dir/munge"
    chmod 0711 "$dir/munge"
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chown munge:munge "$dir/munge/munge.key"
    chmod 0400 "$dir/munge/munge.key"
    touch "$dir/log/munged.log"
    chown munge:munge "$dir/log/munged.log"
    local socket=$dir/munge/munge.socket
    # The daemons get no stdin/stdout/stderr of ours: they would keep a caller's pipe open forever.
    runuser -u munge -- munged --socket="$socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
        </dev/null >>"$dir/log/daemons.out" 2>&1
    pid_from "$dir/munge/munged.pid" 10 >"$dir/pids/munged" || die "munged did not start"

    local host port node
    host=$(hostname -s)
    port=$(free_ports $((nodes + 1)))
    {
        echo "# Written by cluster/slurm/local-cluster.sh: a private test cluster (see its --help)."
        echo "ClusterName=wavemixlocal"
        echo "SlurmctldHost=$host(127.0.0.1)"
        echo "SlurmUser=root"
        echo "SlurmdUser=root"
        echo "MailProg=/bin/true"
        echo "AuthType=auth/munge"
        echo "CredType=cred/munge"
        echo "AuthInfo=socket=$socket,cred_expire=5"
        echo "SlurmctldPort=$port"
        # Job ids of their own: PMIx names its directories after them, and two clusters started
        # side by side must not collide.
        echo "FirstJobId=$(((port - 20000) * 100 + 1))"
        echo "StateSaveLocation=$dir/state"
        echo "SlurmdSpoolDir=$dir/spool-%n"
        echo "SlurmctldPidFile=$dir/slurmctld.pid"
        echo "SlurmdPidFile=$dir/slurmd-%n.pid"
        echo "SlurmctldLogFile=$dir/log/slurmctld.log"
        echo "SlurmdLogFile=$dir/log/slurmd-%n.log"
        echo "SlurmctldDebug=info"
        echo "SlurmdDebug=info"
        echo "SlurmdParameters=config_overrides"
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "JobAcctGatherType=jobacct_gather/none"
        echo "AccountingStorageType=accounting_storage/none"
        echo "JobCompType=jobcomp/none"
        echo "SchedulerType=sched/backfill"
        echo "SchedulerParameters=sched_interval=1,bf_interval=1"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_Core"
        echo "EnforcePartLimits=ALL"
        echo "MpiDefault=none"
        echo "ReturnToService=2"
        echo "KillWait=$kill_wait"
        echo "InactiveLimit=0"
        echo "MinJobAge=300"
        echo "SlurmctldTimeout=120"
        echo "SlurmdTimeout=300"
        echo "Waittime=0"
        for ((node = 1; node <= nodes; node++)); do
            echo "NodeName=n$node NodeHostname=$host NodeAddr=127.0.0.1 Port=$((port + node)) CPUs=$cpus State=UNKNOWN"
        done
        echo "PreemptType=preempt/partition_prio"
        echo "PreemptMode=REQUEUE"
        echo "PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1"
        echo "PartitionName=urgent Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF"
    } >"$dir/slurm.conf"
    # srun --mpi=pmix: the PMIx client directories inside this cluster's directory, not /tmp.
    mkdir -p "$dir/pmix"
    echo "PMIxCliTmpDirBase=$dir/pmix" >"$dir/mpi.conf"
    export SLURM_CONF=$dir/slurm.conf WAVEMIX_LOCAL_CLUSTER=$dir

    slurmctld -c </dev/null >>"$dir/log/daemons.out" 2>&1  # -c: a clean state, no jobs of an earlier cluster
    pid_from "$dir/slurmctld.pid" 20 >"$dir/pids/slurmctld" || die "slurmctld did not start"
    for ((node = 1; node <= nodes; node++)); do
        mkdir -p "$dir/spool-n$node"
        slurmd -N "n$node" </dev/null >>"$dir/log/daemons.out" 2>&1
        # slurmd deletes its pid file when it stops: keep the PID elsewhere.
        pid_from "$dir/slurmd-n$node.pid" 20 >"$dir/pids/slurmd-n$node" || die "slurmd n$node did not start"
    done

    local deadline=$((SECONDS + 30)) idle
    while :; do
        idle=$(sinfo -h -N -o '%N %T' 2>/dev/null | sort -u | awk '$2 == "idle"' | wc -l)
        ((idle == nodes)) && break
        ((SECONDS < deadline)) || die "the nodes did not become idle within 30 s: $(sinfo -h -N -o '%N %T' 2>&1 | tr '\n' ' ')"
        sleep 0.2
    done
    trap - EXIT

    # The watchdog: a detached process that tears the cluster down when the owner is gone or the
    # time is up, whichever comes first.
    setsid env -u WAVEMIX_LOCAL_CLUSTER bash -c '
        dir=$1 owner=$2 end=$((SECONDS + $3)) script=$4
        while ((SECONDS < end)); do
            [[ -n $owner ]] && ! kill -0 "$owner" 2>/dev/null && break
            sleep 1
        done
        exec "$script" down "$dir"' watchdog "$dir" "$owner" "$max_seconds" "$(realpath "$0")" \
        </dev/null >>"$dir/log/watchdog.log" 2>&1 &
    echo $! >"$dir/pids/watchdog"
    echo "SLURM_CONF=$SLURM_CONF"
}

case ${1:-} in
    -h | --help) usage ;;
    up) (($# >= 2)) || die "up needs a directory (see --help)"; shift; up "$@" ;;
    down) (($# == 2)) || die "down needs a directory (see --help)"; down "$(cd "$2" 2>/dev/null && pwd || echo "$2")" ;;
    *) usage >&2; exit 2 ;;
esac
