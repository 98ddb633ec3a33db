#!/usr/bin/env bash
# `breadcrumb run` as a supervisor, with stand-in worker programs (shell scripts that
# record how they were started) so it is tested whatever workers are built: the embedded
# broker starts on a free port with its data under the working directory, the topics exist,
# each worker runs `replicas` processes with --config/--worker/--instance and
# BREADCRUMB_BROKERS, a missing worker binary is reported (and refused with --strict),
# kill -9 of a worker restarts it with a growing backoff, kill -9 of the broker restarts it
# on the same port, and SIGTERM stops everything: exit 0, no process left; a kill -9 of the
# supervisor leaves no orphan.
. "$BC_ROOT/tests/integration/lib.sh"
unset BREADCRUMB_KAFKA BREADCRUMB_PROFILE BREADCRUMB_BROKERS || true

mkdir -p fakebin
ln -s "$BC_BIN/breadcrumb-broker" fakebin/breadcrumb-broker
cat >fakebin/normalizer <<'SH'
#!/usr/bin/env bash
# A stand-in worker: records its arguments, environment and pid, then idles until SIGTERM.
inst=${6:-x}
echo "$$ $* BROKERS=$BREADCRUMB_BROKERS" >>"$BC_WORK/started.$inst"
# Once: the supervisor signals the process group and the process, and a loaded machine may
# deliver the second SIGTERM while the first one's trap runs.
trap 'trap "" TERM; echo "$$ stopped" >>"$BC_WORK/stopped"; exit 0' TERM
while :; do sleep 0.1; done
SH
chmod +x fakebin/normalizer

cat >topo.yaml <<'YAML'
pipeline: shop
kafka: {brokers: embedded}
topics:
  shop.raw: {partitions: 3}
  shop.normalized: {partitions: 3}
  shop.unique: {partitions: 3}
  shop.dlq: {partitions: 1}
workers:
  normalizer:
    input: shop.raw
    outputs: {normalized: shop.normalized, dlq: shop.dlq}
    replicas: 2
  deduplicator:
    input: shop.normalized
    outputs: {unique: shop.unique}
YAML

state() { jq -r "$1" data/run.json 2>/dev/null; }
pid_of() { state ".processes[] | select(.group==\"$1\" and .instance==\"$2\") | .pid"; }

# --strict refuses a topology with a worker that is not built, and leaves nothing running.
set +e
breadcrumb run topo.yaml --bin-dir fakebin --dir strict --strict --grace-ms 5000 >strict.log 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || { cat strict.log; fail "--strict with a missing worker: exit $rc"; }
grep -q "worker deduplicator: fakebin/deduplicator is not built; refusing to run (--strict)" strict.log ||
    fail "--strict message"
[ -d strict/broker ] || fail "no broker data dir under ./strict"
! pgrep -f "$BC_WORK/strict" >/dev/null || fail "processes left after --strict"

breadcrumb run topo.yaml --bin-dir fakebin --backoff-ms 300 --max-backoff-ms 5000 \
    --status-interval-ms 1000 --grace-ms 10000 >run.log 2>&1 &
RUN_PID=$!
trap 'kill -KILL $RUN_PID 2>/dev/null || true; pkill -KILL -f "$BC_WORK/fakebin" 2>/dev/null || true; broker_kill' EXIT

ready() { [ "$(state .ready)" = true ] && [ -s started.0 ] && [ -s started.1 ]; }
wait_for 60 "the run to be ready" ready

# The broker: a free loopback port, its data under ./data/broker, the topics created.
brokers=$(state .brokers)
port=${brokers#127.0.0.1:}
[ "$port" -gt 0 ] && [ "$port" != 9092 ] || fail "broker address $brokers"
[ -d data/broker ] || fail "no ./data/broker"
[ "$(cat data/broker.port)" = "$port" ] || fail "port file"
kcat -L -b "$brokers" -m 10 >meta.txt
for t in shop.raw:3 shop.normalized:3 shop.unique:3 shop.dlq:1 shop.fates:3 \
         shop.deduplicator.seen.changelog:3; do
    grep -q "topic \"${t%:*}\" with ${t#*:} partitions" meta.txt || fail "topic $t missing: $(cat meta.txt)"
done

# Each instance got its arguments and the broker address.
for i in 0 1; do
    grep -q -- "--config $BC_WORK/topo.yaml --worker normalizer --instance $i BROKERS=$brokers" \
        "started.$i" || fail "normalizer/$i arguments: $(cat started.$i)"
done
grep -q "run: worker deduplicator: fakebin/deduplicator is not built; not started" run.log ||
    fail "missing worker not reported"
wait_for 10 "status lines" grep -q "normalizer       2/2 running" run.log
grep -q "deduplicator     missing (not built), not started" run.log || fail "missing status line"

# kill -9 an instance three times in a row: restarted each time, the delay doubling.
for round in 1 2 3; do
    old=$(pid_of normalizer 0)
    kill -KILL "$old"
    restarted() { local p; p=$(pid_of normalizer 0); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$old" ]; }
    wait_for 30 "normalizer/0 restart $round" restarted
    [ "$(wc -l <started.0)" = $((round + 1)) ] || wait_for 10 "restart $round to start" \
        bash -c "[ \$(wc -l <started.0) = $((round + 1)) ]"
done
grep -q "normalizer/0 (pid [0-9]*) exited: signal 9 (Killed) after .*; restarting in 0.30s" run.log || fail "first backoff"
grep -q "normalizer/0 (pid [0-9]*) exited: signal 9 (Killed) after .*; restarting in 0.60s" run.log || fail "second backoff"
grep -q "normalizer/0 (pid [0-9]*) exited: signal 9 (Killed) after .*; restarting in 1.20s" run.log || fail "third backoff"
[ "$(state '.processes[] | select(.group=="normalizer" and .instance=="0") | .restarts')" = 3 ] ||
    fail "restarts count"
[ "$(wc -l <started.1)" = 1 ] || fail "normalizer/1 was restarted too"

# kill -9 the broker: restarted on the same port with the same data.
bpid=$(pid_of broker 0)
kill -KILL "$bpid"
broker_back() { local p; p=$(pid_of broker 0); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$bpid" ]; }
wait_for 30 "the broker to restart" broker_back
wait_for 30 "the broker to listen again" kcat -L -b "$brokers" -t shop.raw -m 5
[ "$(state .brokers)" = "$brokers" ] || fail "broker address changed"
kcat -L -b "$brokers" -t shop.deduplicator.seen.changelog -m 5 | grep -q "with 3 partitions" ||
    fail "topics lost across the broker restart"

# SIGTERM: everything stops, cleanly, workers before the broker.
kill -TERM $RUN_PID
rc=0
wait $RUN_PID || rc=$?
[ $rc -eq 0 ] || { tail -20 run.log; fail "breadcrumb run exited $rc after SIGTERM"; }
grep -q "^run: stopped$" run.log || fail "no clean stop line"
[ "$(wc -l <stopped)" = 2 ] || fail "both instances got SIGTERM: $(cat stopped)"
! pgrep -f "$BC_WORK/fakebin" >/dev/null || fail "a process of the run is left: $(pgrep -af "$BC_WORK/fakebin")"
! pgrep -f "$BC_WORK/data" >/dev/null || fail "the broker is left"
[ "$(state .stopping)" = true ] || fail "state file not final"

# kill -9 of the supervisor itself: its children get SIGTERM (parent-death signal) and stop.
rm -f started.0 started.1
breadcrumb run topo.yaml --bin-dir fakebin --dir data2 >run2.log 2>&1 &
RUN_PID=$!
wait_for 60 "the second run to be ready" bash -c '[ "$(jq -r .ready data2/run.json 2>/dev/null)" = true ] && [ -s started.0 ] && [ -s started.1 ]'
kill -KILL $RUN_PID
wait $RUN_PID 2>/dev/null || true
orphans_gone() { ! pgrep -f "$BC_WORK/fakebin" && ! pgrep -f "$BC_WORK/data2"; }
wait_for 30 "the children of a killed supervisor to stop" orphans_gone

echo "RESULT supervisor: 3 worker kills and 1 broker kill restarted (backoff 0.3/0.6/1.2 s), clean stop on SIGTERM, no orphans after kill -9 of the supervisor"
