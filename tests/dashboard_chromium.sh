#!/usr/bin/env bash
# dashboard_chromium.sh: `recsign dashboard` opened in real headless
# Chromium during a paced run and after it. The page's elements #signed and
# #total hold the counts as plain digits: mid-run a count between the first
# signature and what the database holds, of the right total; after the run
# exactly the database's counts; the key table shows every key's use as the
# lease log has it. A browser kept open on the page throughout shows it
# updating itself without a reload: the title, set by each Server-Sent
# event, read through Chromium's DevTools HTTP endpoint (/json/list), goes
# up during the run and reaches the final count. Screenshots of both
# moments are kept in the build's meson-logs (dashboard-mid-run.png,
# dashboard-done.png).
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

command -v chromium >/dev/null || h_fail "chromium is not installed (Debian package chromium)"
command -v curl >/dev/null || h_fail "curl is not installed"
artifacts="${RECSIGN_ARTIFACT_DIR:-$H_BUILD/meson-logs}"
mkdir -p "$artifacts"

records=16000 keys=8
h_start_db
h_init --keys "$keys" --records "$records"

dport=""
h_free_port dport || h_fail "no free port"
url="http://127.0.0.1:$dport/"
h_step "recsign dashboard on $url"
rs_proc_start dashboard "$H_LOGS/dashboard.log" "${H_RUN[@]}" "$H_ADMIN" dashboard --db "$H_DB" \
    --bind "127.0.0.1:$dport" --refresh-ms 500
state_has() { curl -fs "${url}state.json" 2>/dev/null | grep -q "$1"; }
h_wait_until 30 "the dashboard's first state" state_has "\"total\":$records,"

# chromium_dom NAME: the page as Chromium shows it once loaded (its script
# applies the state it came with), into $H_DIR/NAME.html, and a screenshot
# into the artifacts.
chromium_dom() {
    local name="$1"
    timeout -k 5 90 chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$H_DIR/chromium-$name" --enable-logging=stderr \
        --dump-dom "$url" >"$H_DIR/$name.html" 2>>"$H_LOGS/chromium.log" \
        || h_fail "chromium --dump-dom failed (see chromium.log)"
    [[ "$(shown "$name" status)" == updated* ]] \
        || h_fail "the page's script did not apply its state: #status is '$(shown "$name" status)'"
    timeout -k 5 90 chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$H_DIR/chromium-$name" --hide-scrollbars --timeout=5000 \
        --window-size=1400,1000 --screenshot="$artifacts/dashboard-$name.png" "$url" \
        >>"$H_LOGS/chromium.log" 2>&1 || h_fail "chromium --screenshot failed (see chromium.log)"
    [[ -s "$artifacts/dashboard-$name.png" ]] || h_fail "no screenshot at $artifacts/dashboard-$name.png"
}
# live_title: the title of the page in the browser kept open, or nothing.
live_title() {
    curl -fs "http://127.0.0.1:$cport/json/list" 2>/dev/null \
        | sed -nE 's/.*"title": *"(recsign [0-9]+\/[0-9]+ live)".*/\1/p' | head -n 1
}
# live_signed_above N: the open page says more than N are signed.
live_signed_above() {
    local t
    t="$(live_title)"
    [[ "$t" =~ ^recsign\ ([0-9]+)/([0-9]+)\ live$ ]] && (( BASH_REMATCH[1] > $1 ))
}
# shown NAME ID: the text of the element with that id in NAME.html.
shown() { sed -nE "s/.*id=\"$2\"[^>]*>([^<]*)<.*/\\1/p" "$H_DIR/$1.html" | head -n 1; }
# The rows the script put into the key table.
key_rows() { grep -o '<tbody id="keys">.*</tbody>' "$H_DIR/$1.html" | sed 's/<\/tbody>.*//' | grep -o '<tr' | wc -l; }

h_step "a browser kept open on the page (DevTools endpoint for its title)"
cport=""
h_free_port cport || h_fail "no free port"
rs_proc_start browser "$H_LOGS/browser.log" chromium --headless --no-sandbox --disable-gpu \
    --no-first-run --user-data-dir="$H_DIR/chromium-live" --remote-debugging-port="$cport" "$url"
browser=$RS_LAST_PID
h_wait_until 90 "the open page's first event" live_signed_above -1

h_step "a run paced to last seconds"
H_WORKER_OPTS=(--max-rate 150)
h_start_services 1 2
h_start_ventilator 100
h_wait_signed 1000 90

h_step "Chromium mid-run"
chromium_dom mid-run
after="$(h_signed)"
signed="$(shown mid-run signed)" total="$(shown mid-run total)"
[[ "$signed" =~ ^[0-9]+$ && "$total" =~ ^[0-9]+$ ]] \
    || h_fail "#signed '$signed' and #total '$total' are not plain digits"
h_eq "$total" "$records" "#total mid-run"
(( signed >= 1000 && signed <= after && signed < records )) \
    || h_fail "#signed mid-run is $signed; expected from 1000 to the $after stored by then, below $records"
h_eq "$(key_rows mid-run)" "$keys" "rows in the key table"
grep -q 'class="leased"' "$H_DIR/mid-run.html" || grep -q '<tbody id="workers"><tr>' "$H_DIR/mid-run.html" \
    || h_fail "mid-run, the page shows neither a leased key nor a worker"
h_check_mid_run
h_wait_until 60 "the open page to show more than $signed signed, without a reload" \
    live_signed_above "$signed"
h_step "the open page says '$(live_title)'"

h_wait_ventilator 180
db_signed="$(h_signed)"
h_eq "$db_signed" "$records" "signatures stored"
h_wait_until 30 "the dashboard's state at $db_signed signed" state_has "\"signed\":$db_signed,"
# The keycoord logs its grants and ends right after it answers, and may be
# behind on a busy machine: the worker and then the keycoord stop (the
# keycoord writes its whole log first), and the dashboard must read the
# lease log as it then stands.
h_stop "$H_WORKER_PID"
h_stop "$H_KC_PID"
dash_uses_match() {
    local shown_sum
    shown_sum="$(curl -fs "${url}state.json" 2>/dev/null | grep -oE '"uses":[0-9]+' \
                 | awk -F: '{ n += $2 } END { print n + 0 }')"
    [[ "$shown_sum" == "$(h_sql 'select count(*) from leases')" ]]
}
h_wait_until 30 "the dashboard's key use to match the lease log" dash_uses_match

h_wait_until 60 "the open page to show $db_signed/$records" \
    test "$(live_title)" = "recsign $db_signed/$records live"
# The browser is this test's, not a recsign process: stopped here, whatever
# its exit status.
kill -TERM "$browser" 2>/dev/null || true
wait "$browser" 2>/dev/null || true
RS_PIDS[$(rs_proc_index "$browser")]=""

h_step "Chromium after the run"
chromium_dom done
h_eq "$(shown done signed)" "$db_signed" "#signed after the run"
h_eq "$(shown done total)" "$(h_sql 'select count(*) from records')" "#total after the run"
h_eq "$(key_rows done)" "$keys" "rows in the key table"
grep -q 'finished' "$H_DIR/done.html" || h_fail "the page does not show the run finished"
# Every key's use as the lease log has it, in the page's key table.
uses="$(grep -o '<tbody id="keys">.*</tbody>' "$H_DIR/done.html" | sed 's/<\/tbody>.*//' \
        | sed -E 's/<tr[^>]*><td class="num">([0-9]+)<\/td><td>[a-z]+<\/td><td class="num">([0-9]+)<\/td>/\n\1 \2\n/g' \
        | grep -E '^[0-9]+ [0-9]+$' | sort -n | tr '\n' ';')"
h_eq "$uses" "$(h_sql "select k.id || ' ' || count(l.id) from keys k left join leases l on l.key_id = k.id group by k.id order by k.id" | tr '\n' ';')" \
    "key uses shown vs the lease log"

h_stop_services
h_verify
h_audit
echo "$RS_PROG: ok: Chromium showed $signed of $total mid-run and $db_signed of $records after; screenshots in $artifacts"
