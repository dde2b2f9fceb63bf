#!/usr/bin/env bash
# keycoord_first_down.sh: a worker is started while the first keycoord of
# its --keycoord list has nothing listening (host A lost), with a start-up
# timeout no longer than one request (--connect-timeout-ms 2000
# --request-timeout-ms 2000). At start every endpoint of the list gets a
# full try before the worker gives up: it moves to the second keycoord,
# which answers, and the run completes with one signature per record,
# verify and audit passing. Then a worker whose list names only dead
# endpoints says so plainly, naming the list, and exits 1.
source "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

h_start_db
h_init --keys 3 --records 20000
h_worker_endpoints
h_extra_endpoint kc2
h_start_keycoord --bind "$kc2"
h_start_sink
h_start_worker 1 --keycoord "$H_EP_KC,$kc2" --connect-timeout-ms 2000 --request-timeout-ms 2000
w_log=$H_WORKER_LOG
h_wait_until 20 "the worker to lease from $kc2" \
    grep -q "keycoord at $kc2 answers; leasing from it" "$w_log"
h_log_has "$w_log" "keycoord at $H_EP_KC has not answered 1 attempts of 2000 ms in a row; trying the next in the list, $kc2" \
    "the worker's move at start"
h_start_ventilator 100
h_wait_ventilator 120
h_check_alive
h_log_lacks "$w_log" "answered within|did not answer" "the worker that found the second keycoord"

h_step "a worker whose every keycoord is down"
h_extra_endpoint dead1
h_extra_endpoint dead2
st=0
"$H_WORKER" --ventilator "$H_EP_VENT" --keycoord "$dead1,$dead2" --sink "$H_EP_SINK" \
    --threads 1 --master-key "$H_KEY" --connect-timeout-ms 2000 --request-timeout-ms 2000 \
    >"$H_LOGS/dead.log" 2>&1 || st=$?
h_eq "$st" 1 "the exit status of a worker with no keycoord up"
h_log_has "$H_LOGS/dead.log" "none of the keycoords $dead1,$dead2 answered within [0-9]+ ms \\(each tried for 2000 ms at least once\\); expected a running recsign-keycoord at one of them" \
    "the worker with no keycoord up"
h_finish 100
