"""Lineage with two lineage-builder instances, kill -9s and OpenLineage run ends, on
breadcrumb-broker. The chain topics have 4 partitions, the sinks and the DLQ 2, so with the
range assignor partition number 1 of the chain belongs to one builder and of the sinks to
the other (both restore partition 1 of the stores; only the trace topic's owner may decide
its traces).
  1. flat events (one sent twice), an invalid record, 4 complete and 4 broken traces go
     through the normalizer, deduplicator and router; builders "0" and "1" follow;
  2. kill -9 of both builders and of the normalizer, all restarted (new runs);
  3. the parents of 4 spans seen in step 1 arrive (within the orphan window, in event time;
     the builders' wall clock is irrelevant), then late events move every partition's
     event time past the window.
Checks:
  - every event's LineageRecord on tracking.lineage names its raw offset (holding the
    payload sent) and the normalizer, deduplicator and router hops; the duplicate its fate;
  - tracking.orphans holds exactly the 4 broken traces' orphan spans (one per partition),
    once each, and nothing of the traces whose parent came late;
  - OpenLineage events (all valid against the 2-0-2 schema): one START per run; FAIL with
    an errorMessage for the killed normalizer and builder runs; COMPLETE for the normalizer
    run stopped with SIGTERM; START then FAIL (the runtime's reason) for a worker that
    cannot start (its changelog topic is missing).
"""
import json
import os
import subprocess
import time
import uuid

from confluent_kafka import Producer

import jsonschema

import bclib
import deduplib
import eoslib
import lineagelib
from bclib import check

ROOT = os.environ["BC_ROOT"]
BIN = os.environ.get("BC_BIN", os.path.join(ROOT, "bin"))

TOPOLOGY = lineagelib.topology(ROOT, chain=4, side=2, lineage=4, fates=True,
                               replicas=2)
# The same plus a worker whose changelog `breadcrumb topics create` never made.
BROKEN_WORKER = """\
  dedup2:
    type: deduplicator
    input: tracking.normalized
    outputs: {unique: tracking.unique}
"""

T0 = (int(time.time()) - 300) * 1000
LATE = T0 + 60000


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def flat(key, ms):
    return json.dumps({"event": "billing.charge", "time": iso(ms), "service": "payment",
                       "attributes": {"idempotency_key": key, "currency": "EUR"}}, sort_keys=True)


def span(trace, span_id, parent, ms):
    sp = {"traceId": trace, "spanId": span_id, "name": "op", "kind": 2,
          "startTimeUnixNano": str(ms * 1000000), "endTimeUnixNano": str((ms + 5) * 1000000)}
    if parent:
        sp["parentSpanId"] = parent
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
        "scopeSpans": [{"spans": [sp]}]}]})


def one_per_partition(base):
    """Trace ids, one on each partition of tracking.normalized (keyed by trace_id)."""
    ids = {}
    i = base
    while len(ids) < 4:
        t = "%032x" % i
        ids.setdefault(deduplib.murmur2_partition(t.encode(), 4), t)
        i += 1
    return [ids[p] for p in range(4)]


COMPLETE = one_per_partition(0x1000)
BROKEN = one_per_partition(0x2000)
LATE_PARENT = one_per_partition(0x3000)  # child in phase 1, parent in phase 2: complete


def phase1():
    recs = [(flat("order-%d" % i, T0 + i), T0 + i) for i in range(12)]
    recs.append((flat("order-1", T0 + 1), T0 + 15))  # a duplicate of offset 1
    recs.append(("{not json", T0 + 16))
    for i, t in enumerate(COMPLETE):  # one per partition of the trace topic
        recs.append((span(t, "%016x" % (0xa0 + i), None, T0 + 20), T0 + 20))
        recs.append((span(t, "%016x" % (0xb0 + i), "%016x" % (0xa0 + i), T0 + 21), T0 + 21))
    for i, t in enumerate(BROKEN):
        recs.append((span(t, "%016x" % (0xc0 + i), "%016x" % (0xd0 + i), T0 + 22), T0 + 22))
    for i, t in enumerate(LATE_PARENT):
        recs.append((span(t, "%016x" % (0xe0 + i), "%016x" % (0xf0 + i), T0 + 23), T0 + 23))
    return recs


def parents():
    """Phase 2: the parents of LATE_PARENT's spans, within the orphan window."""
    return [(span(t, "%016x" % (0xf0 + i), None, T0 + 24), T0 + 24)
            for i, t in enumerate(LATE_PARENT)]


class Raw:
    """tracking.raw, one partition: offset -> payload sent."""

    def __init__(self, bs):
        self.p = Producer({"bootstrap.servers": bs, "enable.idempotence": True})
        self.sent = []

    def send(self, recs):
        for value, ts in recs:
            self.p.produce("tracking.raw", value=value.encode(), partition=0, timestamp=ts)
            self.sent.append(value)
        check(self.p.flush(20) == 0, "raw records not delivered")


def lineage_records(bs):
    recs = {}
    for m in eoslib.read_topic(bs, "tracking.lineage", 4):
        recs[m.key().decode()] = eoslib.decode("LineageRecord", m.value())
    return recs


def full_path(rec):
    emitted = {(h["worker"], h["topic"].split(".")[0] if h["topic"].startswith("sink.") else h["topic"])
               for h in rec["hops"] if h["fate"] is None}
    return {("tracking.normalizer", "tracking.normalized"),
            ("tracking.deduplicator", "tracking.unique"), ("tracking.router", "sink")} <= emitted


class Worker:
    def __init__(self, topology, worker, instance, bs):
        self.topology, self.worker, self.instance, self.bs = topology, worker, instance, bs
        self.run_ids = []
        self.proc = None

    def start(self):
        run_id = str(uuid.uuid4())
        self.run_ids.append(run_id)
        log = open(os.path.join(bclib.WORK, "%s-%s.log" % (self.worker, self.instance)), "a")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, self.worker if self.worker != "dedup2" else "deduplicator"),
             "--config", self.topology, "--worker", self.worker, "--instance", self.instance,
             "--brokers", self.bs], stdout=log, stderr=log,
            env=dict(os.environ, BREADCRUMB_BROKERS=self.bs, BREADCRUMB_RUN_ID=run_id),
            preexec_fn=eoslib._die_with_parent)
        eoslib._started.append(self.proc)
        log.close()
        return self

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def test():
    broker = bclib.Broker(args=[]).start()
    eoslib.skip_unless_transactions(broker)
    bs = broker.bootstrap
    topology = os.path.join(bclib.WORK, "topology.yaml")
    with open(topology, "w") as f:
        f.write(TOPOLOGY)
    subprocess.run([os.path.join(BIN, "breadcrumb"), "topics", "create", topology, "--brokers",
                    bs], check=True, stdout=subprocess.DEVNULL, timeout=60)
    raw = Raw(bs)
    raw.send(phase1())
    norm = Worker(topology, "normalizer", "0", bs).start()
    others = [Worker(topology, w, "0", bs).start() for w in ["deduplicator", "router"]]
    builders = [Worker(topology, "lineage-builder", i, bs).start() for i in ["0", "1"]]
    try:
        run(broker, raw, norm, builders)
        # A clean stop: the normalizer's second run completes.
        check(norm.stop() == 0, "normalizer did not stop cleanly")
        # A worker that cannot start: its run fails with the runtime's reason.
        broken = os.path.join(bclib.WORK, "topology-broken.yaml")
        with open(broken, "w") as f:
            f.write(TOPOLOGY + BROKEN_WORKER)
        dedup2 = Worker(broken, "dedup2", "0", bs).start()
        check(dedup2.proc.wait(timeout=60) == 1, "dedup2 should exit 1")
        check_openlineage(bs, norm, builders, dedup2)
    finally:
        for w in [norm] + others + builders:
            w.stop()
    broker.stop()


def run(broker, raw, norm, builders):
    bs = broker.bootstrap
    events = 12 + 4 * 2 + 4 + 4  # flat events and spans: one LineageRecord each

    def paths(n):
        def cond():
            recs = {k: r for k, r in lineage_records(bs).items() if ":" not in k}
            done = [r for r in recs.values() if full_path(r)]
            return recs if len(done) >= n else None
        return cond
    bclib.wait_for(paths(events), 50, "full paths of %d events" % events, interval=0.5)
    # Kill -9 both builders and the normalizer; they come back as new runs, the builders
    # with their stores restored (partition 1's tables in both).
    for w in builders + [norm]:
        w.kill9()
    for w in builders + [norm]:
        w.start()
    # The late parents (event time still within the window), then late events until every
    # partition of the trace topic has moved past the window.
    raw.send(parents())
    events += 4
    late = 0

    def late_on_normalized():
        return [m.partition() for m in eoslib.read_topic(bs, "tracking.normalized", 4)
                if m.timestamp()[1] >= LATE]

    def late_everywhere():
        return len(set(late_on_normalized())) == 4
    for _ in range(8):
        raw.send([(flat("late-%d" % (late + i), LATE + i), LATE + i) for i in range(8)])
        late += 8
        bclib.wait_for(lambda: len(late_on_normalized()) >= late, 30,
                       "%d late events normalized" % late, interval=0.3)
        if late_everywhere():
            break
    check(late_everywhere(), "late events on every partition of tracking.normalized")
    recs = bclib.wait_for(paths(events + late), 50, "full paths of the late events too",
                          interval=0.5)
    bclib.wait_for(lambda: len(eoslib.read_topic(bs, "tracking.orphans", 1)) >= 4, 45,
                   "4 orphan records", interval=0.5)
    # Every path back to the raw payload sent.
    for key, rec in recs.items():
        check(full_path(rec), "path of %s: %s" % (key, rec["hops"]))
        check(rec["raw"]["topic"] == "tracking.raw", "raw of %s: %s" % (key, rec["raw"]))
        sent = raw.sent[rec["raw"]["offset"]]
        check(rec["event_id"] == key, "key %s holds %s" % (key, rec["event_id"]))
        check(sent.startswith("{\"attributes\"") or "resourceSpans" in sent,
              "raw offset %d of %s: %r" % (rec["raw"]["offset"], key, sent))
    check(len(recs) == events + late, "%d events, want %d" % (len(recs), events + late))
    dups = [r for r in recs.values() if any(h["fate"] == "deduplicated" for h in r["hops"])]
    check(len(dups) == 1 and dups[0]["raw"]["offset"] == 1, "the duplicate: %s" % dups)
    # Orphans: the broken traces', once each (both builders restored partition 1).
    orphans = [json.loads(m.value()) for m in eoslib.read_topic(bs, "tracking.orphans", 1)]
    got = sorted((o["trace_id"], o["span_id"], o["parent_span_id"]) for o in orphans)
    want = sorted((t, "%016x" % (0xc0 + i), "%016x" % (0xd0 + i)) for i, t in enumerate(BROKEN))
    check(got == want, "orphans %s, want %s" % (got, want))
    print("RESULT lineage replicas: %d paths complete with 2 builders and kill -9s, %d orphan "
          "spans once each" % (len(recs), len(got)), flush=True)


def check_openlineage(bs, norm, builders, dedup2):
    with open(os.path.join(ROOT, "tests", "specs", "OpenLineage-2-0-2.json")) as f:
        validator = jsonschema.Draft202012Validator(json.load(f))

    def by_run():
        runs = {}
        for m in eoslib.read_topic(bs, "tracking.openlineage", 1):
            ev = json.loads(m.value())
            runs.setdefault(ev["run"]["runId"], []).append(ev)
        return runs

    want = {norm.run_ids[0]: "FAIL", norm.run_ids[1]: "COMPLETE", builders[0].run_ids[0]: "FAIL",
            builders[1].run_ids[0]: "FAIL", dedup2.run_ids[0]: "FAIL"}

    def ended():
        runs = by_run()
        for rid, typ in want.items():
            if not any(e["eventType"] == typ for e in runs.get(rid, [])):
                return None
        return runs
    runs = bclib.wait_for(ended, 45, "terminal events of the runs", interval=0.5)
    n = 0
    for rid, evs in runs.items():
        for ev in evs:
            errors = sorted(validator.iter_errors(ev), key=str)
            check(not errors, "invalid OpenLineage event %s: %s" % (ev, errors[:3]))
            n += 1
        types = [e["eventType"] for e in evs]
        check(types.count("START") == 1 and types[0] == "START", "run %s: %s" % (rid, types))
        check(sum(t in ("COMPLETE", "FAIL", "ABORT") for t in types) <= 1,
              "run %s has several ends: %s" % (rid, types))
    for rid, typ in want.items():
        end = [e for e in runs[rid] if e["eventType"] == typ][0]
        msg = end["run"]["facets"].get("errorMessage", {}).get("message")
        if typ == "FAIL":
            check(msg, "FAIL of %s without errorMessage: %s" % (rid, end))
        else:
            check(msg is None, "COMPLETE with an error: %s" % end)
    fail_n = [e for e in runs[norm.run_ids[0]] if e["eventType"] == "FAIL"][0]
    check("without a terminal record" in fail_n["run"]["facets"]["errorMessage"]["message"],
          "killed run's error: %s" % fail_n)
    fail_d = [e for e in runs[dedup2.run_ids[0]] if e["eventType"] == "FAIL"][0]
    check("changelog" in fail_d["run"]["facets"]["errorMessage"]["message"] and
          fail_d["job"]["name"] == "tracking.dedup2", "failed run's error: %s" % fail_d)
    start = runs[norm.run_ids[1]][0]
    check({d["name"] for d in start["inputs"]} == {"tracking.raw"} and
          {"tracking.normalized", "tracking.dlq"} <= {d["name"] for d in start["outputs"]},
          "normalizer START datasets: %s" % start)
    print(json.dumps(fail_n))
    print("RESULT openlineage: %d events valid, one START per run; FAIL for 3 killed runs and "
          "1 failed start, COMPLETE for a clean stop" % n, flush=True)


bclib.main(test)
