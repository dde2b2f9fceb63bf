# scripts/lib_cpu.sh: the CPU account of a run, sourced by scripts/lib.sh:
# where every CPU-second of the machine went between rs_cpu_account_begin
# and rs_cpu_account_end, by part, next to wall time x cores.
#
#   rs_cpu_account_begin DIR [PG]       before the run's processes start
#                                       (PG: the private cluster's
#                                       directory, or a database URL)
#   rs_cpu_account_end RECORDS          after they stopped; prints the
#                                       account and writes DIR/account.csv
#
# The method, and why each figure is exact or how far it is not:
# - Every process's CPU (utime + stime from /proc/PID/stat) plus what its
#   reaped children used (cutime + cstime) only grows, and a process that
#   exits is added to its parent's children figure when the parent reaps
#   it. So the sum of (own + children) over a tree of processes, at the end
#   minus at the beginning, is what that tree used in between, including
#   processes that started and exited meanwhile. That gives exact totals
#   for the launcher's tree (the script, its commands and the recsign
#   processes it started), for the PostgreSQL cluster (the postmaster and
#   its children) and for the whole machine's processes.
# - recsign processes: each logs its own CPU as it exits (lib/rs_process.c,
#   "exiting: ... CPU U s user + S s system"); the account sums those lines
#   of the logs of the processes started since begin (restarts included).
#   The launcher is its tree's total minus those and minus the sampler,
#   read by itself just after the beginning's snapshot of the machine and
#   just before the end's: the account's own work (the sampler, and some
#   50 ms of CPU per snapshot) is a part of its own.
# - PostgreSQL by part: a sampler (a background shell, no fork per sample)
#   reads every child of the postmaster every 200 ms, and names each new
#   one from pg_stat_activity over one connection of its own (application
#   name recsign-cpu-account): a backend by its application_name, the
#   others by backend_type (checkpointer, walwriter, background writer,
#   autovacuum worker, ...), a parallel worker by its leader. A process's
#   part is its last sample minus its first (or its reading at begin).
#   What a child used after its last sample comes from the postmaster's
#   reaped-children figure, which grows by exactly the lifetime CPU of
#   each child it reaps: the growth over an interval, minus the last
#   samples of the children gone in it, is theirs (shared in proportion
#   when several went at once); with none gone it belongs to processes
#   born and gone between two samples (a line of its own, as is the
#   postmaster itself). A child still there at the end is read from the
#   end's snapshot, not its last sample. What the parts leave of the
#   cluster's exact total is a line of its own ("postgres: not attributed
#   to a process": children gone together in one interval in other
#   proportions than their samples, and children of the cluster's
#   children).
# - The rest of the machine: kernel threads (children of kthreadd),
#   interrupts (irq + softirq of /proc/stat), the other processes (the
#   machine's process total minus this run's), and "unnamed": /proc/stat's
#   busy time minus all of these, i.e. what no process figure holds
#   (kernel threads and auto-reaped processes that exited meanwhile). On
#   a quiet machine "other processes" and "unnamed" are near zero.
#   Interrupts are a part of their own only where the kernel accounts IRQ
#   time apart (CONFIG_IRQ_TIME_ACCOUNTING). Without it, an interrupt
#   that hits a running process (loopback TCP's softirq, most of them
#   here) is inside that process's run time as well: counted again as a
#   part, "unnamed" went negative by about as much. Then they are a note
#   under the table, not a part.

# shellcheck shell=bash

RS_ACCT_DIR=""
RS_ACCT_SAMPLER=""

# s_acct_procs FILE: one line per process of the machine, zombies
# included: "pid ppid own children" in clock ticks.
s_acct_procs() {
    local f stat pid
    local -a v
    for f in /proc/[0-9]*/stat; do
        { read -r stat <"$f"; } 2>/dev/null || continue
        pid="${stat%% *}"
        # After the command: state(3) ppid(4) ... utime(14) stime(15)
        # cutime(16) cstime(17); index = field - 3.
        # shellcheck disable=SC2206  # numbers and a state letter, split on purpose
        v=(${stat##*) })
        printf '%s %s %s %s\n' "$pid" "${v[1]}" $(( v[11] + v[12] )) $(( v[13] + v[14] ))
    done >"$1"
}

# s_acct_sampler PM CONNINFO OUT BEGIN LAUNCHER: samples the postmaster PM's
# children until SIGTERM or until LAUNCHER exits; then writes OUT, one line
# per child: "pid first last kind", and "sampler OWN" (its own CPU with its
# psql's, in ticks). BEGIN is rs_cpu_account_begin's process snapshot (the
# first reading of the children already there).
s_acct_sampler() {
    local pm="$1" conninfo="$2" out="$3" begin="$4" launcher="$5"
    local -A first=() last=() kind=() title=() tries=() alive=()
    local stop=0 unknown=0 pid ppid own ch nap line p k reaped=-1 unseen=0 carry=0
    set +eu
    while read -r pid ppid own ch; do
        [[ "$ppid" == "$pm" ]] && first[$pid]=$own
        [[ "$pid" == "$pm" ]] && reaped=$ch
    done <"$begin"
    trap 'stop=1' TERM
    # A descriptor that never becomes readable: `read -t` on it naps
    # without starting a `sleep` process 5 times a second.
    exec {nap}<> <(:)
    coproc ACCT_PSQL { PGAPPNAME=recsign-cpu-account exec psql -X -Atq -F ' ' "$conninfo" 2>/dev/null; }

    # One sample. The postmaster's children figure grows by exactly what
    # the children it reaped since the last sample used in their lives:
    # what a child used after its last sample is that growth minus its
    # last sample. With one child gone in an interval it is exact; with
    # several they share it in proportion; with none it is a child born
    # and gone between two samples (counted as unseen).
    s_acct_sample() {
        local kids p stat gone=() gsum=0 extra c
        local -a v
        local -A now=()
        unknown=0
        kids=""
        # (The file has no final newline: read's status is not looked at.)
        { read -r kids <"/proc/$pm/task/$pm/children"; } 2>/dev/null
        { read -r stat <"/proc/$pm/stat"; } 2>/dev/null || return 0
        # shellcheck disable=SC2206
        v=(${stat##*) })
        c=$(( v[13] + v[14] ))
        for p in $kids; do
            { read -r stat <"/proc/$p/stat"; } 2>/dev/null || continue
            # shellcheck disable=SC2206
            v=(${stat##*) })
            now[$p]=1
            [[ -n "${first[$p]+x}" ]] || first[$p]=0   # born since begin
            last[$p]=$(( v[11] + v[12] ))
            if [[ -z "${kind[$p]:-}" ]] && (( ${tries[$p]:-0} < 20 )); then
                unknown=1
                [[ -n "${title[$p]:-}" ]] || { IFS= read -r -d '' "title[$p]" <"/proc/$p/cmdline"; } 2>/dev/null
            fi
        done
        for p in "${!alive[@]}"; do
            [[ -n "${now[$p]:-}" ]] || { gone+=("$p"); gsum=$(( gsum + last[$p] )); }
        done
        if (( reaped >= 0 )); then
            # A child reaped between the reading of the postmaster and its
            # own reading is gone now but in the postmaster's figure only
            # next time: what is short now is carried over.
            extra=$(( c - reaped - gsum + carry ))
            carry=0
            if (( extra < 0 )); then
                carry=$extra
            elif (( ${#gone[@]} == 0 )); then
                unseen=$(( unseen + extra ))
            else
                for p in "${gone[@]}"; do
                    if (( gsum > 0 )); then
                        last[$p]=$(( last[$p] + extra * last[$p] / gsum ))
                    else
                        last[$p]=$(( last[$p] + extra / ${#gone[@]} ))
                    fi
                done
            fi
        fi
        reaped=$c
        alive=()
        for p in "${!now[@]}"; do alive[$p]=1; done
    }
    # Names the unnamed children from pg_stat_activity. A backend still
    # authenticating has no application_name yet: asked again next time
    # (20 times at most).
    s_acct_classify() {
        for p in "${!alive[@]}"; do
            [[ -z "${kind[$p]:-}" ]] && tries[$p]=$(( ${tries[$p]:-0} + 1 ))
        done
        printf '%s\n' "select pid, case backend_type when 'client backend' then 'backend ' || application_name when 'parallel worker' then 'parallel ' || leader_pid else backend_type end from pg_stat_activity where backend_type <> 'client backend' or application_name <> '';" \
            '\echo __end__' 2>/dev/null 1>&"${ACCT_PSQL[1]}" || return 0
        while read -r -t 5 -u "${ACCT_PSQL[0]}" line; do
            [[ "$line" == __end__ ]] && break
            p="${line%% *}"
            k="${line#* }"
            [[ -n "${last[$p]+x}" && -z "${kind[$p]:-}" ]] && kind[$p]="$k"
        done
    }

    while (( !stop )) && [[ -e "/proc/$launcher" ]]; do
        s_acct_sample
        (( unknown && ${#ACCT_PSQL[@]} )) && s_acct_classify
        read -r -t 0.2 -u "$nap" line
    done
    s_acct_sample
    (( unknown && ${#ACCT_PSQL[@]} )) && s_acct_classify
    {
        for p in "${!last[@]}"; do
            k="${kind[$p]:-}"
            if [[ -z "$k" ]]; then
                # Gone before pg_stat_activity named it: its process title.
                case "${title[$p]:-}" in
                    "postgres: autovacuum worker"*) k="autovacuum worker" ;;
                    "postgres: parallel worker"*)   k="parallel worker" ;;
                    "postgres: "*" "*" "*)          k="backend (gone before it was named)" ;;
                    "postgres: "*)                  k="${title[$p]#postgres: }"; k="${k%% }" ;;
                    *)                              k="process gone before it was named" ;;
                esac
            fi
            printf '%s %s %s %s\n' "$p" "${first[$p]}" "${last[$p]}" "$k"
        done
        if [[ -n "${ACCT_PSQL_PID:-}" ]]; then
            local psql_pid="$ACCT_PSQL_PID" psql_in="${ACCT_PSQL[1]}"
            exec {psql_in}>&-   # end of input: psql exits
            wait "$psql_pid"
        fi
        local stat
        local -a v
        read -r stat <"/proc/$BASHPID/stat"
        # shellcheck disable=SC2206
        v=(${stat##*) })
        printf 'unseen %s\n' "$unseen"
        printf 'sampler %s\n' $(( v[11] + v[12] + v[13] + v[14] ))
    } >"$out.tmp" && mv "$out.tmp" "$out"
}

# s_acct_self VAR: sets VAR to the launcher's own CPU with its reaped
# children's, in ticks (builtins only: no process started).
s_acct_self() {
    local -n rs_as_out="$1"
    local stat
    local -a v
    read -r stat <"/proc/$$/stat"
    # shellcheck disable=SC2206
    v=(${stat##*) })
    # shellcheck disable=SC2034  # a nameref: the caller's variable
    rs_as_out=$(( v[11] + v[12] + v[13] + v[14] ))
}

# s_acct_local_postmaster URL: prints the pid of the postmaster serving
# URL when it runs on this host, else nothing. The server names the
# backend of a session of ours (pg_backend_pid); while that session is
# open, the local process of that pid must be a postgres process whose
# parent is a postgres process too. (A server on another host gives a pid
# that here is no such pair, or none at all.)
s_acct_local_postmaster() {
    local url="$1" tmp pid="" ppid="" i comm
    tmp="$(mktemp)" || return 0
    PGAPPNAME=recsign-cpu-account psql -X -Atq -d "$url" -c 'select pg_backend_pid()' \
        -c 'select pg_sleep(1)' >"$tmp" 2>/dev/null &
    local psql_pid=$!
    for ((i = 0; i < 40; i++)); do
        { read -r pid <"$tmp"; } 2>/dev/null && [[ -n "$pid" ]] && break
        sleep 0.05
    done
    if [[ "$pid" =~ ^[0-9]+$ ]]; then
        { read -r comm <"/proc/$pid/comm"; } 2>/dev/null || comm=""
        if [[ "$comm" == postgres* ]]; then
            ppid="$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)"
            { read -r comm <"/proc/$ppid/comm"; } 2>/dev/null || comm=""
            [[ "$comm" == postgres* ]] || ppid=""
        fi
    fi
    wait "$psql_pid" 2>/dev/null || true
    rm -f "$tmp"
    [[ -z "$ppid" ]] || printf '%s\n' "$ppid"
}

# s_acct_irq_apart: prints 1 when the kernel accounts IRQ time apart from
# the processes' run times, 0 when it does not, nothing when its
# configuration cannot be read.
s_acct_irq_apart() {
    local line
    line="$({ zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null; } \
        | grep -E '^(# )?CONFIG_IRQ_TIME_ACCOUNTING[= ]')" || true
    case "$line" in
        CONFIG_IRQ_TIME_ACCOUNTING=y) echo 1 ;;
        *"is not set"*)              echo 0 ;;
    esac
}

# rs_cpu_account_begin DIR [PG]: starts the account of a run (call it
# before starting the run's processes): files in DIR. PG is the private
# cluster's directory, or the URL of a database not ours: when that
# database's postmaster runs on this host (and the URL's user may read
# pg_stat_activity's application names), its parts are accounted as a
# private cluster's; otherwise its share, if on this host, is part of
# "other processes", and the account says so.
rs_cpu_account_begin() {
    RS_ACCT_DIR="$1"
    RS_ACCT_PG="${2:-}"
    RS_ACCT_PM=""
    RS_ACCT_PG_NOTE=""
    RS_ACCT_IRQ_APART="$(s_acct_irq_apart)"
    local conninfo=""
    mkdir -p "$RS_ACCT_DIR" || rs_die "cannot create $RS_ACCT_DIR"
    rm -f "$RS_ACCT_DIR/pg_samples"
    cat >"$RS_ACCT_DIR/README" <<EOF
The CPU account of one run (scripts/lib_cpu.sh has the method).
Clock ticks are 1/$RS_HZ s (getconf CLK_TCK).
account.csv   the account: part,cpu_seconds; first wall_seconds, cores,
              wall_x_cores, idle, stolen, busy, then one row per part;
              "warning" and "note" rows carry text
procs.begin   every process at the beginning, one per line:
              pid ppid own children (own: its utime+stime; children: what
              its reaped children used; clock ticks)
procs.end     the same at the end
pg_samples    each PostgreSQL child the sampler saw: pid first last kind
              (its own utime+stime at its first and last sample, clock
              ticks; kind: backend APPLICATION_NAME or the process kind);
              "unseen N": ticks of children born and gone between two
              samples; "sampler N": the sampler's own ticks
recsign_cpu   each recsign process: name seconds exits instances (CPU
              seconds from its log's exit lines, how many such lines, how
              many times it was started)
sampler.log   what the sampler printed (empty when all went well)
EOF
    if [[ -n "$RS_ACCT_PG" && -d "$RS_ACCT_PG" ]]; then
        { read -r RS_ACCT_PM <"$RS_ACCT_PG/data/postmaster.pid"; } 2>/dev/null || RS_ACCT_PM=""
        conninfo="host=$RS_ACCT_PG user=recsign dbname=postgres"
    elif [[ -n "$RS_ACCT_PG" ]]; then
        RS_ACCT_PM="$(s_acct_local_postmaster "$RS_ACCT_PG")"
        conninfo="$RS_ACCT_PG"
        [[ -n "$RS_ACCT_PM" ]] \
            || RS_ACCT_PG_NOTE="the database (--db) is not on this host, or its processes cannot be read: PostgreSQL is not in this account by part (on this host, its CPU is in other processes)"
    else
        RS_ACCT_PG_NOTE="no database given to the account: PostgreSQL is not in it by part"
    fi
    RS_ACCT_FIRST=${#RS_PIDS[@]}
    RS_ACCT_RESTARTS=${#RS_RESTARTS[@]}
    read -r RS_ACCT_STAT0 </proc/stat
    s_acct_procs "$RS_ACCT_DIR/procs.begin"
    # The launcher's own reading comes after the snapshot and the end's
    # before its snapshot: the account's own work on them (some 50 ms of
    # CPU each) is outside the launcher's figure.
    s_acct_self RS_ACCT_SELF0
    RS_ACCT_T0="$EPOCHREALTIME"
    RS_ACCT_SAMPLER=""
    if [[ -n "$RS_ACCT_PM" ]]; then
        s_acct_sampler "$RS_ACCT_PM" "$conninfo" "$RS_ACCT_DIR/pg_samples" \
            "$RS_ACCT_DIR/procs.begin" "$$" </dev/null >"$RS_ACCT_DIR/sampler.log" 2>&1 &
        RS_ACCT_SAMPLER=$!
    fi
}

# s_acct_recsign_cpu OUT: one line per recsign process started since begin:
# "name seconds exits instances", from the exit lines of its log.
s_acct_recsign_cpu() {
    local i name log exits secs instances r
    for ((i = RS_ACCT_FIRST; i < ${#RS_PNAMES[@]}; i++)); do
        name="${RS_PNAMES[$i]}"
        log="${RS_PLOGS[$i]}"
        read -r exits secs < <(grep -o 'CPU [0-9.]* s user + [0-9.]* s system' "$log" 2>/dev/null \
            | awk '{ n++; t += $2 + $6 } END { printf "%d %.2f\n", n, t }')
        instances=1
        for ((r = RS_ACCT_RESTARTS; r < ${#RS_RESTARTS[@]}; r++)); do
            [[ "${RS_RESTARTS[$r]}" == "$name:"* ]] && instances=$((instances + 1))
        done
        printf '%s %s %s %s\n' "$name" "$secs" "$exits" "$instances"
    done >"$1"
}

# rs_cpu_account_end: ends the account begun by rs_cpu_account_begin
# (call it once the run's processes are stopped) and writes
# DIR/account.csv: part,cpu_seconds; its first rows are wall_seconds,
# cores, wall_x_cores, idle, stolen and busy, then one row per part.
# Returns 1 (with a warning) when the sampler's data is missing.
rs_cpu_account_end() {
    local dir="$RS_ACCT_DIR" stat1 t1 i
    [[ -n "$dir" ]] || rs_die "rs_cpu_account_end without rs_cpu_account_begin"
    if [[ -n "$RS_ACCT_SAMPLER" ]]; then
        kill -TERM "$RS_ACCT_SAMPLER" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do [[ -f "$dir/pg_samples" ]] && break; sleep 0.05; done
        wait "$RS_ACCT_SAMPLER" 2>/dev/null || true
        RS_ACCT_SAMPLER=""
    fi
    local self1
    s_acct_self self1
    t1="$EPOCHREALTIME"
    read -r stat1 </proc/stat
    s_acct_procs "$dir/procs.end"
    s_acct_recsign_cpu "$dir/recsign_cpu"
    [[ -f "$dir/pg_samples" ]] || : >"$dir/pg_samples"
    awk -v hz="$RS_HZ" -v t0="$RS_ACCT_T0" -v t1="$t1" -v s0="$RS_ACCT_STAT0" -v s1="$stat1" \
        -v launcher="$$" -v self0="$RS_ACCT_SELF0" -v self1="$self1" -v pm="${RS_ACCT_PM:-}" -v pgnote="${RS_ACCT_PG_NOTE//,/;}" -v irqapart="$RS_ACCT_IRQ_APART" -v out="$dir/account.csv" '
        # Tree totals: a pid belongs to the tree of R when R is on its ppid chain.
        function intree(p, snap, r,   n) {
            for (n = 0; p != "" && p != 0 && n < 64; n++) {
                if (p == r) return 1
                p = (snap == "b") ? bpp[p] : epp[p]
            }
            return 0
        }
        function part(name, secs) { parts[++np] = name; val[np] = secs }
        FILENAME ~ /procs\.begin$/ { bpp[$1] = $2; bt[$1] = $3 + $4; bown[$1] = $3; next }
        FILENAME ~ /procs\.end$/   { epp[$1] = $2; et[$1] = $3 + $4; eown[$1] = $3; next }
        FILENAME ~ /recsign_cpu$/  { rname[++nr] = $1; rsec[nr] = $2; rexit[nr] = $3; rinst[nr] = $4; next }
        FILENAME ~ /pg_samples$/ {
            if ($1 == "sampler") { sampler = $2 / hz; next }
            if ($1 == "unseen") { unseen = $2 / hz; next }
            k = $4; for (f = 5; f <= NF; f++) k = k " " $f
            pk[$1] = k; pfirst[$1] = $2; plast[$1] = $3; next
        }
        END {
            split(s0, a); split(s1, b)
            # /proc/stat cpu: user nice system idle iowait irq softirq steal (guest is in user)
            for (f = 2; f <= 9; f++) d[f] = (b[f] - a[f]) / hz
            busy = d[2] + d[3] + d[4] + d[7] + d[8]
            idle = d[5] + d[6]; stolen = d[9]; irq = d[7] + d[8]
            wall = t1 - t0; total = busy + idle + stolen
            cores = (wall > 0) ? total / wall : 0
            # Kernel threads are reaped by no one: one that exited took its
            # figure with it, so they count only while alive at the end.
            for (p in et) {
                if (p == 2 || epp[p] == 2) { kt += eown[p] - ((p in bown) ? bown[p] : 0); continue }
                all1 += et[p]
                if (p != launcher && intree(p, "e", launcher)) l1 += et[p]; if (pm != "" && intree(p, "e", pm)) g1 += et[p] }
            for (p in bt) {
                if (p == 2 || bpp[p] == 2) continue
                all0 += bt[p]
                if (p != launcher && intree(p, "b", launcher)) l0 += bt[p]; if (pm != "" && intree(p, "b", pm)) g0 += bt[p] }
            kthreads = kt / hz; allp = (all1 - all0) / hz + kthreads
            # The launcher as the snapshots saw it, and by its own readings
            # outside them: the difference is the work of the account itself.
            lsnap = (l1 + et[launcher] - l0 - bt[launcher]) / hz
            ltree = (l1 - l0 + self1 - self0) / hz; snapwork = lsnap - ltree; gtree = (g1 - g0) / hz
            rsum = 0
            for (i = 1; i <= nr; i++) {
                part("recsign " rname[i], rsec[i]); rsum += rsec[i]
                if (rexit[i] < rinst[i]) missing = missing " " rname[i]
            }
            named_pg = 0
            # parallel workers count with their leader
            for (p in pk) if (pk[p] ~ /^parallel [0-9]+$/) { split(pk[p], q, " "); pk[p] = (q[2] in pk) ? pk[q[2]] : "parallel worker" }
            # A child still there at the end is read from the end snapshot
            # (what it used after the sampler stopped is its own too).
            for (p in pk) {
                used = (((p in eown) && epp[p] == pm) ? eown[p] : plast[p]) - pfirst[p]
                g[pk[p]] += used / hz; named_pg += used / hz
            }
            ng = 0; for (k in g) keys[++ng] = k
            for (i = 1; i <= ng; i++) for (j = i + 1; j <= ng; j++) if (keys[j] < keys[i]) { t = keys[i]; keys[i] = keys[j]; keys[j] = t }
            for (i = 1; i <= ng; i++) part("postgres " keys[i], g[keys[i]])
            if (pm != "") {
                pmown = ((pm in eown) ? eown[pm] : 0) - ((pm in bown) ? bown[pm] : 0)
                part("postgres postmaster", pmown / hz)
                part("postgres processes born and gone between two samples", unseen)
                part("postgres: not attributed to a process", gtree - named_pg - pmown / hz - unseen)
            }
            part("launcher (script and its commands)", ltree - rsum - sampler)
            part("this account (sampler and snapshots)", sampler + snapwork)
            ours = lsnap + gtree
            part("kernel threads", kthreads)
            if (irqapart == "0") inner = irq; else part("interrupts (irq and softirq)", irq)
            part("other processes (not this run)", allp - ours - kthreads)
            part("unnamed", busy - allp - irq + inner)
            printf "part,cpu_seconds\nwall_seconds,%.3f\ncores,%.2f\nwall_x_cores,%.2f\nidle,%.2f\nstolen,%.2f\nbusy,%.2f\n", wall, cores, total, idle, stolen, busy >out
            for (i = 1; i <= np; i++) printf "%s,%.2f\n", parts[i], val[i] >out
            if (missing != "") printf "warning,recsign processes without an exit line (killed; their CPU is in the launcher):%s\n", missing >out
            if (pgnote != "") printf "note,%s\n", pgnote >out
            if (irqapart == "0") printf "note,interrupts (irq and softirq) took %.2f CPU-s; this kernel counts them inside the run time of the processes they interrupted (no CONFIG_IRQ_TIME_ACCOUNTING)\n", irq >out
        }' "$dir/procs.begin" "$dir/procs.end" "$dir/recsign_cpu" "$dir/pg_samples"
    [[ -z "$RS_ACCT_PM" ]] || grep -q '^sampler ' "$dir/pg_samples" \
        || { rs_warn "the CPU account's sampler left no data; PostgreSQL's parts are missing"; return 1; }
}

# rs_cpu_account_print CSV RECORDS: the account of CSV as a table, with
# CPU-seconds per 100,000 records and each part's share of the busy time.
rs_cpu_account_print() {
    awk -F, -v n="$2" '
        NR == 1 { next }
        $1 == "wall_seconds" { wall = $2; next }
        $1 == "cores" { cores = $2; next }
        $1 == "wall_x_cores" { tot = $2; next }
        $1 == "idle" { idle = $2; next }
        $1 == "stolen" { stolen = $2; next }
        $1 == "busy" { busy = $2
            printf "CPU account: %.3f s wall; %.2f CPU-s of %.2f cores (/proc/stat): busy %.2f, idle %.2f, stolen %.2f\n", wall, tot, cores, busy, idle, stolen
            printf "  %-58s %8s %12s %7s\n", "part", "CPU-s", "per 100k rec", "of busy"
            next }
        $1 == "warning" { warn = $2; next }
        $1 == "note" { note = note "  note: " $2 "\n"; next }
        { per = (n > 0) ? sprintf("%.2f", $2 * 100000 / n) : "-"; sh = (busy > 0) ? 100 * $2 / busy : 0
          printf "  %-58s %8.2f %12s %6.1f%%\n", $1, $2, per, sh }
        END { if (warn != "") printf "  warning: %s\n", warn
              printf "%s", note }' "$1"
}

RS_HZ="$(getconf CLK_TCK)"
