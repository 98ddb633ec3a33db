#!/usr/bin/env bash
# `make run`: the whole pipeline on this machine. Starts `breadcrumb run config/topology.yaml`
# (embedded broker, topics, every worker) in build/run/, feeds it `breadcrumb gen` data for
# about a minute with a progress bar, waits until every running worker group has consumed
# everything (lag 0 in `breadcrumb status --json`), prints the report of
# tools/pipeline_check.py (per-stage counts, dedupe rate, sampling by policy, sinks, one
# lineage path, the checks against the generator's ground truth), stops the pipeline, and
# exits 0 on PASS, 1 otherwise.
#
# Settings (environment): BC_RUN_DIR (build/run), BC_RUN_DURATION seconds of feeding (60),
# BC_RUN_RATE raw records per second (1000), BC_RUN_DRAIN_TIMEOUT seconds (300),
# BC_RUN_KEEP=1 leaves the pipeline running after the report (stop it with Ctrl-C).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${BC_RUN_DIR:-$ROOT/build/run}
DURATION=${BC_RUN_DURATION:-60}
RATE=${BC_RUN_RATE:-1000}
DRAIN_TIMEOUT=${BC_RUN_DRAIN_TIMEOUT:-300}
BC=$ROOT/bin/breadcrumb
PY=/usr/bin/python3
TOPOLOGY=$ROOT/config/topology.yaml
# The enricher tokenizes user ids with an HMAC key from the environment: a demo key here.
export BREADCRUMB_PII_KEY=${BREADCRUMB_PII_KEY:-make-run-demo-key-not-a-secret}
unset BREADCRUMB_BROKERS BREADCRUMB_KAFKA || true

rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
cd "$RUN_DIR"
echo "== make run: the pipeline of $TOPOLOGY in $RUN_DIR"

"$BC" run "$TOPOLOGY" --dir "$RUN_DIR/data" --status-interval-ms 60000 >run.log 2>&1 &
RUN_PID=$!
stop_run() {
    if kill -0 "$RUN_PID" 2>/dev/null; then
        kill -TERM "$RUN_PID" 2>/dev/null || true
        wait "$RUN_PID" 2>/dev/null || true
    fi
}
trap 'stop_run' EXIT
trap 'exit 130' INT TERM

state() { jq -r "$1" "$RUN_DIR/data/run.json" 2>/dev/null || true; }
deadline=$(( $(date +%s) + 120 ))
until [ "$(state .ready)" = true ]; do
    if ! kill -0 "$RUN_PID" 2>/dev/null; then
        cat run.log
        echo "make run: breadcrumb run exited during startup" >&2
        exit 1
    fi
    [ "$(date +%s)" -lt $deadline ] || { cat run.log; echo "make run: not ready in 120 s" >&2; exit 1; }
    sleep 0.2
done
BROKERS=$(state .brokers)
export BREADCRUMB_BROKERS=$BROKERS
running=$(state '[.processes[] | select(.broker|not) | select(.missing|not) | .group] | unique | join(" ")')
missing=$(state '[.processes[] | select(.missing) | .group] | unique | join(" ")')
echo "   broker $BROKERS; workers running: ${running:-none}"
[ -z "$missing" ] || echo "   NOT BUILT (not running): $missing"
echo "   logs: $RUN_DIR/data/logs/; status: bin/breadcrumb status --dir $RUN_DIR/data"

# Arrival times of raw and sink records (read_committed), for the raw -> sink latency.
"$PY" "$ROOT/tools/pipeline_check.py" --brokers "$BROKERS" --observe arrivals.json &
OBSERVER_PID=$!
trap 'kill -TERM $OBSERVER_PID 2>/dev/null || true; stop_run' EXIT

# Feed: breadcrumb gen at RATE for DURATION seconds, with a progress bar from its progress lines.
echo "== feeding ${DURATION}s of generated telemetry at ${RATE} records/s"
start=$(date +%s)
bar() {
    local secs=$(( $(date +%s) - start )) width=40 done
    done=$(( secs * width / DURATION )); [ $done -le $width ] || done=$width
    printf '\r   [%-*s] %3ds/%ds  %s' $width "$(printf '%*s' $done '' | tr ' ' '#')" "$secs" \
        "$DURATION" "$1"
}
"$BC" gen --brokers "$BROKERS" --rate "$RATE" --duration "$DURATION" --truth truth.json \
    2> >(while IFS= read -r line; do
             case "$line" in
             "gen: done"*) bar "${line#gen: }"; echo ;;
             gen:*) bar "${line#gen: }" ;;
             *) echo "$line" >>gen.log ;;
             esac
         done) || { echo; echo "make run: breadcrumb gen failed (gen.log)" >&2; exit 1; }
wait_secs=0
until [ -s truth.json ] || [ $wait_secs -gt 50 ]; do sleep 0.1; wait_secs=$((wait_secs + 1)); done
sleep 0.2 # the progress reader's last line

# Drain: every running worker group's lag at 0, twice in a row.
echo "== waiting for the pipeline to drain (at most ${DRAIN_TIMEOUT}s)"
groups_json=$(printf '%s\n' $running | jq -R . | jq -s .)
deadline=$(( $(date +%s) + DRAIN_TIMEOUT ))
zero=0
drain_start=$(date +%s)
while :; do
    lag=$("$BC" status "$TOPOLOGY" --json 2>/dev/null |
          jq --argjson g "$groups_json" '[.groups[] | select(.worker as $w | $g | index($w)) | .lag] | add // 0' ||
          echo unknown)
    printf '\r   lag %-12s %3ds' "$lag" $(( $(date +%s) - drain_start ))
    if [ "$lag" = 0 ]; then
        zero=$((zero + 1))
        [ $zero -lt 2 ] || break
    else
        zero=0
    fi
    if [ "$(date +%s)" -ge $deadline ]; then
        echo; echo "   the pipeline did not drain in ${DRAIN_TIMEOUT}s:"
        "$BC" status "$TOPOLOGY" || true
        break
    fi
    sleep 2
done
echo
grep -E "exited|restarted" run.log | tail -5 | sed 's/^/   supervisor: /' || true

kill -TERM $OBSERVER_PID 2>/dev/null || true
wait $OBSERVER_PID 2>/dev/null || true
arrivals=()
[ -s arrivals.json ] && arrivals=(--arrivals arrivals.json)

echo "== report"
set +e
"$PY" "$ROOT/tools/pipeline_check.py" --brokers "$BROKERS" --truth truth.json --json report.json \
    "${arrivals[@]}"
rc=$?
set -e
echo "   (report.json, truth.json and the logs are in $RUN_DIR)"
if [ "${BC_RUN_KEEP:-}" = 1 ]; then
    echo "== the pipeline keeps running (BREADCRUMB_BROKERS=$BROKERS); Ctrl-C stops it"
    trap - INT TERM
    wait "$RUN_PID" || true
fi
stop_run
exit $rc
