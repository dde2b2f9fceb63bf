#!/usr/bin/env bash
# rogue_forged_results.sh: a peer without the master key, on a network that
# reaches the ventilator, the keycoord and the sink, tries to get garbage
# signatures stored. With a certificate that is not in the allow-list
# (it knows the servers' public keys, which are public) it gets no batch
# and no lease, and nothing it pushes is stored. After the run, every
# stored signature verifies and the audit passes. (A worker whose allowed
# certificate was stolen is stopped by revoking it: the hosts suite.)
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

h_need_rogue

records=100000 keys=5 batch=10 ttl=3000
h_fault_options "$ttl" 1500 4000

h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
h_start_sink
h_start_worker 1
h_start_worker 1
h_start_ventilator "$batch"
h_wait_signed 1000 30

h_worker_endpoints
# h_rogue NAME ARGS...: runs the forger; its output goes to rogue-NAME.out.
h_rogue() {
    local name="$1" rc=0
    shift
    timeout -k 5 60 "$H_ROGUE" --ventilator "$H_EP_VENT" --keycoord "$H_EP_KC" --sink "$H_EP_SINK" \
        --flood 0 --steal-ms 2000 --bogus-rows 0 --forge "$@" \
        >"$H_LOGS/rogue-$name.out" 2>"$H_LOGS/rogue-$name.log" || rc=$?
    sed 's/^/    /' "$H_LOGS/rogue-$name.out" >&2
    [[ "$rc" == 0 ]] || { cat "$H_LOGS/rogue-$name.log" >&2; h_fail "recsign-rogue exited $rc"; }
}

h_step "1: a forger whose certificate is not allowed"
unlisted="$H_DIR/unlisted-certs"
"$H_ADMIN" certs --dir "$unlisted" --worker thief >>"$H_LOGS/certs.log" 2>&1 || h_fail "recsign certs failed"
cp "$H_CERTS"/{ventilator,keycoord,sink}.cert "$unlisted/"  # the servers' public keys are public
h_rogue unlisted --certs "$unlisted" --client-cert thief
stolen="$(sed -nE 's/.*stole ([0-9]+) batches.*/\1/p' "$H_LOGS/rogue-unlisted.out")"
forged="$(sed -nE 's/.*forgery: .*, ([0-9]+) rows pushed.*/\1/p' "$H_LOGS/rogue-unlisted.out")"
h_eq "${stolen:-0}" 0 "batches a client with an unlisted certificate received"
h_eq "$(h_sql "select count(*) from leases where holder like '%thief%'")" 0 \
    "leases granted to a client with an unlisted certificate"

h_wait_ventilator 90

# Every stored signature verifies (h_finish), so none of the garbage was stored.
h_finish "$batch"
echo "$RS_PROG: ok: the unlisted forger got nothing in and stored nothing; test took $SECONDS s"
