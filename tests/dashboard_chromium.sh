#!/usr/bin/env bash
# dashboard_chromium.sh: `recsign dashboard` opened in real headless
# Chromium during a paced run and after it. The page's elements #signed and
# #total hold the counts as plain digits: mid-run a count between the first
# signature and what the database holds, of the right total; after the run
# exactly the database's counts. The page updates itself from its event
# stream (#status is written only by the script that applies an event; the
# key table is filled only by it). Screenshots of both moments are kept in
# the build's meson-logs (dashboard-mid-run.png, dashboard-done.png).
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

command -v chromium >/dev/null || h_fail "chromium is not installed (Debian package chromium)"
command -v curl >/dev/null || h_fail "curl is not installed"
artifacts="${RECSIGN_ARTIFACT_DIR:-$H_BUILD/meson-logs}"
mkdir -p "$artifacts"

records=24000 keys=8
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

# chromium_dom NAME: the page as Chromium shows it, into $H_DIR/NAME.html,
# and a screenshot into the artifacts. --timeout lets the page's script run
# (and take its events) for that long before the DOM is dumped; on a busy
# machine the first event may need longer: up to three tries, each longer.
chromium_dom() {
    local name="$1" try ms
    for try in 1 2 3; do
        ms=$((try * 6000))
        timeout -k 5 90 chromium --headless --no-sandbox --disable-gpu --no-first-run \
            --user-data-dir="$H_DIR/chromium" --timeout="$ms" --enable-logging=stderr \
            --dump-dom "$url" >"$H_DIR/$name.html" 2>>"$H_LOGS/chromium.log" \
            || h_fail "chromium --dump-dom failed (see chromium.log)"
        [[ "$(shown "$name" status)" == updated* ]] && break
        h_step "the page had no event after $ms ms; again"
    done
    timeout -k 5 90 chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$H_DIR/chromium" --timeout="$ms" --hide-scrollbars \
        --window-size=1400,1000 --screenshot="$artifacts/dashboard-$name.png" "$url" \
        >>"$H_LOGS/chromium.log" 2>&1 || h_fail "chromium --screenshot failed (see chromium.log)"
    [[ -s "$artifacts/dashboard-$name.png" ]] || h_fail "no screenshot at $artifacts/dashboard-$name.png"
}
# shown NAME ID: the text of the element with that id in NAME.html.
shown() { sed -nE "s/.*id=\"$2\"[^>]*>([^<]*)<.*/\\1/p" "$H_DIR/$1.html" | head -n 1; }
# The rows the script put into the key table.
key_rows() { grep -o '<tbody id="keys">.*</tbody>' "$H_DIR/$1.html" | sed 's/<\/tbody>.*//' | grep -o '<tr' | wc -l; }

h_step "a run paced to last seconds"
H_WORKER_OPTS=(--max-rate 400)
h_start_services 1 2
h_start_ventilator 100
h_wait_signed 2000 60

h_step "Chromium mid-run"
chromium_dom mid-run
after="$(h_signed)"
signed="$(shown mid-run signed)" total="$(shown mid-run total)"
[[ "$signed" =~ ^[0-9]+$ && "$total" =~ ^[0-9]+$ ]] \
    || h_fail "#signed '$signed' and #total '$total' are not plain digits"
h_eq "$total" "$records" "#total mid-run"
(( signed >= 2000 && signed <= after && signed < records )) \
    || h_fail "#signed mid-run is $signed; expected from 2000 to the $after stored by then, below $records"
[[ "$(shown mid-run status)" == updated* ]] \
    || h_fail "the page did not apply an event: #status is '$(shown mid-run status)'"
h_eq "$(key_rows mid-run)" "$keys" "rows in the key table"
grep -q 'class="leased"' "$H_DIR/mid-run.html" || grep -q '<tbody id="workers"><tr>' "$H_DIR/mid-run.html" \
    || h_fail "mid-run, the page shows neither a leased key nor a worker"
h_check_mid_run

h_wait_ventilator 180
db_signed="$(h_signed)"
h_eq "$db_signed" "$records" "signatures stored"
h_wait_until 30 "the dashboard's state at $db_signed signed" state_has "\"signed\":$db_signed,"

h_step "Chromium after the run"
chromium_dom done
h_eq "$(shown done signed)" "$db_signed" "#signed after the run"
h_eq "$(shown done total)" "$(h_sql 'select count(*) from records')" "#total after the run"
[[ "$(shown done status)" == updated* ]] \
    || h_fail "the page did not apply an event: #status is '$(shown done status)'"
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
