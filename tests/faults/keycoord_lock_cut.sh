#!/usr/bin/env bash
# keycoord_lock_cut.sh: issue 12's first scenario. A keycoord leads, a
# second waits as a standby (same --bind). The leader's lock session is cut
# (pg_terminate_backend), then, as on a flapping link, the session of the
# keycoord that took over is cut as well. Each time the keycoord that lost
# its session stops granting at once (its confirmation fails, and the
# database refuses every lease-log write of its epoch, also on its healthy
# writer connection), closes its lease socket and goes back to standby; the
# other takes over with a new epoch, adopts the leases open in the log and
# holds grants for a TTL. Before the fix, the cut leader kept granting for
# up to 2 s and its writer stored those grants, which the new leader never
# learned of: thousands of overlapping leases and LRU violations in the
# audit. The run completes; verify and audit pass; no lease of an epoch was
# granted after the next epoch's first event.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=60000 keys=3 batch=5 ttl=2000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_kc_pair
a_log=$H_KC_A_LOG b_log=$H_KC_B_LOG
h_kc_run "$batch"

# Cut A's lock session: B takes over (epoch 2). Then cut B's: A, a standby
# by then, takes over (epoch 3).
h_cut_session "$(h_kc_session "$a_log")"
h_wait_until 30 "keycoord B to lead epoch 2" h_kc_serves "$b_log" 2
# A learns it lost the lock from its confirmation on the lock's session, or
# from its lease-log writer, whichever runs first: the database refuses a
# write of epoch 1 once B began epoch 2.
lost_lock() { grep -Eq "leadership of epoch 1 cannot be confirmed|the database refused a lease log write of epoch 1" "$a_log"; }
h_wait_until 30 "A's word on its lost lock" lost_lock
h_wait_until 30 "A back to standby" \
    grep -q "no longer the leader of epoch 1: lease socket closed; back to standby" "$a_log"
epoch_granted() { (( $(h_sql "select count(*) from leases where epoch = $1") > 0 )); }
h_wait_until 30 "a grant of epoch 2 in the log" epoch_granted 2
h_cut_session "$(h_kc_session "$b_log")"
h_wait_until 30 "keycoord A to lead epoch 3" h_kc_serves "$a_log" 3
h_wait_until 30 "B back to standby" \
    grep -q "no longer the leader of epoch 2: lease socket closed; back to standby" "$b_log"
h_check_mid_run
h_wait_ventilator 120
h_check_alive

# Every lease carries the epoch it was granted in, and no epoch's event
# comes after a later epoch's first event.
h_eq "$(h_sql "select count(*) from leases where epoch is null or epoch not between 1 and 3")" 0 \
    "leases of no epoch or of an epoch that never was"
for e in 1 2; do
    h_eq "$(h_sql "select count(*) from leases o where o.epoch = $e and greatest(o.granted_at, o.ended_at)
                   > (select min(granted_at) from leases n where n.epoch > $e)")" 0 \
        "events of epoch $e after the next epoch's first grant"
done
epoch_granted 3 || h_fail "the leader of epoch 3 granted nothing"

h_finish_kc "$batch" 3
echo "$RS_PROG: ok: two lock sessions cut in a row; leadership went A -> B -> A through epochs 1-3; run completed in $H_VENT_SECONDS s; test took $SECONDS s"
