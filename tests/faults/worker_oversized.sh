#!/usr/bin/env bash
# worker_oversized.sh: a peer posing as the ventilator (it has the
# ventilator's certificate, as a rogue or a misbuilt ventilator would) sends
# a worker one message of 4 MiB + 1 byte, over the worker's --max-batch-mib.
# libzmq drops the message by dropping the connection, and never reconnects
# a connection it dropped for such a protocol error: the worker used to be
# cut off from that address for good, so the real ventilator, started there
# next, had no worker and its run never ended (one signing thread: with
# more, the others kept their connections and hid the loss). The worker must log and
# count the drop, connect again by itself, and sign the real run.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

records=20000 keys=3 batch=100
H_OVERSIZED="${RECSIGN_OVERSIZED_VENTILATOR_BIN:-$H_BUILD/tests/oversized_ventilator}"
[[ -x "$H_OVERSIZED" ]] || h_fail "missing binary $H_OVERSIZED"

h_start_db
h_init --keys "$keys" --records "$records"
h_start_keycoord
h_start_sink
h_start_worker 1 --holder wa
wa=$H_WORKER_PID wa_log=$H_WORKER_LOG
bytes=$((4 * 1048576 + 1))
h_step "an impostor on the ventilator's address $H_EP_VENT sends $bytes bytes"
certs=()
[[ -n "${H_CERTS:-}" ]] && certs=("$H_CERTS")
"$H_OVERSIZED" "$H_EP_VENT" "$bytes" "${certs[@]}" >"$H_LOGS/oversized.out" 2>&1 \
    || { cat "$H_LOGS/oversized.out" >&2; h_fail "the impostor's message did not make the worker drop its connection"; }
h_wait_until 10 "the worker to report the dropped connection" \
    grep -q "connection to the ventilator at $H_EP_VENT dropped (the ventilator stopped, or sent a message over the 4 MiB this worker accepts); connecting again; 1 so far" "$wa_log"
h_check_alive

h_step "the real ventilator on the same address"
h_run_ventilator "$batch" 60
h_eq "$(h_sql "select count(*) from signatures s join leases l on l.id = s.lease_id
               where '/' || l.holder like '%/wa/%'")" "$records" "records signed by the worker that was cut off"
h_finish "$batch"
echo "$RS_PROG: ok: the worker dropped an oversized message, connected again by itself and signed the run ($H_VENT_SECONDS s); test took $SECONDS s"
