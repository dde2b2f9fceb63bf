# tests/hosts/netns.sh: hosts on this machine for the 'hosts' suite, built
# with network namespaces. Source it after tests/harness.sh. Each host is a
# namespace with one veth pair (its eth0) to a bridge br0 in a namespace of
# its own; addresses are in one /24 that exists only inside these
# namespaces; no namespace has a default route and none is linked to the
# root namespace, so no packet leaves the machine.
#
#   ns_skip MESSAGE          exit 77 (skip) with one line
#   ns_need_root             skips unless root with the 'ip' command
#   ns_lock                  one 'hosts' test at a time on this machine
#   ns_create NET NS...      the bridge namespace NET, then hosts NS... with
#                            addresses PREFIX.1, .2, ... (NS_PREFIX)
#   ns_kill_host NS          SIGKILL to every process of NS (PostgreSQL
#                            included); returns when they are gone
#   ns_cleanup               the EXIT trap: processes, clusters, namespaces
#
# NS_ALL lists every namespace made (bridge last); NS_PG_DIRS every cluster
# directory to stop at the end (a test adds to it).

# shellcheck shell=bash

NS_ALL=()
NS_PG_DIRS=()
NS_LOCKED=0
NS_LOCK="${TMPDIR:-/tmp}/recsign-hosts.lock"

ns_skip() { echo "$RS_PROG: SKIP: $*"; exit 77; }

ns_need_root() {
    [[ "$(id -u)" -eq 0 ]] || ns_skip "needs root to create network namespaces"
    command -v ip >/dev/null 2>&1 || ns_skip "no 'ip' command (Debian package iproute2)"
}

# One run at a time on this machine (tests/hosts/multi_host.sh takes the
# same lock): a lock directory holding its owner's pid (a directory, not
# flock, so that no child inherits the lock). A lock whose owner is gone
# belongs to a run that died without its trap.
ns_lock() {
    local owner deadline=$((SECONDS + 300))
    until mkdir "$NS_LOCK" 2>/dev/null; do
        owner="$(cat "$NS_LOCK/pid" 2>/dev/null || true)"
        if [[ -n "$owner" ]] && ! kill -0 "$owner" 2>/dev/null; then
            rm -rf "$NS_LOCK"
            continue
        fi
        (( SECONDS < deadline )) || h_fail "another 'hosts' test (pid ${owner:-?}) holds $NS_LOCK"
        sleep 1
    done
    echo $$ >"$NS_LOCK/pid"
    NS_LOCKED=1
}

# ns_kill NS: SIGKILL to every process in NS, without waiting.
ns_kill() {
    local pids
    pids="$(ip netns pids "$1" 2>/dev/null)" || return 0
    # shellcheck disable=SC2086  # one pid per word
    # (all of them may have exited since: nothing left to kill)
    [[ -z "$pids" ]] || kill -9 $pids 2>/dev/null || true
    return 0
}

# ns_delete NS...: kills what runs in each and deletes it (its veths and
# bridge go with it).
ns_delete() {
    local ns
    for ns in "$@"; do
        ip netns list 2>/dev/null | grep -qw "^$ns" || continue
        ns_kill "$ns"
        ip netns del "$ns" 2>/dev/null || true
    done
}

# ns_create NET NS...: NS_PREFIX (e.g. 10.213.8) must be set; the hosts get
# NS_PREFIX.1, .2, ... in the order given. Skips when namespaces cannot be
# made here. Fails when a namespace has a default route.
ns_create() {
    local net="$1" n=1 h
    shift
    NS_ALL=("$@" "$net")
    ns_delete "${NS_ALL[@]}"
    ip netns add "$net" 2>/dev/null || ns_skip "'ip netns add' failed (no CAP_SYS_ADMIN or no netns support)"
    ip -n "$net" link add br0 type bridge 2>/dev/null || ns_skip "cannot create a bridge in a network namespace"
    for h in "$@"; do
        ip netns add "$h"
        ip -n "$net" link add "v$h" type veth peer name eth0 netns "$h"
        ip -n "$net" link set "v$h" master br0 up
        ip -n "$h" link set lo up
        ip -n "$h" addr add "$NS_PREFIX.$n/24" dev eth0
        ip -n "$h" link set eth0 up
        n=$((n + 1))
    done
    ip -n "$net" link set br0 up
    for h in "${NS_ALL[@]}"; do
        [[ -z "$(ip -n "$h" route show default)" && -z "$(ip -n "$h" -6 route show default)" ]] \
            || h_fail "namespace $h has a default route"
    done
}

# Drops processes that are gone (killed on purpose) from the harness's
# table, so that waiting on a run does not report them as failures.
ns_forget_dead() {
    local i pid
    for i in "${!RS_PIDS[@]}"; do
        pid="${RS_PIDS[$i]}"
        [[ -n "$pid" ]] || continue
        rs_proc_alive "$pid" && continue
        { wait "$pid"; } 2>/dev/null || true
        RS_PIDS[i]=""
    done
}

# ns_kill_host NS: the loss of a host: SIGKILL to every process in NS at
# once; returns when they are gone, and drops them from the harness's table.
ns_kill_host() {
    local ns="$1" pids p deadline=$((SECONDS + 10))
    pids="$(ip netns pids "$ns")"
    [[ -n "$pids" ]] || return 0
    # shellcheck disable=SC2086
    kill -9 $pids
    for p in $pids; do
        while rs_proc_alive "$p"; do
            (( SECONDS < deadline )) || h_fail "pid $p in $ns survived SIGKILL"
            sleep 0.02
        done
    done
    ns_forget_dead
    [[ -z "$(ip netns pids "$ns")" ]] || h_fail "processes left in $ns after SIGKILL"
}

ns_cleanup() {
    local status=$? d ns pids
    set +e
    trap - EXIT INT TERM ERR
    trap '' PIPE
    for ns in "${NS_ALL[@]}"; do   # a paused process must be able to take its SIGTERM
        pids="$(ip netns pids "$ns" 2>/dev/null)"
        # shellcheck disable=SC2086
        [[ -n "$pids" ]] && kill -CONT $pids 2>/dev/null
    done
    rs_proc_stop_all
    for d in "${NS_PG_DIRS[@]}"; do rs_pg_stop "$d"; done
    ns_delete "${NS_ALL[@]}"
    (( NS_LOCKED )) && rm -rf "$NS_LOCK"
    if (( status == 77 )); then
        rm -rf "$H_DIR"
        exit 77
    fi
    (exit "$status")
    h_cleanup
}
