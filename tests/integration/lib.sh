# Shared helpers for integration tests written in bash: `. "$BC_ROOT/tests/integration/lib.sh"`.
# A broker runs on a free loopback port (bound as port 0, read back from its port file) with
# its own data directory under the test's scratch directory; waits have deadlines.
set -euo pipefail

BC_WORK=${BC_WORK:-$PWD}
BROKER_PORT=0
BROKER_PID=

fail() { echo "FAILED: $*" >&2; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: runs COMMAND until it succeeds or time is up.
wait_for() {
    local secs=$1 what=$2; shift 2
    local deadline=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
    until "$@" >/dev/null 2>&1; do
        [ $(( $(date +%s%N) / 1000000 )) -lt $deadline ] || fail "timed out after ${secs}s waiting for $what"
        sleep 0.05
    done
}

# broker_start [ARGS...]: starts (or restarts, same port and data dir) the broker named
# $BROKER_NAME (default "broker"); sets BROKER_PORT, BROKER_PID, BROKER (host:port).
broker_start() {
    local name=${BROKER_NAME:-broker}
    rm -f "$BC_WORK/$name.port"
    "$BC_BIN/breadcrumb-broker" --listen "127.0.0.1:$BROKER_PORT" --port-file "$BC_WORK/$name.port" \
        --data-dir "$BC_WORK/$name-data" "$@" >>"$BC_WORK/$name.log" 2>&1 &
    BROKER_PID=$!
    local deadline=$(( $(date +%s) + 30 ))
    until [ -s "$BC_WORK/$name.port" ]; do
        kill -0 "$BROKER_PID" 2>/dev/null || { tail -20 "$BC_WORK/$name.log" >&2; fail "broker exited during startup"; }
        [ "$(date +%s)" -lt $deadline ] || fail "broker did not listen within 30s"
        sleep 0.02
    done
    BROKER_PORT=$(cat "$BC_WORK/$name.port")
    BROKER=127.0.0.1:$BROKER_PORT
}

# broker_stop: SIGTERM and wait; fails unless it exits 0.
broker_stop() {
    [ -n "$BROKER_PID" ] || return 0
    kill -TERM "$BROKER_PID"
    local rc=0
    wait "$BROKER_PID" || rc=$?
    BROKER_PID=
    [ "$rc" -eq 0 ] || fail "broker exited $rc after SIGTERM"
}

# broker_kill: SIGKILL and reap.
broker_kill() {
    [ -n "$BROKER_PID" ] || return 0
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
}

trap 'broker_kill' EXIT
