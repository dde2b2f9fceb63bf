#!/usr/bin/env bash
# other_user.sh: a user other than root runs scripts/run_local.sh after
# root ran it (and after root's older scripts left a root-owned port lock
# directory in /tmp, and while root's XDG_RUNTIME_DIR is in the
# environment): the scripts keep their state per user, so the user's run
# signs every record and passes verify and audit. A state directory that
# belongs to someone else is named in a one-line error. Needs root (it
# switches user with runuser or setpriv); skipped (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

[[ "$(id -u)" -eq 0 ]] || { echo "$RS_PROG: SKIP: needs root to run a script as another user" >&2; exit 77; }
user=postgres
id "$user" >/dev/null 2>&1 || h_fail "no '$user' user to run as"

# as_user COMMAND...: runs COMMAND as $user with a clean environment but for
# what run_local.sh needs: the programs (nothing to build), no package
# check, and root's runtime directory, which must not be used.
as_user() {
    local -a env=(env -i PATH="$PATH" HOME="$H_DIR/home" LANG=C.UTF-8 RECSIGN_SKIP_DEPS=1
                  RECSIGN_VENTILATOR_BIN="$H_VENTILATOR" RECSIGN_KEYCOORD_BIN="$H_KEYCOORD"
                  RECSIGN_WORKER_BIN="$H_WORKER" RECSIGN_SINK_BIN="$H_SINK" RECSIGN_ADMIN_BIN="$H_ADMIN"
                  XDG_RUNTIME_DIR="$root_runtime")
    if command -v runuser >/dev/null 2>&1; then
        runuser -u "$user" -- "${env[@]}" "$@"
    else
        setpriv --reuid="$user" --regid="$user" --init-groups -- "${env[@]}" "$@"
    fi
}

root_runtime="$H_DIR/root-runtime"
mkdir -m 0700 "$root_runtime"
mkdir -p "$H_DIR/home" && chown "$user": "$H_DIR/home"

h_step "root runs run_local.sh"
# What older scripts left behind: root's port locks in /tmp.
mkdir -p /tmp/recsign-ports
RECSIGN_DATA_DIR="$H_DIR/root-data" RECSIGN_SKIP_DEPS=1 XDG_RUNTIME_DIR="$root_runtime" \
    bash "$RS_ROOT/scripts/run_local.sh" --records 2000 --keys 3 --workers 1 --threads 1 \
    >"$H_LOGS/root-run.out" 2>&1 || { cat "$H_LOGS/root-run.out" >&2; h_fail "root's run_local.sh failed"; }
[[ -d "$root_runtime/recsign/ports" ]] || h_fail "root's run kept no port locks in its own runtime directory"

h_step "$user runs run_local.sh"
user_data="$H_DIR/user-data"
mkdir -p "$user_data" && chown "$user": "$user_data"
st=0
as_user env RECSIGN_DATA_DIR="$user_data" bash "$RS_ROOT/scripts/run_local.sh" \
    --records 2000 --keys 3 --workers 1 --threads 1 >"$H_LOGS/user-run.out" 2>&1 || st=$?
(( st == 0 )) || { cat "$H_LOGS/user-run.out" >&2; h_fail "$user's run_local.sh after root's exited with status $st"; }
h_log_has "$H_LOGS/user-run.out" '^  verify +ok' "$user's run verified"
h_log_has "$H_LOGS/user-run.out" '^  audit +ok' "$user's run audited"
h_log_has "$H_LOGS/user-run.out" '^  records +2000 \(2000 signed\)' "$user's run signed every record"
uid="$(id -u "$user")"
[[ -d "/tmp/recsign-$uid/ports" && "$(stat -c %U "/tmp/recsign-$uid")" == "$user" ]] \
    || h_fail "$user's port locks are not in /tmp/recsign-$uid, owned by $user"

h_step "a state directory owned by someone else is named in the error"
other_tmp="$H_DIR/other-tmp"
mkdir -p "$other_tmp/recsign-$uid"
chmod 0777 "$other_tmp"
st=0
as_user env TMPDIR="$other_tmp" RECSIGN_DATA_DIR="$user_data" bash "$RS_ROOT/scripts/run_local.sh" \
    --records 10 --keys 1 >"$H_LOGS/user-bad.out" 2>&1 || st=$?
(( st == 1 )) || { cat "$H_LOGS/user-bad.out" >&2; h_fail "run_local.sh with a foreign state directory exited $st; expected 1"; }
h_log_has "$H_LOGS/user-bad.out" "state directory $other_tmp/recsign-$uid belongs to root, not to $user" \
    "the error naming the foreign state directory"
echo "$RS_PROG: ok: $user's run_local.sh after root's signed every record; per-user state; test took $SECONDS s"
