# scripts/lib.sh: shell helpers shared by scripts/run_local.sh, the benchmark
# scripts (scripts/bench*.sh), scripts/test.sh and the integration tests
# (tests/harness.sh). Source it; it defines functions and a few variables,
# and runs nothing by itself.
#
# Sections, one concept each:
#   logging ............ rs_say, rs_warn, rs_die
#   command line ....... rs_parse_flags, rs_need_int, rs_need_list,
#                        rs_usage_error, rs_print_help
#   cleanup ............ rs_on_exit
#   directories ........ rs_mkdir_abs, rs_empty_dir, rs_work_dir
#   dependencies ....... rs_ensure_deps [fuzz]
#   build .............. rs_build, rs_need_bins, rs_build_programs
#   PostgreSQL ......... rs_pg_start, rs_pg_start_private, rs_pg_stop, rs_psql,
#                        rs_pg_recreate_db, rs_pg_cpu_seconds
#   replication ........ rs_pg_start_standby, rs_pg_promote, rs_pg_crash, rs_pg_poll
#   processes .......... rs_proc_start, rs_proc_alive, rs_wait_proc, rs_proc_stop_all,
#                        rs_cpu_seconds, rs_cpu_delta, rs_machine_busy_seconds, rs_wait_run,
#                        rs_nap
#   CPU account ........ rs_cpu_account_begin, rs_cpu_account_end,
#                        rs_cpu_account_print (scripts/lib_cpu.sh)
#   supervision ........ rs_supervise, rs_exit_cause, RS_RESTARTS
#   ports .............. rs_free_port, rs_free_ports, rs_release_ports
#   recsign runs ....... rs_unset_config_env, rs_make_certs, rs_reset_signing,
#                        rs_last_run_timing, rs_stop_run, rs_field

# shellcheck shell=bash

RS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# --- logging ---------------------------------------------------------------
# Script messages go to stderr with the script's name, so that they never mix
# with output a caller may parse.

RS_PROG="${RS_PROG:-$(basename "$0")}"

rs_say()  { printf '%s: %s\n' "$RS_PROG" "$*" >&2; }
rs_warn() { printf '%s: warning: %s\n' "$RS_PROG" "$*" >&2; }
rs_die()  { printf '%s: error: %s\n' "$RS_PROG" "$*" >&2; exit 1; }

# --- command line ------------------------------------------------------------
# The scripts' flags: --flag value or --flag=value; a bad one is a one-line
# error pointing at --help, with exit status 2.

# A bad flag or value: prints "PROG: error: MESSAGE; see --help", exits 2.
rs_usage_error() {
    printf '%s: error: %s; see --help\n' "$RS_PROG" "$1" >&2
    exit 2
}

# rs_need_int FLAG VALUE MIN MAX: VALUE must be an integer (at most
# RS_INT_DIGITS digits, default 9) from MIN to MAX, else a usage error.
rs_need_int() {
    [[ "$2" =~ ^[0-9]{1,${RS_INT_DIGITS:-9}}$ ]] && (( 10#$2 >= $3 && 10#$2 <= $4 )) && return 0
    rs_usage_error "$1 is '$2'; expected an integer from $3 to $4"
}

# rs_need_list FLAG VALUE MIN MAX [WHAT]: VALUE must be a comma-separated
# list of such integers; WHAT (default "a comma-separated list of integers")
# is what the error says was expected.
rs_need_list() {
    local v
    local -a items
    [[ "$2" =~ ^[0-9]+(,[0-9]+)*$ ]] \
        || rs_usage_error "$1 is '$2'; expected ${5:-a comma-separated list of integers}"
    IFS=, read -r -a items <<<"$2"
    for v in "${items[@]}"; do rs_need_int "$1" "$v" "$3" "$4"; done
}

# rs_parse_flags VALUE_FLAGS HANDLER ARGS...: calls HANDLER FLAG VALUE for
# each flag of ARGS; the flags of VALUE_FLAGS ('|'-separated) take the next
# argument as their value, or are given as --flag=value; any other flag
# given a value (--keep=0) is a usage error, not a flag silently turned on.
rs_parse_flags() {
    local takes="|$1|" handler="$2" flag value list="${1//|/, }"
    shift 2
    while (( $# > 0 )); do
        flag="$1"
        value=""
        if [[ "$flag" == --*=* ]]; then
            value="${flag#*=}"
            flag="${flag%%=*}"
            [[ "$takes" == *"|$flag|"* ]] \
                || rs_usage_error "flag '$flag' takes no value (got '$1'); the flags that take one are $list"
        elif [[ "$takes" == *"|$flag|"* ]]; then
            (( $# >= 2 )) || rs_usage_error "flag '$flag' needs a value"
            # "--master-key --keep" is a forgotten value, not a file named
            # --keep (a value that starts so is given as --flag=VALUE).
            [[ "$2" != --* ]] || rs_usage_error "flag '$flag' needs a value; got the flag '$2' (a value starting with -- is given as $flag=VALUE)"
            value="$2"
            shift
        fi
        shift
        "$handler" "$flag" "$value"
    done
}

# Prints the help of SCRIPT: its header comment, from line 2 to `set -euo`.
rs_print_help() {
    sed -n '2,/^set -euo/p' "$1" | sed '$d; s/^# \{0,1\}//'
}

# --- cleanup -----------------------------------------------------------------
# A script's cleanup runs once, whichever way it ends.

RS_CLEANUP=""
RS_CLEANED=0

# rs_on_exit FUNCTION: runs FUNCTION once at exit, also on Ctrl-C (then
# exit 130) and SIGTERM (exit 143).
# A trap runs inside the redirections of the command it interrupts (a
# Ctrl-C during `recsign verify >verify.log 2>&1` would write "interrupted"
# into verify.log): the traps write to the script's own stdout and stderr,
# saved here.
rs_on_exit() {
    RS_CLEANUP="$1"
    exec {RS_OUT_FD}>&1 {RS_ERR_FD}>&2
    trap 'rs_run_cleanup >&$RS_OUT_FD 2>&$RS_ERR_FD' EXIT
    trap 'rs_say "interrupted; stopping" 2>&$RS_ERR_FD; rs_run_cleanup >&$RS_OUT_FD 2>&$RS_ERR_FD; exit 130' INT
    trap 'rs_say "terminated; stopping" 2>&$RS_ERR_FD; rs_run_cleanup >&$RS_OUT_FD 2>&$RS_ERR_FD; exit 143' TERM
}

# Runs the cleanup of rs_on_exit, the first time only.
rs_run_cleanup() {
    (( RS_CLEANED )) && return 0
    RS_CLEANED=1
    trap '' PIPE   # a closed terminal pipe must not stop the cleanup half way
    "$RS_CLEANUP"
}

# --- directories -------------------------------------------------------------

# Creates DIR if needed and prints its absolute path; exits with a one-line
# error when it cannot.
rs_mkdir_abs() {
    local err
    err="$(mkdir -p -- "$1" 2>&1)" || rs_die "cannot create the directory '$1': ${err##*: }"
    (cd -- "$1" && pwd)
}

# rs_need_out_dir FLAG PATH: a usage error unless PATH can be a directory
# the script writes into: an existing writable directory, or a new one
# under a writable directory.
rs_need_out_dir() {
    local flag="$1" path="$2" up
    [[ -n "$path" ]] || rs_usage_error "$flag needs a path"
    if [[ -e "$path" && ! -d "$path" ]]; then
        rs_usage_error "$flag is '$path', which is not a directory; expected a directory, new or existing"
    fi
    up="$path"
    while [[ ! -e "$up" ]]; do up="$(dirname -- "$up")"; done
    [[ -d "$up" && -w "$up" && -x "$up" ]] \
        || rs_usage_error "$flag is '$path', but '$up' is not a directory this user can write into"
}

# The file that marks a logs directory as one of these scripts' own.
RS_LOGS_MARK=".recsign-logs"

# Makes DIR an empty directory for a run's logs (a previous run's removed).
# A DIR that exists, is not empty and was not made here (it lacks
# RS_LOGS_MARK) is someone else's: the script stops instead of deleting it.
# (A directory holding only such marked directories, as DIR/logs holding
# bench_keycoord.sh's logs/kc, is theirs too.) Anything else named DIR is
# not touched either.
rs_empty_dir() {
    if [[ -e "$1" && ! -d "$1" ]]; then
        rs_die "'$1' exists and is not a directory; expected it absent or a directory of logs these scripts wrote: move it away or choose another directory"
    fi
    if [[ -d "$1" ]] && ! s_logs_ours "$1"; then
        rs_die "'$1' is not empty and has no $RS_LOGS_MARK file (the mark of logs these scripts wrote, since December 2026); expected it absent, empty or their logs: move it away or choose another directory"
    fi
    rm -rf -- "$1" && mkdir -p -- "$1" && : >"$1/$RS_LOGS_MARK"
}

# s_logs_ours DIR: true when DIR has the mark, or holds only directories
# that have it (an empty DIR included).
s_logs_ours() {
    local e
    [[ -e "$1/$RS_LOGS_MARK" ]] && return 0
    for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
        [[ -e "$e" || -L "$e" ]] || continue
        [[ -d "$e" && ! -L "$e" && -e "$e/$RS_LOGS_MARK" ]] || return 1
    done
    return 0
}

# rs_work_dir NAME: prints a new scratch directory /tmp/NAME.XXXXXX, short
# enough for a cluster's socket and open to the postgres user (which must
# reach a cluster under it when we are root).
rs_work_dir() {
    local d
    d="$(mktemp -d "/tmp/$1.XXXXXX")" && chmod 0755 "$d" && printf '%s\n' "$d"
}

# --- dependencies ----------------------------------------------------------
# What recsign needs from Debian to build, run and test, detected by what is
# actually usable (pkg-config modules, commands, PostgreSQL server binaries),
# not by package names, so that a source install counts too.

# Prints the newest PostgreSQL server bin directory (the one holding initdb),
# or nothing. Debian keeps server binaries out of PATH.
rs_pg_bindir() {
    local d best="" bestv=-1 v
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" ]] || continue
        v="${d#/usr/lib/postgresql/}"
        v="${v%%/*}"
        v="${v%%.*}"
        [[ "$v" =~ ^[0-9]+$ ]] || v=0
        if (( v > bestv )); then bestv=$v; best=$d; fi
    done
    if [[ -z "$best" ]] && command -v initdb >/dev/null 2>&1; then
        best="$(dirname "$(command -v initdb)")"
    fi
    [[ -n "$best" ]] && printf '%s\n' "$best"
}

# True when clang and its libFuzzer runtime are usable (scripts/fuzz.sh
# only; the normal build needs neither).
rs_fuzzer_runtime_ok() {
    command -v clang >/dev/null 2>&1 || return 1
    local dir
    dir="$(clang -print-resource-dir 2>/dev/null)" || return 1
    [[ -f "$dir/lib/linux/libclang_rt.fuzzer-$(uname -m).a" ]]
}

# Prints the Debian packages that are missing, space separated. With
# `fuzz`, also clang and its sanitizer/libFuzzer runtime.
rs_missing_packages() {
    local -a missing=()
    if [[ "${1:-}" == fuzz ]]; then
        command -v clang >/dev/null 2>&1 || missing+=(clang)
        if ! rs_fuzzer_runtime_ok; then
            # The runtime package is versioned like clang (14 on bookworm).
            local v=14
            command -v clang >/dev/null 2>&1 && v="$(clang -dumpversion 2>/dev/null)" && v="${v%%.*}"
            missing+=("libclang-rt-${v:-14}-dev")
        fi
    fi
    command -v cc >/dev/null 2>&1 || missing+=(build-essential)
    command -v meson >/dev/null 2>&1 || missing+=(meson)
    command -v ninja >/dev/null 2>&1 || missing+=(ninja-build)
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    [[ -n "$(rs_pg_bindir)" ]] || missing+=(postgresql)
    # ip (network namespaces of the 'hosts' suite) and ss (free ports).
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    # The OpenSSL CLI checks exported signatures (tests/export_openssl.sh).
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    # The metrics and dashboard tests: a real Prometheus (and promtool), a
    # real browser, the chart library the dashboard serves, an HTTP client.
    command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    [[ -f /usr/share/javascript/chart.js/chart.min.js ]] || missing+=(libjs-chart.js)
    if command -v pkg-config >/dev/null 2>&1; then
        pkg-config --exists libzmq    || missing+=(libzmq3-dev)
        pkg-config --exists libczmq   || missing+=(libczmq-dev)
        pkg-config --exists libsodium || missing+=(libsodium-dev)
        pkg-config --exists libpq     || missing+=(libpq-dev)
        pkg-config --exists libcrypto || missing+=(libssl-dev)
        pkg-config --exists libmicrohttpd || missing+=(libmicrohttpd-dev)
        pkg-config --exists libsystemd    || missing+=(libsystemd-dev)
    else
        # Without pkg-config the libraries cannot be checked: ask for all of
        # them (apt-get skips what is already installed).
        missing+=(pkg-config libzmq3-dev libczmq-dev libsodium-dev libpq-dev libssl-dev \
                  libmicrohttpd-dev libsystemd-dev)
    fi
    printf '%s\n' "${missing[*]}"
}

# Installs what is missing when running as root; otherwise prints the exact
# command to run and exits 1. `rs_ensure_deps fuzz` also wants clang and
# libFuzzer. RECSIGN_SKIP_DEPS=1 skips the check.
rs_ensure_deps() {
    [[ "${RECSIGN_SKIP_DEPS:-0}" == 1 ]] && return 0
    local missing what="${1:-}"
    missing="$(rs_missing_packages "$what")"
    [[ -z "$missing" ]] && return 0
    if [[ "$(id -u)" -ne 0 ]]; then
        rs_say "missing build/run dependencies; install them with:"
        printf '  sudo apt-get install -y --no-install-recommends %s\n' "$missing" >&2
        exit 1
    fi
    rs_say "installing missing packages: $missing"
    # shellcheck disable=SC2086  # $missing is a word list on purpose
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            $missing </dev/null \
        || rs_die "apt-get install $missing failed"
    missing="$(rs_missing_packages "$what")"
    [[ -z "$missing" ]] || rs_die "still missing after install: $missing"
}

# --- build -----------------------------------------------------------------
# One build directory (RECSIGN_BUILD_DIR, default build/ under the repo);
# configured once, with warnings as errors under CI.

rs_build_dir() { printf '%s\n' "${RECSIGN_BUILD_DIR:-$RS_ROOT/build}"; }

rs_build() {
    local dir
    dir="$(rs_build_dir)"
    if [[ ! -f "$dir/build.ninja" ]]; then
        local -a opts=()
        [[ "${CI:-}" == true ]] && opts+=(--werror)
        rs_say "configuring $dir"
        meson setup "${opts[@]}" "$dir" "$RS_ROOT" >&2 || rs_die "meson setup failed"
    fi
    rs_say "building in $dir"
    meson compile -C "$dir" >&2 || rs_die "build failed"
}

# rs_need_bins PROGRAM...: exits 1 unless every PROGRAM is executable.
rs_need_bins() {
    local b
    for b in "$@"; do
        [[ -x "$b" ]] || rs_die "missing binary after the build: $b"
    done
}

# rs_find_programs: sets `build` (the build directory) and the path of
# every program meson builds: bin_ventilator, bin_keycoord, bin_worker,
# bin_sink, bin_admin, bin_sign (the raw signing benchmark),
# bin_bench_keycoord and the stage load generators bin_bench_sink and
# bin_bench_ventilator. RECSIGN_<NAME>_BIN overrides each (tests/meson.build
# sets them from the targets; a user without write access to build/ can
# point them at someone else's build). Builds and checks nothing.
rs_find_programs() {
    build="$(rs_build_dir)"
    bin_ventilator="${RECSIGN_VENTILATOR_BIN:-$build/src/ventilator/recsign-ventilator}"
    bin_keycoord="${RECSIGN_KEYCOORD_BIN:-$build/src/keycoord/recsign-keycoord}"
    bin_worker="${RECSIGN_WORKER_BIN:-$build/src/worker/recsign-worker}"
    bin_sink="${RECSIGN_SINK_BIN:-$build/src/sink/recsign-sink}"
    bin_admin="${RECSIGN_ADMIN_BIN:-$build/src/admin/recsign}"
    bin_sign="${RECSIGN_BENCH_SIGN_BIN:-$build/src/bench/recsign-bench-sign}"
    bin_bench_keycoord="${RECSIGN_BENCH_KEYCOORD_BIN:-$build/src/bench/recsign-bench-keycoord}"
    bin_bench_sink="${RECSIGN_BENCH_SINK_BIN:-$build/src/bench/recsign-bench-sink}"
    bin_bench_ventilator="${RECSIGN_BENCH_VENTILATOR_BIN:-$build/src/bench/recsign-bench-ventilator}"
}

# True when the five recsign programs were given in the environment
# (RECSIGN_<NAME>_BIN): then nothing is built.
rs_programs_given() {
    [[ -n "${RECSIGN_VENTILATOR_BIN:-}" && -n "${RECSIGN_KEYCOORD_BIN:-}" && -n "${RECSIGN_WORKER_BIN:-}" \
       && -n "${RECSIGN_SINK_BIN:-}" && -n "${RECSIGN_ADMIN_BIN:-}" ]]
}

# rs_build_programs: installs what is missing and builds (unless the
# programs were given, see rs_programs_given), then rs_find_programs;
# exits 1 if a program is missing.
rs_build_programs() {
    if rs_programs_given; then
        rs_find_programs
        rs_need_bins "$bin_ventilator" "$bin_keycoord" "$bin_worker" "$bin_sink" "$bin_admin"
        return 0
    fi
    rs_ensure_deps
    rs_build
    rs_find_programs
    rs_need_bins "$bin_ventilator" "$bin_keycoord" "$bin_worker" "$bin_sink" "$bin_admin" \
                 "$bin_sign" "$bin_bench_keycoord" "$bin_bench_sink" "$bin_bench_ventilator"
}

# --- private PostgreSQL cluster ----------------------------------------------
# A throwaway cluster per run or per test: its own directory, reachable only
# through a unix socket in that directory (no TCP port to collide on), trust
# authentication for role `recsign`. fsync stays on so that timings are honest.
# As root, the server runs as the unprivileged `postgres` user (PostgreSQL
# refuses to run as root).
#
# After rs_pg_start DIR:
#   RS_PG_DIR      the cluster directory (socket lives here, data in DIR/data)
#   RS_PG_URL      postgresql://recsign@/recsign?host=DIR  (also exported)

# Runs a command as the cluster's owner.
rs_pg_as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
        fi
    else
        "$@"
    fi
}

# rs_pg_dir DIR: creates DIR for a cluster (keep its path short: a unix
# socket path must stay under ~100 bytes), owned by the cluster's owner, and
# sets RS_PG_NEW_DIR to its absolute path. Returns non-zero, saying why,
# when it cannot.
rs_pg_dir() {
    local dir="$1"
    mkdir -p "$dir" || return 1
    dir="$(cd "$dir" && pwd)"
    if (( ${#dir} > 90 )); then
        rs_warn "cluster directory path too long for a unix socket: $dir"
        return 1
    fi
    if [[ "$(id -u)" -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || { rs_warn "running as root needs a 'postgres' system user"; return 1; }
        chown postgres: "$dir" || return 1
    fi
    RS_PG_NEW_DIR="$dir"
}

# rs_pg_listen_conf DIR [LISTEN CIDR]: the connection settings appended to
# the configuration of the cluster in DIR: its unix socket in DIR, and TCP
# only when LISTEN (an address) is given, with trust for role recsign and
# for replication from CIDR (a private test network; see docs/DEPLOY.md for
# a real deployment's authentication).
rs_pg_listen_conf() {
    local dir="$1" listen="${2:-}" cidr="${3:-}"
    rs_pg_as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# recsign private cluster: a unix socket in the cluster's directory${listen:+, TCP on $listen}.
listen_addresses = '$listen'
unix_socket_directories = '$dir'
EOF
    if [[ -n "$listen" ]]; then
        rs_pg_as_owner tee -a "$dir/data/pg_hba.conf" >/dev/null <<EOF
host    all             recsign         $cidr            trust
host    replication     recsign         $cidr            trust
EOF
    fi
}

# rs_pg_run DIR: starts the server of the cluster in DIR and waits until it
# accepts connections. Returns non-zero after printing its log's tail.
rs_pg_run() {
    local dir="$1" bindir i
    bindir="$(rs_pg_bindir)" || true
    # In its own session, so that a Ctrl-C meant for the script does not
    # reach the server (a kept cluster must survive it).
    local -a detach=()
    command -v setsid >/dev/null 2>&1 && detach=(setsid -w)
    # glibc's malloc in every backend keeps what it freed (RS_PG_MALLOC,
    # GLIBC_TUNABLES syntax; empty: glibc's defaults): by default it gives
    # the top of its heap back after each COPY of the sink (brk shrinks,
    # unmapping with a TLB flush on every core) and faults it in again on
    # the next, about a quarter of the sink's backend's CPU
    # (docs/PERFORMANCE.md, "Where the backends' CPU goes"). Memory only:
    # nothing the server writes changes.
    local malloc="${RS_PG_MALLOC-glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864:glibc.malloc.top_pad=4194304}"
    local -a tunables=()
    [[ -n "$malloc" ]] && tunables=(env "GLIBC_TUNABLES=$malloc")
    (cd "$dir" && rs_pg_as_owner "${detach[@]}" "${tunables[@]}" "$bindir/pg_ctl" -D "$dir/data" \
        -l "$dir/postgres.log" -w -t 60 start >/dev/null) \
        || { rs_warn "PostgreSQL did not start:"; tail -n 20 "$dir/postgres.log" >&2; return 1; }
    # pg_ctl -w already waited; this bounded loop also covers slow sockets.
    for ((i = 0; i < 100; i++)); do
        psql -X -q -h "$dir" -U recsign -d postgres -c 'select 1' >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    rs_warn "PostgreSQL is not accepting connections"
    return 1
}

# Starts a cluster in DIR (created if needed; keep its path short: a unix
# socket path must stay under ~100 bytes), with database recsign. With
# LISTEN and CIDR it also listens on TCP (see rs_pg_listen_conf), e.g. as
# the primary of a standby on another host. Returns non-zero on failure,
# after printing the server log's tail.
rs_pg_start() {
    local dir="$1" bindir
    bindir="$(rs_pg_bindir)" || true
    [[ -n "$bindir" ]] || { rs_warn "PostgreSQL server binaries (initdb) not found"; return 1; }
    rs_pg_dir "$dir" || return 1
    dir="$RS_PG_NEW_DIR"
    # The owner must be able to chdir to the data directory and back.
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        (cd "$dir" && rs_pg_as_owner "$bindir/initdb" -D "$dir/data" -U recsign --auth=trust \
            -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1) \
            || (cd "$dir" && rs_pg_as_owner "$bindir/initdb" -D "$dir/data" -U recsign --auth=trust \
                -E UTF8 --no-locale >"$dir/initdb.log" 2>&1) \
            || { rs_warn "initdb failed:"; tail -n 20 "$dir/initdb.log" >&2; return 1; }
        rs_pg_as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# recsign private cluster.
fsync = on
max_wal_size = 2GB
shared_buffers = 256MB
max_connections = 100
EOF
        # RS_PG_EXTRA_CONF: lines a measurement adds to a new cluster's
        # configuration (e.g. shared_preload_libraries = 'pg_stat_statements',
        # docs/PERFORMANCE.md "Where the backends' CPU goes"); none by default.
        if [[ -n "${RS_PG_EXTRA_CONF:-}" ]]; then
            printf '%s\n' "$RS_PG_EXTRA_CONF" | rs_pg_as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
        fi
        rs_pg_listen_conf "$dir" "${2:-}" "${3:-}"
    fi
    rs_pg_run "$dir" || return 1
    if [[ -z "$(psql -X -Atq -h "$dir" -U recsign -d postgres \
                  -c "select 1 from pg_database where datname = 'recsign'")" ]]; then
        psql -X -q -h "$dir" -U recsign -d postgres -c 'create database recsign' >/dev/null \
            || { rs_warn "could not create database recsign"; return 1; }
    fi
    RS_PG_DIR="$dir"
    RS_PG_URL="postgresql://recsign@/recsign?host=$dir"
    export RS_PG_DIR RS_PG_URL
}

# --- streaming replication -----------------------------------------------------
# A primary and one synchronous hot standby, as docs/DEPLOY.md describes:
# every commit the primary acknowledges is flushed on the standby too, so
# that promoting the standby loses nothing a client was told was stored.

# rs_pg_poll HOST SQL VALUE: runs SQL (as recsign, database postgres, on
# the server at HOST: a socket directory or an address) every 0.1 s until
# it prints VALUE; returns 1 after 30 s. RS_PG_POLLED holds the last output.
rs_pg_poll() {
    local i
    for ((i = 0; i < 300; i++)); do
        RS_PG_POLLED="$(psql -X -Atq -h "$1" -U recsign -d postgres -c "$2" 2>/dev/null)" || true
        [[ "$RS_PG_POLLED" == "$3" ]] && return 0
        sleep 0.1
    done
    return 1
}

# rs_pg_start_standby DIR PRIMARY_HOST NAME [LISTEN CIDR]: makes a hot
# standby of the running cluster at PRIMARY_HOST (its socket directory, or
# an address it listens on) in DIR: pg_basebackup -R (streaming WAL, the
# connection to the primary written into the standby's configuration),
# its own socket in DIR (and TCP on LISTEN for CIDR), application name
# NAME (its cluster_name). Starts it, waits until the primary streams to
# it, then makes it the primary's one synchronous standby
# (synchronous_standby_names = NAME, synchronous_commit = on, by ALTER
# SYSTEM and a reload: no restart) and waits until the primary reports it
# 'sync'. Sets RS_PG_STANDBY_DIR. Returns non-zero, saying why, on failure.
rs_pg_start_standby() {
    local dir="$1" primary="$2" name="$3" bindir
    bindir="$(rs_pg_bindir)" || true
    [[ -n "$bindir" ]] || { rs_warn "PostgreSQL server binaries (pg_basebackup) not found"; return 1; }
    rs_pg_dir "$dir" || return 1
    dir="$RS_PG_NEW_DIR"
    (cd "$dir" && rs_pg_as_owner "$bindir/pg_basebackup" -D "$dir/data" -R -X stream -c fast \
        -d "host=$primary user=recsign" >"$dir/basebackup.log" 2>&1) \
        || { rs_warn "pg_basebackup from $primary failed:"; tail -n 20 "$dir/basebackup.log" >&2; return 1; }
    rs_pg_as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# recsign hot standby of $primary; cluster_name is its application_name there.
cluster_name = '$name'
hot_standby = on
EOF
    rs_pg_listen_conf "$dir" "${4:-}" "${5:-}"
    rs_pg_run "$dir" || return 1
    rs_pg_poll "$primary" "select state from pg_stat_replication where application_name = '$name'" streaming \
        || { rs_warn "the primary at $primary does not stream to standby $name (state '$RS_PG_POLLED'):"; tail -n 20 "$dir/postgres.log" >&2; return 1; }
    psql -X -q -h "$primary" -U recsign -d postgres -v ON_ERROR_STOP=1 \
        -c "alter system set synchronous_standby_names = '\"$name\"'" \
        -c "alter system set synchronous_commit = on" -c "select pg_reload_conf()" >/dev/null \
        || { rs_warn "could not make $name the synchronous standby of $primary"; return 1; }
    rs_pg_poll "$primary" "select sync_state from pg_stat_replication where application_name = '$name'" sync \
        || { rs_warn "standby $name is '$RS_PG_POLLED', not 'sync', at $primary"; return 1; }
    RS_PG_STANDBY_DIR="$dir"
}

# rs_pg_promote DIR: promotes the hot standby in DIR to a primary (pg_ctl
# promote, as the cluster's owner) and waits until it accepts writes.
# Returns non-zero, saying why, when it does not.
rs_pg_promote() {
    local dir="$1" bindir
    bindir="$(rs_pg_bindir)" || true
    (cd "$dir" && rs_pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -w -t 60 promote >/dev/null) \
        || { rs_warn "pg_ctl promote of $dir failed:"; tail -n 20 "$dir/postgres.log" >&2; return 1; }
    rs_pg_poll "$dir" 'select pg_is_in_recovery()' f && return 0
    rs_warn "the standby in $dir is still in recovery after pg_ctl promote"
    return 1
}

# rs_pg_crash DIR: the sudden death of the cluster in DIR, as when its host
# is lost: SIGKILL to the postmaster and to every one of its processes at
# once (no shutdown checkpoint, no goodbye to clients or standbys).
rs_pg_crash() {
    local pm pids i
    read -r pm <"$1/data/postmaster.pid" 2>/dev/null || { rs_warn "no postmaster.pid in $1/data"; return 1; }
    pids="$(ps -o pid= --ppid "$pm" | tr -s ' \n' ' ')"
    # shellcheck disable=SC2086  # one pid per word
    kill -KILL "$pm" $pids 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        rs_proc_alive "$pm" || return 0
        sleep 0.05
    done
    rs_warn "the postmaster (pid $pm) of $1 survived SIGKILL"
    return 1
}

# Prints the command that stops the cluster in DIR (for --keep messages).
rs_pg_stop_command() {
    local dir="$1" bindir prefix=""
    bindir="$(rs_pg_bindir)" || true
    [[ "$(id -u)" -eq 0 ]] && prefix="runuser -u postgres -- "
    printf '%s%s/pg_ctl -D %s/data stop -m fast\n' "$prefix" "$bindir" "$dir"
}

# Stops the cluster in DIR (fast shutdown: disconnects clients).
rs_pg_stop() {
    local dir="${1:-${RS_PG_DIR:-}}" bindir
    [[ -n "$dir" && -f "$dir/data/postmaster.pid" ]] || return 0
    bindir="$(rs_pg_bindir)" || true
    (cd "$dir" && rs_pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1) \
        || (cd "$dir" && rs_pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop \
            >/dev/null 2>&1) || true
}

# Starts the private cluster in DIR, saying so; exits 1 when it cannot.
rs_pg_start_private() {
    rs_say "starting a private PostgreSQL in $1"
    rs_pg_start "$1" || rs_die "could not start PostgreSQL"
}

# Drops and creates the database recsign of the cluster in DIR (exits 1 on
# failure).
rs_pg_recreate_db() {
    psql -X -q -h "$1" -U recsign -d postgres -c 'drop database if exists recsign' -c 'create database recsign' \
        >/dev/null || rs_die "could not recreate the database"
}

# CPU seconds used so far by the cluster in DIR: the postmaster, its exited
# children (backends, reaped by the postmaster) and its live ones. Prints
# nothing when it does not run.
rs_pg_cpu_seconds() {
    local pm pid stat rest hz total=0
    hz="$(getconf CLK_TCK)"
    read -r pm <"$1/data/postmaster.pid" 2>/dev/null || { echo ""; return; }
    { read -r stat <"/proc/$pm/stat"; } 2>/dev/null || { echo ""; return; }
    rest="${stat##*) }"
    # Fields after the command: utime 14, stime 15, cutime 16, cstime 17.
    # shellcheck disable=SC2086
    set -- $rest
    total=$(( ${12} + ${13} + ${14} + ${15} ))
    for pid in $(ps -o pid= --ppid "$pm"); do
        { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || continue
        rest="${stat##*) }"
        # shellcheck disable=SC2086
        set -- $rest
        total=$(( total + ${12} + ${13} ))
    done
    awk -v t="$total" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'
}

# Runs SQL against a database URL: rs_psql URL [psql args...]. Unaligned,
# tuples only, stops at the first error. Like the programs, on the server
# of URL that accepts writes (libpq's target_session_attrs=read-write,
# unless URL sets it): with several servers listed, the primary.
rs_psql() {
    local url="$1"
    shift
    PGTARGETSESSIONATTRS=read-write psql -X -Atq -v ON_ERROR_STOP=1 -d "$url" "$@"
}

# --- processes ---------------------------------------------------------------
# Every background process a script starts is recorded (pid, name, log file)
# so that one call stops them all, and a watcher can tell which one died.

RS_PIDS=()
RS_PNAMES=()
RS_PLOGS=()
RS_PCMDS=()   # each one's command, shell-quoted, for a restart

# rs_proc_start NAME LOGFILE COMMAND [ARGS...]: starts COMMAND in the
# background with stdout and stderr appended to LOGFILE. Sets RS_LAST_PID.
rs_proc_start() {
    local name="$1" log="$2"
    shift 2
    "$@" </dev/null >>"$log" 2>&1 &
    RS_LAST_PID=$!
    RS_PIDS+=("$RS_LAST_PID")
    RS_PNAMES+=("$name")
    RS_PLOGS+=("$log")
    RS_PCMDS+=("$(printf '%q ' "$@")")
}

# rs_nap SECONDS: sleeps without starting a process: the polling loops
# below run during a benchmark's signing phase, and a `sleep` process 5 to
# 20 times a second cost the launcher more CPU than the keycoord (its CPU
# account showed it). read -t waits on a descriptor that never becomes
# readable (a pipe this shell holds both ends of).
RS_NAP_FD=""
rs_nap() {
    [[ -n "$RS_NAP_FD" ]] || exec {RS_NAP_FD}<> <(:)
    read -r -t "$1" -u "$RS_NAP_FD" _ || true
}

# True while PID runs (a zombie, i.e. exited but not yet reaped, is not).
# Reads /proc directly: this runs in polling loops.
rs_proc_alive() {
    local pid="$1" stat state
    [[ -n "$pid" ]] || return 1
    { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
    state="${stat##*) }"
    state="${state%% *}"
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# Index of PID in the process table, or nothing.
rs_proc_index() {
    local i
    for i in "${!RS_PIDS[@]}"; do
        [[ "${RS_PIDS[$i]}" == "$1" ]] && { printf '%s\n' "$i"; return 0; }
    done
    return 1
}

# Prints the last N (default 20) lines of every recorded process's log.
rs_proc_tails() {
    local n="${1:-20}" i
    for i in "${!RS_PIDS[@]}"; do
        printf -- '--- last %s lines of %s (%s) ---\n' "$n" "${RS_PNAMES[$i]}" "${RS_PLOGS[$i]}" >&2
        tail -n "$n" "${RS_PLOGS[$i]}" >&2 2>/dev/null || true
    done
}

# rs_wait_proc PID TIMEOUT_SECONDS: waits for PID (one of ours) to exit while
# watching every other recorded process. Sets RS_WAIT_STATUS to PID's exit
# status and returns 0 when it exited; returns 124 on timeout and 125 when
# another recorded process died first (RS_DEAD_NAME names it; a line on
# stderr says which, with its log's tail).
rs_wait_proc() {
    local pid="$1" timeout="$2" start now i other
    start=$SECONDS
    RS_WAIT_STATUS=""
    RS_DEAD_NAME=""
    while rs_proc_alive "$pid"; do
        for i in "${!RS_PIDS[@]}"; do
            other="${RS_PIDS[$i]}"
            [[ "$other" == "$pid" || -z "$other" ]] && continue
            if ! rs_proc_alive "$other"; then
                local st=0
                wait "$other" 2>/dev/null || st=$?
                RS_DEAD_NAME="${RS_PNAMES[$i]}"
                rs_warn "${RS_PNAMES[$i]} (pid $other) exited early with status $st; last lines of ${RS_PLOGS[$i]}:"
                tail -n 20 "${RS_PLOGS[$i]}" >&2 2>/dev/null || true
                RS_PIDS[$i]=""
                return 125
            fi
        done
        now=$SECONDS
        (( now - start >= timeout )) && return 124
        rs_nap 0.1
    done
    local st=0
    wait "$pid" 2>/dev/null || st=$?
    RS_WAIT_STATUS=$st
    i="$(rs_proc_index "$pid")" && RS_PIDS[$i]=""
    return 0
}

# CPU seconds (user + system) of a running PID, from /proc/PID/stat;
# nothing when it does not run.
rs_cpu_seconds() {
    local stat rest
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || { echo ""; return; }
    rest="${stat##*) }"
    # Fields after the command: state is field 3, utime 14, stime 15.
    # shellcheck disable=SC2086
    set -- $rest
    awk -v u="${12}" -v s="${13}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (u + s) / hz }'
}

# rs_cpu_delta BEFORE AFTER: CPU seconds between two readings; nothing when
# either is missing.
rs_cpu_delta() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "") printf "%.2f", b - a }'; }

# rs_proc_signal_wait PID SIGNAL GRACE: sends SIGNAL (and SIGCONT, so that
# a paused process can act on it) and waits up to GRACE seconds for PID to
# exit. Returns 0 when it exited, 1 when it still runs.
rs_proc_signal_wait() {
    local pid="$1" start=$SECONDS
    kill -"$2" "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
    while rs_proc_alive "$pid" && (( SECONDS - start < $3 )); do rs_nap 0.05; done
    ! rs_proc_alive "$pid"
}

# rs_proc_reap PID: kills PID if it still runs, reaps it and forgets it
# (one of ours). Sets RS_REAP_STATUS to its exit status.
rs_proc_reap() {
    local pid="$1" i
    RS_REAP_STATUS=0
    rs_proc_alive "$pid" && { kill -KILL "$pid" 2>/dev/null || true; }
    wait "$pid" 2>/dev/null || RS_REAP_STATUS=$?
    i="$(rs_proc_index "$pid")" && RS_PIDS[$i]=""
    return 0
}

# CPU seconds the whole machine has been busy (all processes, anyone's),
# from /proc/stat: on a shared machine the others' load shows as the
# difference from recsign's own.
rs_machine_busy_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat
}

# rs_wait_run PID TIMEOUT LOG_DIR WHAT: waits for a benchmark's ventilator;
# dies (naming WHAT, e.g. "batch 100") unless it exits 0 within TIMEOUT
# seconds with every other recorded process alive.
rs_wait_run() {
    local pid="$1" timeout="$2" dir="$3" what="$4" rc=0
    rs_wait_proc "$pid" "$timeout" || rc=$?
    case "$rc" in
        0)   [[ "$RS_WAIT_STATUS" == 0 ]] || { tail -n 20 "$dir/ventilator.log" >&2
                 rs_die "ventilator exited with status $RS_WAIT_STATUS ($what)"; } ;;
        124) rs_proc_tails 10; rs_die "ventilator did not finish within $timeout s (logs: $dir)" ;;
        *)   rs_die "a process died during $what (logs: $dir)" ;;
    esac
}

# Stops every recorded process still running: SIGTERM, up to
# RS_STOP_GRACE seconds (default 5) to exit, then SIGKILL. Reaps them all.
rs_proc_stop_all() {
    local pid i deadline any
    for pid in "${RS_PIDS[@]}"; do
        [[ -n "$pid" ]] && rs_proc_alive "$pid" && { kill -TERM "$pid" 2>/dev/null || true; }
    done
    deadline=$((SECONDS + ${RS_STOP_GRACE:-5}))
    while :; do
        any=0
        for pid in "${RS_PIDS[@]}"; do
            [[ -n "$pid" ]] && rs_proc_alive "$pid" && any=1
        done
        (( any == 0 || SECONDS >= deadline )) && break
        rs_nap 0.1
    done
    for i in "${!RS_PIDS[@]}"; do
        pid="${RS_PIDS[$i]}"
        [[ -n "$pid" ]] || continue
        if rs_proc_alive "$pid"; then
            rs_warn "${RS_PNAMES[$i]} (pid $pid) ignored SIGTERM for ${RS_STOP_GRACE:-5} s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
        RS_PIDS[$i]=""
    done
    return 0
}

# --- per-user state ------------------------------------------------------------
# What the scripts keep between runs outside a run's own directory (the port
# locks) lives in a directory of the user's own: $XDG_RUNTIME_DIR/recsign
# when that is the user's, else ${TMPDIR:-/tmp}/recsign-UID. A directory
# left by root (or anyone else) is never shared: each user has their own.

# rs_state_dir VAR: sets VAR to the user's state directory, made with mode
# 0700 if needed; exits 1 naming the real cause when it cannot be used.
rs_state_dir() {
    local -n rs_sd_out="$1"
    local d
    if [[ -n "${XDG_RUNTIME_DIR:-}" && -d "$XDG_RUNTIME_DIR" && -O "$XDG_RUNTIME_DIR" \
          && -w "$XDG_RUNTIME_DIR" ]]; then
        d="$XDG_RUNTIME_DIR/recsign"
    else
        d="${TMPDIR:-/tmp}/recsign-$(id -u)"
    fi
    local why
    why="$(mkdir -p -m 0700 "$d" 2>&1)" \
        || rs_die "cannot create the state directory $d: ${why##*: }"
    [[ -O "$d" ]] \
        || rs_die "the state directory $d belongs to $(stat -c %U "$d" 2>/dev/null || echo another user), not to $(id -un); remove it or set TMPDIR to a directory of your own"
    [[ -w "$d" ]] || rs_die "the state directory $d is not writable by $(id -un)"
    rs_sd_out="$d"
}

# --- supervision ----------------------------------------------------------------
# Like the shipped systemd units (Restart=on-failure, RestartSec=2): a
# service that exits while the job runs is started again with the same
# command and log, after a backoff that doubles per service from 1 s to
# 30 s. Each restart is recorded with its cause for the script's summary.

RS_RESTARTS=()   # "NAME: CAUSE; restarted after S s" per restart

# rs_exit_cause STATUS: "exit status N", or "killed by signal NAME" for a
# shell status above 128.
rs_exit_cause() {
    if (( $1 > 128 )); then
        printf 'killed by signal %s\n' "$(kill -l $(($1 - 128)) 2>/dev/null || echo $(($1 - 128)))"
    else
        printf 'exit status %s\n' "$1"
    fi
}

# rs_supervise PID TIMEOUT_SECONDS: waits for PID (one of ours, the one
# whose exit ends the job, e.g. the ventilator) to exit with status 0,
# restarting every recorded process that exits meanwhile, PID included
# when it fails. Not restarted: a process that exits with status 2 (a usage
# error would only repeat). Sets RS_WAIT_STATUS (PID's status). Returns 0
# when PID exited 0, 124 on timeout, 125 when a process exited with status
# 2 (RS_DEAD_NAME names it; a line on stderr says which, with its log's
# tail). Restarts are said on stderr and added to RS_RESTARTS.
rs_supervise() {
    local target="$1" timeout="$2" start=$SECONDS i pid st target_i
    local -A due=() backoff=() cause=() started=() log_at=()
    target_i="$(rs_proc_index "$target")" || rs_die "rs_supervise: pid $target is not one of ours"
    RS_WAIT_STATUS=""
    RS_DEAD_NAME=""
    while :; do
        for i in "${!RS_PIDS[@]}"; do
            pid="${RS_PIDS[$i]}"
            if [[ -n "$pid" ]]; then
                rs_proc_alive "$pid" && continue
                st=0
                wait "$pid" 2>/dev/null || st=$?
                RS_PIDS[$i]=""
                if [[ "$pid" == "$target" && $st -eq 0 ]]; then
                    RS_WAIT_STATUS=0
                    return 0
                fi
                if (( st == 2 )); then
                    RS_DEAD_NAME="${RS_PNAMES[$i]}"
                    RS_WAIT_STATUS=2
                    rs_warn "${RS_PNAMES[$i]} (pid $pid) exited with status 2 (a usage error); not restarted; last lines of ${RS_PLOGS[$i]}:"
                    tail -n 20 "${RS_PLOGS[$i]}" >&2 2>/dev/null || true
                    return 125
                fi
                # A service that ran a minute since its restart starts over at 1 s.
                local b="${backoff[$i]:-0}"
                (( SECONDS - ${started[$i]:-0} < 60 )) || b=0
                backoff[$i]=$(( b == 0 ? 1 : b * 2 > 30 ? 30 : b * 2 ))
                due[$i]=$((SECONDS + ${backoff[$i]}))
                cause[$i]="$(rs_exit_cause "$st")"
                # Its last error since it started, so that the cause is on
                # the screen, not only in its log.
                local last_error
                last_error="$(tail -c +"$(( ${log_at[$i]:-0} + 1 ))" "${RS_PLOGS[$i]}" 2>/dev/null \
                    | sed -n -E 's/^[^ ]+ [^ ]+ ERROR //p' | tail -n 1)"
                rs_warn "${RS_PNAMES[$i]} (pid $pid) ${cause[$i]}${last_error:+ (its last error: $last_error)}; restarting it in ${backoff[$i]} s"
            elif [[ -n "${due[$i]:-}" ]] && (( SECONDS >= ${due[$i]} )); then
                # exec: the recorded pid is the program's own, not a
                # subshell's that would leave it behind when stopped.
                log_at[$i]="$(stat -c %s "${RS_PLOGS[$i]}" 2>/dev/null || echo 0)"
                eval "exec ${RS_PCMDS[$i]}" </dev/null >>"${RS_PLOGS[$i]}" 2>&1 &
                pid=$!
                (( i == target_i )) && target="$pid"
                RS_PIDS[$i]="$pid"
                started[$i]=$SECONDS
                RS_RESTARTS+=("${RS_PNAMES[$i]}: ${cause[$i]}; restarted after ${backoff[$i]} s (pid $pid)")
                rs_say "restarted ${RS_PNAMES[$i]} (pid $pid) after ${cause[$i]}"
                unset "due[$i]"
            fi
        done
        (( SECONDS - start >= timeout )) && return 124
        rs_nap 0.2
    done
}

# --- ports -------------------------------------------------------------------
# Free TCP ports on 127.0.0.1 for tests that run in parallel. A port is taken
# when nothing listens on it and a lock directory for it could be created
# (mkdir is atomic) in the user's state directory, so two runs of one user
# never pick the same port between choosing it and binding it (another
# user's run that picks it in that moment makes the later bind fail with
# "Address already in use").

RS_PORT_LOCKS=()
RS_PORT_LOCK_ROOT=""

# True when something listens on 127.0.0.1:PORT (or any address).
rs_port_in_use() {
    local port="$1"
    if command -v ss >/dev/null 2>&1; then
        [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

# rs_free_port VAR [PREFERRED] [BELOW]: sets VAR to a free port, PREFERRED
# if it is free, else one from 20000 up to BELOW (exclusive; default 50000).
# (Not a $(...) function: the lock must be recorded in this shell.) Exits 1
# when the state directory cannot be used; returns 1, saying what was
# tried, when every port tried was in use or locked.
rs_free_port() {
    # Locals carry the rs_fp_ prefix: VAR is set through a name reference,
    # which a local of the same name (a caller's "port", say) would hide,
    # leaving the caller's variable empty.
    [[ "$1" != rs_fp_* ]] || rs_die "rs_free_port: variable name $1 is reserved; expected another"
    local -n rs_fp_out="$1"
    local rs_fp_preferred="${2:-}" rs_fp_below="${3:-50000}" rs_fp_port rs_fp_tries
    if [[ -z "$RS_PORT_LOCK_ROOT" ]]; then
        local rs_fp_state
        rs_state_dir rs_fp_state
        RS_PORT_LOCK_ROOT="$rs_fp_state/ports"
    fi
    local rs_fp_why
    rs_fp_why="$(mkdir -p "$RS_PORT_LOCK_ROOT" 2>&1)" \
        || rs_die "cannot create the port lock directory $RS_PORT_LOCK_ROOT: ${rs_fp_why##*: }"
    # Locks older than a day belong to dead runs.
    find "$RS_PORT_LOCK_ROOT" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
    for ((rs_fp_tries = 0; rs_fp_tries < 200; rs_fp_tries++)); do
        if [[ -n "$rs_fp_preferred" && $rs_fp_tries -eq 0 ]]; then
            rs_fp_port="$rs_fp_preferred"
        else
            rs_fp_port=$((20000 + (RANDOM * 32768 + RANDOM) % (rs_fp_below - 20000)))
        fi
        rs_port_in_use "$rs_fp_port" && continue
        if mkdir "$RS_PORT_LOCK_ROOT/$rs_fp_port" 2>/dev/null; then
            RS_PORT_LOCKS+=("$RS_PORT_LOCK_ROOT/$rs_fp_port")
            rs_fp_out="$rs_fp_port"
            return 0
        fi
    done
    rs_warn "no free TCP port: 200 ports from 20000 to $((rs_fp_below - 1)) tried, each in use or locked in $RS_PORT_LOCK_ROOT"
    return 1
}

# rs_free_ports VAR[=PREFERRED]...: rs_free_port for each VAR; exits 1 when
# no port is free.
rs_free_ports() {
    local spec
    for spec in "$@"; do
        if [[ "$spec" == *=* ]]; then
            rs_free_port "${spec%%=*}" "${spec#*=}" || exit 1
        else
            rs_free_port "$spec" || exit 1
        fi
    done
}

# Releases the port locks this shell took.
rs_release_ports() {
    local l
    for l in "${RS_PORT_LOCKS[@]}"; do rmdir "$l" 2>/dev/null || true; done
    RS_PORT_LOCKS=()
}

# --- recsign runs ------------------------------------------------------------
# What the scripts that run the recsign processes share.

# rs_help_text: every program's --help (rs_find_programs first). The
# programs print there every RECSIGN_* variable they read (the admin CLI
# those of all its commands) and every option's range.
rs_help_text() {
    local b
    for b in "$bin_ventilator" "$bin_keycoord" "$bin_worker" "$bin_sink" "$bin_admin"; do
        "$b" --help || true
    done
}

# rs_config_env_names: the RECSIGN_* variables the programs read, from
# their --help, one per line.
rs_config_env_names() {
    rs_help_text 2>/dev/null | grep -oE 'RECSIGN_[A-Z0-9_]+' | sort -u
}

# Unsets the RECSIGN_* settings the programs would otherwise read from the
# environment (the list from their --help), so that what a script passes is
# their whole configuration. RECSIGN_LOG_LEVEL stays: it is how a caller
# asks for a verbosity. Exits 1 when the list cannot be read.
rs_unset_config_env() {
    local names name
    names="$(rs_config_env_names)"
    [[ "$names" == *RECSIGN_DB_URL* ]] \
        || rs_die "cannot read the RECSIGN_* variables from the programs' --help ($bin_worker and others)"
    for name in $names; do
        [[ "$name" == RECSIGN_LOG_LEVEL ]] || unset "$name"
    done
}

# rs_help_range FLAG COMMAND...: prints "MIN MAX", the range that
# `COMMAND --help` gives for FLAG; nothing when it gives none.
rs_help_range() {
    local flag="$1"
    shift
    { "$@" --help 2>/dev/null || true; } | awk -v f="$flag" '
        $1 == f { getline
                  if (match($0, /range -?[0-9]+\.\.-?[0-9]+/)) {
                      r = substr($0, RSTART + 6, RLENGTH - 6); sub(/\.\./, " ", r); print r }
                  exit }'
}

# rs_need_int_as FLAG VALUE PROGRAM_FLAG COMMAND... [-- MIN]: VALUE must be
# within the range COMMAND --help gives for PROGRAM_FLAG (the program that
# will take it), so that a script never accepts what its program refuses.
# RS_MIN_OVERRIDE, when set, raises the lower bound (e.g. a script that
# needs at least one key). Exits 1 when the range cannot be read.
rs_need_int_as() {
    local flag="$1" value="$2" pflag="$3" range lo hi
    shift 3
    range="$(rs_help_range "$pflag" "$@")"
    [[ -n "$range" ]] || rs_die "cannot read the range of $pflag from $* --help"
    read -r lo hi <<<"$range"
    [[ -n "${RS_MIN_OVERRIDE:-}" ]] && (( RS_MIN_OVERRIDE > lo )) && lo=$RS_MIN_OVERRIDE
    RS_INT_DIGITS=${#hi} rs_need_int "$flag" "$value" "$lo" "$hi"
}

# rs_make_certs ADMIN DIR LOG: the CURVE certificates in DIR (`recsign
# certs`, ADMIN being the recsign program); on failure prints LOG, exits 1.
rs_make_certs() {
    "$1" certs --dir "$2" >"$3" 2>&1 \
        || { cat "$3" >&2; rs_die "recsign certs failed"; }
}

# rs_reset_signing URL: empties the signing state (signatures, leases, runs),
# makes the keys new again and marks the keycoord's last stop as clean, so
# that the next run signs every record again with the same keys.
rs_reset_signing() {
    rs_psql "$1" -c "TRUNCATE signatures, leases; DELETE FROM runs;
UPDATE signature_counts SET stored = 0;
UPDATE keys SET live_at = NULL, retired_at = NULL, retire_requested_at = NULL;
UPDATE keycoord_state SET clean_stop = true;" >/dev/null || rs_die "could not reset the database"
}

# rs_last_run_timing URL: prints "SIGNED SECONDS" for the newest run: its
# signed records and its signing phase (newest signatures.signed_at minus
# runs.first_dispatch_at). Fails when the query does.
rs_last_run_timing() {
    rs_psql "$1" -F ' ' -c "
        select count(s.record_id),
               coalesce(extract(epoch from max(s.signed_at) - r.first_dispatch_at), 0)
        from runs r
        left join leases l on l.run_id = r.id
        left join signatures s on s.lease_id = l.id
        where r.id = (select max(id) from runs)
        group by r.id, r.first_dispatch_at"
}

# rs_field NAME LINE: the value of NAME=... in LINE, a result line of
# space-separated key=value pairs as the bench programs print them.
rs_field() { tr ' ' '\n' <<<"$2" | awk -F= -v n="$1" '$1 == n { print $2 }'; }

# --- a benchmark's start-up -------------------------------------------------
# The steps every signing benchmark shares, in their order: its files
# (rs_bench_files), a private cluster with certificates and ports
# (rs_bench_cluster), the three services around the ventilator
# (rs_bench_services). They set the globals the benchmark then uses.

# rs_bench_files NAME: out_dir (the --out-dir given, default build/bench;
# made absolute), logs (out_dir/NAME-logs, emptied), csv (out_dir/NAME.csv),
# table (out_dir/NAME.md), work (a new scratch directory) and master_key
# (in work); clears the configuration environment, so that the flags a
# benchmark passes are the whole configuration. Needs `build`
# (rs_build_programs).
# shellcheck disable=SC2034,SC2154  # globals the benchmark sets and reads
rs_bench_files() {
    [[ -n "${out_dir:-}" ]] || out_dir="$build/bench"
    out_dir="$(rs_mkdir_abs "$out_dir")"
    logs="$out_dir/$1-logs"
    rs_empty_dir "$logs"
    csv="$out_dir/$1.csv"
    table="$out_dir/$1.md"
    work="$(rs_work_dir "rs$1")"
    master_key="$work/master.key"
    rs_unset_config_env
}

# rs_bench_cluster: a private cluster in $work/pg (sets pg_dir and db_url),
# CURVE certificates in $work/certs (exported as RECSIGN_CERTS_DIR) and
# free ports port_vent, port_sink and port_kc. Exits 1 on failure.
# shellcheck disable=SC2034,SC2154  # globals the benchmark sets and reads
rs_bench_cluster() {
    pg_dir="$work/pg"
    rs_pg_start_private "$pg_dir"
    db_url="$RS_PG_URL"
    rs_make_certs "$bin_admin" "$work/certs" "$logs/certs.log"
    export RECSIGN_CERTS_DIR="$work/certs"
    port_vent="" port_sink="" port_kc=""
    rs_free_ports port_vent port_sink port_kc
}

# rs_bench_services DIR [KC_MPORT SINK_MPORT WORKER_MPORT]: starts the
# keycoord, the sink and one worker of $threads threads (with $master_key)
# on 127.0.0.1 and the ports of rs_bench_cluster, each logging to
# DIR/NAME.log; with the three metrics ports, each serves its metrics on
# 127.0.0.1 there. Sets pid_kc, pid_sink and pid_wk.
# shellcheck disable=SC2034,SC2154  # globals the benchmark sets and reads
rs_bench_services() {
    local dir="$1"
    local -a m_kc=() m_sink=() m_wk=()
    if (( $# > 1 )); then
        m_kc=(--metrics-bind "127.0.0.1:$2")
        m_sink=(--metrics-bind "127.0.0.1:$3")
        m_wk=(--metrics-bind "127.0.0.1:$4")
    fi
    mkdir -p "$dir"
    rs_proc_start keycoord "$dir/keycoord.log" \
        "$bin_keycoord" --db "$db_url" --bind "tcp://127.0.0.1:$port_kc" "${m_kc[@]}"
    pid_kc=$RS_LAST_PID
    rs_proc_start sink "$dir/sink.log" \
        "$bin_sink" --db "$db_url" --bind "tcp://127.0.0.1:$port_sink" "${m_sink[@]}"
    pid_sink=$RS_LAST_PID
    rs_proc_start worker "$dir/worker.log" \
        "$bin_worker" --ventilator "tcp://127.0.0.1:$port_vent" \
        --keycoord "tcp://127.0.0.1:$port_kc" --sink "tcp://127.0.0.1:$port_sink" \
        --threads "$threads" --master-key "$master_key" "${m_wk[@]}"
    pid_wk=$RS_LAST_PID
}

# rs_stop_run PG_DIR WORK_DIR: a benchmark's cleanup: stops every recorded
# process, releases the ports, stops the cluster in PG_DIR (none when
# empty) and removes WORK_DIR.
rs_stop_run() {
    rs_proc_stop_all
    rs_release_ports
    [[ -n "$1" ]] && rs_pg_stop "$1"
    rm -rf "$2"
}

# --- CPU account ---------------------------------------------------------------
# rs_cpu_account_begin, rs_cpu_account_end, rs_cpu_account_print: in their
# own file, one concept.
# shellcheck source=scripts/lib_cpu.sh
source "$RS_ROOT/scripts/lib_cpu.sh"
