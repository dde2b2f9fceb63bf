#!/usr/bin/env bash
# rogue_forged_results.sh: a peer without the master key, on a network that
# reaches the ventilator, the keycoord and the sink, behaves like a worker
# for the batches it steals (leases a key for the batch's run and size, the
# keycoord grants any holder; pushes results under the lease with its real
# key id; releases the key) except that its signatures are garbage. The
# sink must store none of them: after the run, every stored signature
# verifies and the audit passes.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

H_ROGUE="${RECSIGN_ROGUE_BIN:-$H_BUILD/tests/recsign-rogue}"
[[ -x "$H_ROGUE" ]] || h_fail "missing binary $H_ROGUE"

records=100000 keys=5 batch=10 ttl=3000
H_KC_OPTS=(--lease-ttl-ms "$ttl")
H_VENT_OPTS=(--redispatch-ms 1500)
H_WORKER_OPTS=(--request-timeout-ms 1000)

h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
h_start_sink
h_start_worker 1
h_start_worker 1
h_start_ventilator "$batch"
h_wait_signed 1000 30

h_step "the rogue steals batches and pushes garbage signatures for them under real leases"
h_worker_endpoints
rc=0
timeout -k 5 60 "$H_ROGUE" --ventilator "$H_EP_VENT" --keycoord "$H_EP_KC" --sink "$H_EP_SINK" \
    --flood 0 --steal-ms 2000 --bogus-rows 0 --forge \
    >"$H_LOGS/rogue.out" 2>"$H_LOGS/rogue.log" || rc=$?
sed 's/^/    /' "$H_LOGS/rogue.out" >&2
[[ "$rc" == 0 ]] || { cat "$H_LOGS/rogue.log" >&2; h_fail "recsign-rogue exited $rc"; }
forged="$(sed -nE 's/.*forgery: .*, ([0-9]+) rows pushed.*/\1/p' "$H_LOGS/rogue.out")"
(( ${forged:-0} > 0 )) || h_fail "the rogue sent no forged row; the attack did not happen"
h_wait_ventilator 90

stored="$(h_sql "select count(*) from signatures s join leases l on l.id = s.lease_id where '/' || l.holder like '%/rogue%'")"
h_step "$stored of $forged forged signatures were stored"
h_eq "$stored" 0 "forged signatures stored under leases granted to the rogue"
h_finish "$batch"
echo "$RS_PROG: ok: none of $forged forged signatures was stored; test took $SECONDS s"
