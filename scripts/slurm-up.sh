#!/usr/bin/env bash
# A one-node SLURM on this machine for the `slurm` tests (tests/test_slurm.py):
# Debian's slurm-wlm and munge, slurmctld + slurmd here, no accounting daemon.
#
#   sudo bash scripts/slurm-up.sh          # install (if needed), configure, start: idempotent
#   sudo bash scripts/slurm-up.sh down     # stop the daemons this script started
#   bash scripts/slurm-up.sh status        # is it up? (exit 0 when jobs can run)
#
# The configuration (/etc/slurm/slurm.conf, marked as written by this script) has one
# node (this host, at 127.0.0.1, with the CPUs and memory `slurmd -C` reports) in one
# default partition `debug`, ProctrackType=proctrack/linuxproc, TaskPlugin=task/none
# (no cgroups: works in containers), select/cons_tres with CPUs and memory as consumable
# resources, and AccountingStorageType=accounting_storage/none: there is no slurmdbd,
# so `sacct` has nothing to report. Snakemake's SLURM executor therefore queries job
# status with `squeue` (`slurm-status-command: squeue` in workflow/profiles/slurm),
# which lists finished jobs for MinJobAge = 300 s after they end.
#
# A slurm.conf that this script did not write is never touched: if that SLURM answers,
# `up` uses it as it is; otherwise `up` stops with a message.
#
# Exit status: 0 up (or stopped, for `down`); 1 it could not start; 2 SLURM is not
# installed and cannot be installed here (not root, or no apt-get).
set -euo pipefail

action="${1:-up}"
conf_dir=/etc/slurm
conf="$conf_dir/slurm.conf"
marker="# written by stablesweep scripts/slurm-up.sh"
state=/var/lib/stablesweep-slurm
logs=/var/log/slurm
run_dir=/run/stablesweep-slurm
partition=debug

say() { echo "[slurm-up] $*" >&2; }

have_slurm() {
    local tool
    for tool in slurmctld slurmd sbatch squeue scontrol sinfo munged munge unmunge; do
        command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "$tool" \
            >/dev/null 2>&1 || return 1
    done
}

ours() { [ -f "$conf" ] && head -n 1 "$conf" | grep -qxF "$marker"; }

alive() {  # alive PIDFILE: the process named in it runs
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# jobs can run: the controller answers and a node is idle, mixed or allocated
usable() {
    timeout 10 scontrol ping 2>/dev/null | grep -q "is UP" || return 1
    timeout 10 sinfo -h -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'
}

install_packages() {
    if have_slurm; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        say "SLURM (Debian packages slurm-wlm, munge) is not installed and this is not" \
            "root: run 'sudo bash scripts/slurm-up.sh'"
        exit 2
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "SLURM is not installed and apt-get was not found: install slurmctld, slurmd" \
            "and munge with the system's package manager"
        exit 2
    fi
    say "installing Debian's slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >&2
    have_slurm || { say "install finished but the SLURM commands are missing"; exit 1; }
}

write_conf() {  # write_conf FILE: the configuration of this host
    local node host
    node="$(slurmd -C | head -n 1)"  # NodeName=host CPUs=.. Boards=.. ... RealMemory=..
    case "$node" in
        NodeName=*) ;;
        *) say "'slurmd -C' did not describe this node: $node"; exit 1 ;;
    esac
    host="${node%% *}"
    host="${host#NodeName=}"
    cat > "$1" <<EOF
$marker
# A one-node test cluster; see the script for what each choice is for.
ClusterName=stablesweep
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$run_dir/slurmctld.pid
SlurmdPidFile=$run_dir/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
MpiDefault=none
ReturnToService=2
# finished jobs stay visible to squeue this long (Snakemake's status query)
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$partition Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    if timeout 10 munge -n 2>/dev/null | timeout 10 unmunge >/dev/null 2>&1; then
        return 0
    fi
    say "starting munged"
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        PATH="$PATH:/usr/sbin" mungekey --create --keyfile /etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    runuser -u munge -- "$(PATH="$PATH:/usr/sbin" command -v munged)"
    touch "$run_dir/munged-started"
    local _
    for _ in $(seq 50); do
        if timeout 10 munge -n 2>/dev/null | timeout 10 unmunge >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    say "munged did not start (see /var/log/munge/munged.log)"
    exit 1
}

stop_daemons() {
    local name pidfile pid _
    for name in slurmd slurmctld; do
        pidfile="$run_dir/$name.pid"
        if alive "$pidfile"; then
            pid="$(cat "$pidfile")"
            say "stopping $name (pid $pid)"
            kill "$pid"
            for _ in $(seq 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        fi
        rm -f "$pidfile"
    done
}

stop_munge() {
    if [ -f "$run_dir/munged-started" ] && alive /run/munge/munged.pid; then
        say "stopping munged"
        kill "$(cat /run/munge/munged.pid)"
    fi
    rm -f "$run_dir/munged-started"
}

wait_usable() {
    local host _ st
    for _ in $(seq 120); do
        if timeout 10 scontrol ping 2>/dev/null | grep -q "is UP"; then
            st="$(timeout 10 sinfo -h -o '%t' 2>/dev/null | head -n 1)"
            case "$st" in
                idle|mix|alloc) return 0 ;;
                down*|drain*|drng*|fail*)
                    host="$(timeout 10 sinfo -h -o '%N' | head -n 1)"
                    timeout 10 scontrol update nodename="$host" state=resume \
                        >/dev/null 2>&1 || true ;;
            esac
        fi
        sleep 0.5
    done
    say "SLURM did not become usable in 60 s; sinfo says:"
    sinfo >&2 || true
    say "logs: $logs/slurmctld.log, $logs/slurmd.log"
    exit 1
}

up() {
    install_packages
    if [ -f "$conf" ] && ! ours; then
        if usable; then
            say "using the SLURM already configured in $conf (not written by this script)"
            exit 0
        fi
        say "$conf exists, was not written by this script, and that SLURM does not answer;" \
            "not touching it"
        exit 1
    fi
    if [ "$(id -u)" != 0 ]; then
        if usable; then
            exit 0
        fi
        say "SLURM is installed but not running, and starting it needs root:" \
            "run 'sudo bash scripts/slurm-up.sh'"
        exit 2
    fi
    mkdir -p "$conf_dir" "$state/ctld" "$state/d" "$logs" "$run_dir"
    local new changed=false
    new="$(mktemp)"
    write_conf "$new"
    if ! cmp -s "$new" "$conf" 2>/dev/null; then
        mv "$new" "$conf"
        chmod 644 "$conf"
        changed=true
        say "wrote $conf"
    else
        rm -f "$new"
    fi
    start_munge
    if [ "$changed" = true ]; then
        stop_daemons
    fi
    local sbin
    sbin="$(PATH="$PATH:/usr/sbin" command -v slurmctld)"
    if ! alive "$run_dir/slurmctld.pid"; then
        say "starting slurmctld"
        "$sbin" -i  # -i: ignore state files of an earlier configuration
    fi
    if ! alive "$run_dir/slurmd.pid"; then
        say "starting slurmd"
        "$(dirname "$sbin")/slurmd"
    fi
    wait_usable
    # a job runs end to end
    if ! out="$(timeout 60 srun -N1 -n1 --time=1 /bin/echo ok 2>&1)" || [ "$out" != ok ]; then
        say "SLURM answers but a test job did not run: $out"
        exit 1
    fi
    say "up: $(sinfo -h -o '%P %D node(s) %c CPUs %m MB %t' | head -n 1)"
}

case "$action" in
    up) up ;;
    down)
        if [ -f "$conf" ] && ! ours; then
            say "$conf was not written by this script; not stopping that SLURM"
            exit 1
        fi
        stop_daemons
        stop_munge
        say "down"
        ;;
    status)
        if have_slurm && usable; then
            sinfo >&2
            exit 0
        fi
        say "not up"
        exit 1
        ;;
    *)
        say "unknown action '$action'; expected up, down or status"
        exit 1
        ;;
esac
