"""Lineage end to end on breadcrumb-broker: the normalizer, deduplicator and router run with
the lineage-builder following them. Raw records: flat events (one sent twice: a duplicate),
an invalid JSON record (dead-lettered by the normalizer), a complete trace and a trace
whose child's parent never arrives, then a late event that moves event time past the
orphan window. Checks, through `breadcrumb lineage` only (Kafka alone):
  - each event's path: raw offset -> normalizer -> deduplicator -> router, and the raw
    offset it names holds the original payload (--json's raw_value equals what was sent);
  - the duplicate shows "deduplicated, first seen at tracking.normalized:0:<offset>";
  - the dead-lettered record (looked up by its raw position) shows its reason;
  - tracking.orphans names the orphan span of the broken trace and nothing of the
    complete one; `--trace` marks the orphan;
  - the OpenLineage run events on tracking.openlineage validate against the spec's JSON
    schema (tests/specs/OpenLineage-2-0-2.json, draft 2020-12) and name each worker's
    topics as datasets in namespace kafka://<bootstrap>.
"""
import json
import os
import subprocess
import time

from confluent_kafka import Producer

import jsonschema

import bclib
import eoslib
import lineagelib
from bclib import check, fail

ROOT = os.environ["BC_ROOT"]
BIN = os.environ.get("BC_BIN", os.path.join(ROOT, "bin"))

TOPOLOGY = lineagelib.topology(ROOT)

T0 = (int(time.time()) - 300) * 1000  # event time, ms: recent, so no clock-skew flags
TRACE_OK = "11111111111111111111111111111111"
TRACE_BROKEN = "22222222222222222222222222222222"


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def flat(i, key, ms):
    return json.dumps({"event": "billing.charge", "time": iso(ms), "service": "payment",
                       "attributes": {"idempotency_key": key, "amount_cents": 100 + i,
                                      "currency": "EUR"}}, sort_keys=True)


def span(trace, span_id, parent, name, ms):
    sp = {"traceId": trace, "spanId": span_id, "name": name, "kind": 2,
          "startTimeUnixNano": str(ms * 1000000), "endTimeUnixNano": str((ms + 5) * 1000000)}
    if parent:
        sp["parentSpanId"] = parent
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeSpans": [{"spans": [sp]}]}]})


def raw_records():
    """[(value, timestamp_ms)] in offset order, and what each offset is."""
    recs = []
    for i in range(5):
        recs.append((flat(i, "order-%d" % i, T0 + i), T0 + i))         # offsets 0-4
    recs.append((flat(1, "order-1", T0 + 1), T0 + 10))                 # 5: duplicate of 1
    recs.append(("{not json", T0 + 11))                                # 6: dead letter
    recs.append((span(TRACE_OK, "a" * 16, None, "GET /cart", T0 + 20), T0 + 20))         # 7
    recs.append((span(TRACE_OK, "b" * 16, "a" * 16, "cart.get", T0 + 21), T0 + 21))       # 8
    recs.append((span(TRACE_BROKEN, "c" * 16, "d" * 16, "payment.charge", T0 + 22), T0 + 22))  # 9
    return recs


def produce(bootstrap, recs):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for value, ts in recs:
        p.produce("tracking.raw", value=value.encode(), partition=0, timestamp=ts)
        p.flush(10)  # one by one: offsets in list order
    check(p.flush(10) == 0, "raw records not delivered")


def lineage(bootstrap, *args, rc_ok=(0,)):
    cmd = [os.path.join(BIN, "breadcrumb"), "lineage", "--brokers", bootstrap, "--schemas",
           os.path.join(ROOT, "schemas"), "--timeout-ms", "5000"] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if p.returncode not in rc_ok:
        fail("breadcrumb lineage %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def read_topic(bootstrap, topic, partitions):
    return [(m.key(), m.value()) for m in eoslib.read_topic(bootstrap, topic, partitions)]




def test():
    broker = bclib.Broker(args=[]).start()
    eoslib.skip_unless_transactions(broker)
    topology = os.path.join(bclib.WORK, "topology.yaml")
    with open(topology, "w") as f:
        f.write(TOPOLOGY)
    subprocess.run([os.path.join(BIN, "breadcrumb"), "topics", "create", topology, "--brokers",
                    broker.bootstrap], check=True, stdout=subprocess.DEVNULL, timeout=60)
    recs = raw_records()
    produce(broker.bootstrap, recs)
    procs = []
    for worker in ["normalizer", "deduplicator", "router", "lineage-builder"]:
        log = open(os.path.join(bclib.WORK, worker + ".log"), "a")
        procs.append(subprocess.Popen([os.path.join(BIN, worker), "--config", topology,
                                       "--worker", worker, "--instance", "0", "--brokers",
                                       broker.bootstrap], stdout=log, stderr=log,
                                      env=dict(os.environ, BREADCRUMB_BROKERS=broker.bootstrap)))
        log.close()
    try:
        run(broker, recs)
    finally:
        bclib.stop_all(procs)
    broker.stop()


def check_openlineage(bs):
    with open(os.path.join(ROOT, "tests", "specs", "OpenLineage-2-0-2.json")) as f:
        spec = json.load(f)
    validator = jsonschema.Draft202012Validator(spec)
    events = [json.loads(v) for _, v in read_topic(bs, "tracking.openlineage", 1)]
    check(events, "no OpenLineage events")
    for ev in events:
        errors = sorted(validator.iter_errors(ev), key=str)
        check(not errors, "invalid OpenLineage event %s: %s" % (ev, errors[:3]))
    starts = {e["job"]["name"]: e for e in events if e["eventType"] == "START"}
    for job in ["tracking.normalizer", "tracking.deduplicator", "tracking.router"]:
        check(job in starts, "no START of %s: %s" % (job, sorted(starts)))
    ns = "kafka://" + bs
    def datasets(job, kind):
        names = set()
        for e in events:
            if e["job"]["name"] == job:
                check(e["job"]["namespace"] == "shop", "job namespace: %s" % e["job"])
                for d in e[kind]:
                    check(d["namespace"] == ns, "dataset namespace: %s" % d)
                    names.add(d["name"])
        return names
    check("tracking.raw" in datasets("tracking.normalizer", "inputs") and
          {"tracking.normalized", "tracking.dlq"} <= datasets("tracking.normalizer", "outputs"),
          "normalizer datasets")
    check("tracking.unique" in datasets("tracking.router", "inputs") and
          {"sink.default", "sink.traces"} <= datasets("tracking.router", "outputs"),
          "router datasets")
    print(json.dumps(starts["tracking.normalizer"]))
    return len(events)


def lineage_json(bootstrap, key):
    p = lineage(bootstrap, key, "--json", rc_ok=(0, 1))
    return json.loads(p.stdout) if p.returncode == 0 else None


def path_of(rec):
    return [(h["worker"], h["topic"], h["fate"]) for h in rec["hops"]]


def run(broker, recs):
    bs = broker.bootstrap
    # The unique events and spans, as the router copied them: their event_ids.
    def routed():
        got = read_topic(bs, "sink.default", 1) + read_topic(bs, "sink.traces", 1)
        return got if len(got) >= 7 else None
    bclib.wait_for(routed, 45, "7 records on the sinks", interval=0.5)
    # event_ids by raw offset, from the lineage records on tracking.lineage.
    def complete():
        ids = {}
        for key, value in read_topic(bs, "tracking.lineage", 2):
            ids[key.decode()] = value
        if len(ids) < 8:  # 7 events + the dead letter's positional record
            return None
        return ids
    bclib.wait_for(complete, 45, "lineage records of every event", interval=0.5)
    keys = [k for k in complete() if ":" not in k]
    sinks_seen = {}
    def all_paths():
        for k in keys:
            rec = lineage_json(bs, k)
            if rec is None or not any(h["worker"] == "tracking.router" for h in rec["hops"]):
                return None
            sinks_seen[k] = rec
        dup = [r for r in sinks_seen.values()
               if any(h["fate"] == "deduplicated" for h in r["hops"])]
        return dup or None
    bclib.wait_for(all_paths, 45, "full paths with the router's hop and the duplicate's fate", interval=0.5)
    checked = 0
    for k, rec in sinks_seen.items():
        raw = rec["raw"]
        check(raw["topic"] == "tracking.raw" and raw["partition"] == 0, "raw of %s: %s" % (k, raw))
        sent = recs[raw["offset"]][0]
        check(rec["raw_value"] == sent, "raw payload of %s at offset %d: %r != %r" %
              (k, raw["offset"], rec["raw_value"], sent))
        path = [(w, t) for w, t, f in path_of(rec) if f is None]
        check(path[0] == ("tracking.normalizer", "tracking.normalized") and
              ("tracking.deduplicator", "tracking.unique") in path and
              path[-1][0] == "tracking.router", "path of %s: %s" % (k, path))
        checked += 1
    # The duplicate: first at raw offset 1, again at 5.
    dup = [k for k, r in sinks_seen.items() if any(h["fate"] == "deduplicated" for h in r["hops"])]
    check(len(dup) == 1, "one event with a duplicate, got %s" % dup)
    dup_rec = sinks_seen[dup[0]]
    check(dup_rec["raw"]["offset"] == 1, "duplicate's raw: %s" % dup_rec["raw"])
    first = [h for h in dup_rec["hops"] if h["fate"] is None and h["topic"] == "tracking.normalized"
             and h["detail"] == "from tracking.raw:0:1"]
    check(len(first) == 1, "first occurrence's normalizer hop: %s" % dup_rec["hops"])
    human = lineage(bs, dup[0]).stdout
    want = "deduplicated, first seen at tracking.normalized:0:%d" % first[0]["offset"]
    check(want in human, "human output lacks %r:\n%s" % (want, human))
    print(human, end="")
    # The dead letter, by its raw position.
    dl = lineage(bs, "tracking.raw:0:6").stdout
    check("dead_lettered: invalid_json" in dl and "payload {not json" in dl,
          "dead letter's reason and payload:\n%s" % dl)
    print(dl, end="")
    # Orphans: a late event moves event time past the window.
    produce(bs, [(flat(9, "order-late", T0 + 60000), T0 + 60000)])
    def orphans():
        got = read_topic(bs, "tracking.orphans", 1)
        return got or None
    got = bclib.wait_for(orphans, 45, "an orphan record", interval=0.5)
    values = [json.loads(v) for _, v in got]
    check([v["trace_id"] for v in values] == [TRACE_BROKEN] and values[0]["span_id"] == "c" * 16
          and values[0]["parent_span_id"] == "d" * 16, "orphans: %s" % values)
    tree = lineage(bs, "--trace", TRACE_BROKEN).stdout
    check("ORPHAN (parent %s missing)" % ("d" * 16) in tree, "trace view:\n%s" % tree)
    ok_tree = lineage(bs, "--trace", TRACE_OK).stdout
    check("ORPHAN" not in ok_tree and "0 orphans" in ok_tree, "complete trace view:\n%s" % ok_tree)
    print(tree + ok_tree, end="")
    ol = check_openlineage(bs)
    print("RESULT lineage: %d paths back to their raw payloads, duplicate and dead letter "
          "explained, 1 orphan trace of 2, %d OpenLineage events valid" % (checked, ol), flush=True)


bclib.main(test)
