#!/usr/bin/env bash
# workers_come_and_go.sh: the run starts with one worker of one thread;
# three more join mid-run, then two leave with SIGTERM while they work. A
# worker that leaves finishes its batch, pushes it, gives its key back and
# exits 0, its last log line saying what it did; none of its leases stays
# open and its last one ends 'released', not 'expired'. The others finish
# the run.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=100000 keys=2 batch=4 ttl=3000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
h_start_sink
declare -A pid log
h_start_worker 1 --holder w1
pid[w1]=$H_WORKER_PID log[w1]=$H_WORKER_LOG
h_start_ventilator "$batch"

h_wait_signed 5000 30
for w in w2 w3 w4; do
    h_start_worker 1 --holder "$w"
    pid[$w]=$H_WORKER_PID log[$w]=$H_WORKER_LOG
done
h_step "three workers joined"
# All three at work: each has been granted a lease.
all_granted() {
    [[ "$(h_sql "select count(distinct holder) from leases
                 where substr(holder, 12) in ('w2/${pid[w2]}/0', 'w3/${pid[w3]}/0', 'w4/${pid[w4]}/0')")" == 3 ]]
}
h_wait_until 20 "a lease granted to each new worker" all_granted

# Two leave while they work: the first one and one that joined.
for w in w1 w3; do
    h_check_mid_run
    h_stop "${pid[$w]}" TERM 15
    h_step "$w exited 0: $(h_last_line "${log[$w]}" | cut -c 1-120)..."
done
h_wait_ventilator 90

for w in w1 w3; do
    last="$(h_last_line "${log[$w]}")"
    grep -Eq 'stopped: [0-9]+ batches, [0-9]+ signatures pushed' <<<"$last" \
        || h_fail "$w: last log line is not its stop summary: $last"
    n="$(sed -E 's/.*stopped: ([0-9]+) batches.*/\1/' <<<"$last")"
    (( n > 0 )) || h_fail "$w stopped having signed no batch; it did not work before it left"
    holder="$w/${pid[$w]}"
    # The last lease it received; a grant it never received (sent to the
    # socket a Lazy Pirate retry had just closed, or after it stopped
    # waiting) is voided at once (h_held_sql).
    h_eq "$(h_sql "select end_reason from leases where '/' || holder like '%/$holder/%'
                   and $(h_held_sql "$ttl") order by id desc limit 1")" \
        released "end of $w's last lease"
    h_eq "$(h_sql "select count(*) from leases where '/' || holder like '%/$holder/%'
                   and end_reason = 'expired' and $(h_held_sql "$ttl")")" \
        0 "leases of $w that ran out their TTL"
    h_eq "$(h_sql "select count(*) from leases where '/' || holder like '%/$holder/%' and ended_at is null")" \
        0 "leases of $w still open"
    h_log_lacks "${log[$w]}" ' ERROR ' "$w logged errors"
done

h_finish "$batch"
echo "$RS_PROG: ok: 1 + 3 workers, 2 stopped mid-run with exit 0 and every lease released; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
