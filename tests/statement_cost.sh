#!/usr/bin/env bash
# statement_cost.sh: the shapes of the ventilator's and the sink's statements
# that issue 13 cut (docs/PERFORMANCE.md, "Where the backends' CPU goes"),
# counted where load cannot change them: buffer accesses per statement
# (pg_stat_statements) and the plans (auto_explain), over one run of
# 60,000 records (over 8 MB of records: enough for the planner to plan
# parallel workers where a session allows them).
# - a page of records joins the signatures of its id range once (a merge
#   join), not one probe per record: under 0.5 buffer accesses per record
#   (one probe per record was 2 to 3);
# - no statement of the ventilator's or the sink's session plans a
#   parallel worker (a Gather node), and the ventilator's exact count is a
#   merge anti-join, not a hash of a whole table;
# - the sink's COPYs into signatures carry at most 200 rows each (its
#   S_COPY_ROWS): PostgreSQL 15 pins a slot per buffered row, at a cost
#   that grows with the square of the rows of one COPY;
# - a flush is one query message (BEGIN, its COPYs, its count, COMMIT):
#   a message per statement cost two more round trips per COPY and one
#   per other statement (log_statement shows each message once).
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

records=60000
export RS_PG_EXTRA_CONF="shared_preload_libraries = 'pg_stat_statements, auto_explain'
auto_explain.log_min_duration = 0
log_line_prefix = '%m [%p] app=%a '
log_statement = 'all'"
h_start_db
h_sql 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null
h_init --keys 20 --records "$records"
# Each COPY into signatures notes how many rows it stored (a statement
# trigger over its transition table; only COPYs, not the staged path's
# INSERT; a flush rolled back takes its notes with it).
h_sql "CREATE TABLE copy_sizes (rows bigint NOT NULL);
       CREATE FUNCTION note_copy_size() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS \$\$
       BEGIN
         IF current_query() ~* 'COPY signatures ' THEN
           INSERT INTO copy_sizes SELECT count(*) FROM fresh;
         END IF;
         RETURN NULL;
       END \$\$;
       CREATE TRIGGER note_copy_size AFTER INSERT ON signatures REFERENCING NEW TABLE AS fresh
         FOR EACH STATEMENT EXECUTE FUNCTION note_copy_size()" >/dev/null
h_sql 'SELECT pg_stat_statements_reset()' >/dev/null
h_start_services 1 2
h_run_ventilator 100
h_stop_services
h_check_complete

# The page statement: the one with the running byte sum.
read -r calls rows hits < <(h_sql "SELECT sum(calls), sum(rows), sum(shared_blks_hit)
    FROM pg_stat_statements WHERE query LIKE '%ROWS UNBOUNDED PRECEDING%'" | tr '|' ' ')
[[ -n "$calls" && "$calls" -gt 0 ]] || h_fail "no page statement of the ventilator in pg_stat_statements"
(( rows >= records )) || h_fail "the pages returned $rows rows; expected at least $records"
per_record="$(awk -v h="$hits" -v n="$records" 'BEGIN { printf "%.3f", h / n }')"
awk -v p="$per_record" 'BEGIN { exit !(p < 0.5) }' \
    || h_fail "the ventilator's pages read $hits buffers for $records records ($per_record per record): a probe per record, not a join of the page's range"
h_step "pages: $calls statements, $rows rows, $hits buffer accesses ($per_record per record)"

# The sink's COPYs that committed: each of at most 200 rows.
read -r copies copied largest < <(h_sql "SELECT count(*), coalesce(sum(rows), 0), coalesce(max(rows), 0)
    FROM copy_sizes" | tr '|' ' ')
(( copies > 0 )) || h_fail "no COPY of the sink noted in copy_sizes"
(( largest <= 200 )) \
    || h_fail "a COPY of the sink stored $largest rows ($copied rows in $copies COPYs); expected at most 200 a COPY"
h_step "sink: $copied rows in $copies committed COPYs, the largest $largest"

# The sink's flushes: each one message that opens, fills and commits its
# transaction; no statement of a flush sent on its own.
log="$H_PG/postgres.log"
sink_msgs="$H_DIR/sink_statements.txt"
grep -E 'app=recsign-sink .*LOG:  (statement|execute [^:]*): ' "$log" \
    | sed -E 's/.*LOG:  (statement|execute [^:]*): //' >"$sink_msgs" || true
flushes="$(grep -c '^BEGIN;COPY signatures ' "$sink_msgs" || true)"
(( flushes > 0 )) || h_fail "no flush of the sink in the statement log (see $log)"
whole="$(grep '^BEGIN;COPY signatures ' "$sink_msgs" | grep -c ';COMMIT$' || true)"
(( whole == flushes )) \
    || h_fail "$((flushes - whole)) of $flushes flushes of the sink did not commit in their own message (statements in $sink_msgs)"
if grep -E '^(COPY [^;]*|UPDATE signature_counts[^;]*)$' "$sink_msgs" >&2; then
    h_fail "the sink sent a statement of a flush as a message of its own (above): a round trip each"
fi
h_step "sink: $flushes flushes, each one message"

# Plans of the two services' sessions: no parallel worker, and the exact
# count (the statement with count(*) FILTER) a merge anti-join.
plans="$H_DIR/service_plans.txt"
awk '/ LOG: / { app = ""; if (match($0, /app=[^ ]*/)) app = substr($0, RSTART + 4, RLENGTH - 4) }
     app == "recsign-ventilator" || app == "recsign-sink" { print app ": " $0 }' "$log" >"$plans"
[[ -s "$plans" ]] || h_fail "auto_explain logged no plan of the ventilator or the sink (see $log)"
grep -q "recsign-ventilator: .*Merge Left Join" "$plans" \
    || h_fail "no page of the ventilator was a merge join (plans in $plans)"
if grep -E "Gather|Workers Planned" "$plans" >&2; then
    h_fail "a statement of the ventilator or the sink planned parallel workers (above; plans in $plans)"
fi
awk '/count\(\*\) FILTER \(WHERE ok\)/ { want = 1; next }
     want && /Join/ { print; want = 0 }' "$plans" >"$H_DIR/count_joins.txt"
[[ -s "$H_DIR/count_joins.txt" ]] || h_fail "the ventilator's exact count has no plan in $plans"
if grep -v "Merge Anti Join" "$H_DIR/count_joins.txt" >&2; then
    h_fail "the ventilator's exact count is not a merge anti-join (above)"
fi
h_verify
h_audit
echo "$RS_PROG: ok: pages read $per_record buffers per record; no parallel worker; the exact count a merge anti-join; $copies COPYs of at most 200 rows (the largest $largest), $flushes flushes of one message each"
