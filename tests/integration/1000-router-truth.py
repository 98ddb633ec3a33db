"""The router on breadcrumb-broker against the generator's ground truth, across a kill -9.

`breadcrumb gen` writes a run (no malformed records: this test feeds the router, not the
normalizer); a small converter here turns its raw records into the TrackingEvents the
router reads (one per span, log record and flat event, repeats of one item collapsed as the
deduplicator would) and checks that their per-sink counts by the default routing equal the
truth's `sinks`. Two router instances then route them with a fan-out topology: the default
topology's rules, in all_matches mode, with security and billing events also copied to
sink.audit. One instance is killed with SIGKILL once a third of the sink records are
committed, and restarted. A read_committed reader then finds on every sink exactly the
truth's count, each event once (sink.audit: security + billing), sink.logs in JSON.
"""
import hashlib
import io
import json
import os
import struct
import subprocess
import threading
import time

import avro.io
import avro.schema
from confluent_kafka import Producer

import bclib
import eoslib

SINKS = ["sink.security", "sink.billing", "sink.traces", "sink.logs", "sink.default"]
PARTS = 6
SINK_PARTS = 3
RECORDS = int(os.environ.get("BC_ROUTER_RECORDS", "40000" if os.environ.get("BC_LONG") else "5000"))

TOPOLOGY = """
pipeline: tracking
kafka:
  brokers: embedded
  profile: test
schemas:
  dir: {root}/schemas
topics:
  tracking.sampled: {{partitions: {parts}}}
  tracking.dlq: {{partitions: 1}}
  tracking.fates: {{partitions: 1}}
  sink.security: {{partitions: {sink_parts}}}
  sink.billing: {{partitions: {sink_parts}}}
  sink.traces: {{partitions: {sink_parts}}}
  sink.logs: {{partitions: {sink_parts}}}
  sink.default: {{partitions: {sink_parts}}}
  sink.audit: {{partitions: {sink_parts}}}
workers:
  router:
    input: tracking.sampled
    commit_interval_ms: 100
    options:
      mode: all_matches
      rules:
        - name: security
          when:
            any:
              - {{kind: event, name: user.login}}
              - {{kind: log, attributes.security.event: {{exists: true}}}}
          to: [sink.security, sink.audit]
        - name: billing
          when: {{kind: event, name: billing.charge}}
          to: [sink.billing, sink.audit]
          key: attributes.idempotency_key
        - name: traces
          when: {{kind: span}}
          to: sink.traces
        - name: logs
          when: {{kind: log, attributes.security.event: {{exists: false}}}}
          to: sink.logs
      default: sink.default
      sinks:
        sink.logs: {{format: json}}
"""


def otlp_value(v):
    """An OTLP/JSON AnyValue as the TrackingEvent's AnyValue (strings, bools, ints only)."""
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "intValue" in v:
        return int(v["intValue"])
    return None


def kvs(attrs):
    out = []
    for a in attrs or []:
        out.append({"key": a["key"], "value": {"value": otlp_value(a.get("value", {}))}})
    return out


def flat_kvs(attrs):
    out = []
    for k, v in (attrs or {}).items():
        if isinstance(v, (str, bool, int)):
            out.append({"key": k, "value": {"value": v}})
    return out


def event_id(kind, material):
    return hashlib.sha256(kind.encode() + b"\0" + material.encode()).hexdigest()[:32]


def ns(v):
    return int(v) if v not in (None, "") else 0


def base(eid, kind, name, service, start, end, attrs, res, trace_id, offset, index):
    return {
        "event_id": eid, "kind": kind, "trace_id": trace_id, "span_id": None,
        "parent_span_id": None, "correlation_id": None, "name": name, "service": service,
        "start_time_ns": start, "end_time_ns": end, "observed_time_ns": None,
        "span_kind": None, "status": {"code": "UNSET", "message": ""},
        "severity_number": None, "severity_text": None, "attributes": attrs,
        "resource_attributes": res, "scope": None, "body": None,
        "source": {"topic": "tracking.raw", "partition": 0, "offset": offset, "index": index},
        "flags": [], "owner": None, "team": None, "tier": None, "cost_center": None,
        "on_call": None, "deploy": None, "sampling": None, "span_events": [], "links": [],
    }


def convert(raw_path):
    """TrackingEvents of the generator's raw records, one per distinct item, in input order:
    [(key, event, sink)]."""
    seen = set()
    out = []
    with open(raw_path) as f:
        for offset, line in enumerate(f):
            rec = json.loads(line)
            value = json.loads(rec["value"])
            index = 0
            if "event" in value:
                attrs = value.get("attributes") or {}
                ident = attrs.get("idempotency_key") or rec["value"]
                eid = event_id("event", ident)
                if eid not in seen:
                    seen.add(eid)
                    name = value["event"]
                    ev = base(eid, "EVENT", name, value["service"], 0, 0, flat_kvs(attrs), [],
                              value.get("trace_id"), offset, 0)
                    sink = ("sink.security" if name == "user.login" else
                            "sink.billing" if name == "billing.charge" else "sink.default")
                    out.append((eid, ev, sink))
                continue
            for rs in value.get("resourceSpans", []):
                res = kvs(rs.get("resource", {}).get("attributes"))
                service = next((a["value"]["value"] for a in res if a["key"] == "service.name"), "?")
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        eid = event_id("span", sp["traceId"] + sp["spanId"])
                        index += 1
                        if eid in seen:
                            continue
                        seen.add(eid)
                        ev = base(eid, "SPAN", sp["name"], service, ns(sp.get("startTimeUnixNano")),
                                  ns(sp.get("endTimeUnixNano")), kvs(sp.get("attributes")), res,
                                  sp["traceId"], offset, index)
                        out.append((sp["traceId"], ev, "sink.traces"))
            for rl in value.get("resourceLogs", []):
                res = kvs(rl.get("resource", {}).get("attributes"))
                service = next((a["value"]["value"] for a in res if a["key"] == "service.name"), "?")
                for sl in rl.get("scopeLogs", []):
                    for lr in sl.get("logRecords", []):
                        attrs = kvs(lr.get("attributes"))
                        amap = {a["key"]: a["value"]["value"] for a in attrs}
                        ident = amap.get("log.record.uid") or json.dumps([service, lr], sort_keys=True)
                        eid = event_id("log", ident)
                        index += 1
                        if eid in seen:
                            continue
                        seen.add(eid)
                        t = ns(lr.get("timeUnixNano"))
                        ev = base(eid, "LOG", "", service, t, t, attrs, res,
                                  lr.get("traceId") or None, offset, index)
                        sink = "sink.security" if "security.event" in amap else "sink.logs"
                        out.append((lr.get("traceId") or eid, ev, sink))
    return out


def encode(schema, schema_id, value, validate=True):
    """python3-avro validates the whole datum before writing it (more than half of its time,
    ~25 s here on a loaded machine): a few are validated, the rest only written (the router
    rejects anything malformed to its DLQ, and the sink counts would then fall short)."""
    buf = io.BytesIO()
    buf.write(b"\x00" + struct.pack(">I", schema_id))
    writer = avro.io.DatumWriter(schema)
    if validate:
        writer.write(value, avro.io.BinaryEncoder(buf))
    else:
        writer.write_data(schema, value, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def event_id_of(value):
    """The event_id of a wire-format TrackingEvent: its first field (a 32-char string)."""
    bclib.check(value[:5] == b"\x00\x00\x00\x00\x01" and value[5] == 64,
                "Avro, schema id 1, a TrackingEvent")
    return value[6:38].decode()


def read_all(bootstrap, topic, partitions, expect, timeout):
    """Every committed record of topic (read_committed), waiting until `expect` are there."""
    reader = eoslib.Reader(bootstrap, topic, partitions)
    eoslib.wait_output(reader, expect, timeout, "%d records on %s" % (expect, topic))
    reader.drain()
    records = list(reader.records)
    reader.close()
    return records


def run():
    root = os.environ.get("BC_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
    root = os.path.abspath(root)
    topo = os.path.join(bclib.WORK, "router.yaml")
    with open(topo, "w") as f:
        f.write(TOPOLOGY.format(root=root, parts=PARTS, sink_parts=SINK_PARTS))
    broker = bclib.Broker(args=["--topology", topo]).start()
    try:
        eoslib.skip_unless_transactions(broker)
        out_dir = os.path.join(bclib.WORK, "gen")
        subprocess.run([os.path.join(bclib.BC_BIN, "breadcrumb"), "gen", "--out-dir", out_dir,
                        "--records", str(RECORDS), "--bad-rate", "0", "--bad-span-rate", "0",
                        "--b64-ids-share", "0", "--quiet"], check=True)
        with open(os.path.join(out_dir, "truth.json")) as f:
            truth = json.load(f)
        items = convert(os.path.join(out_dir, "tracking.raw.jsonl"))
        counts = {s: 0 for s in SINKS}
        for _key, _ev, sink in items:
            counts[sink] += 1
        bclib.check(counts == truth["sinks"],
                    "the converter's per-sink counts %s equal the truth's %s" % (counts, truth["sinks"]))
        expect = dict(counts)
        expect["sink.audit"] = counts["sink.security"] + counts["sink.billing"]

        with open(os.path.join(root, "schemas", "TrackingEvent.v1.avsc")) as f:
            schema = avro.schema.parse(f.read())
        values = [(k.encode(), encode(schema, 1, ev, validate=i < 20))
                  for i, (k, ev, _sink) in enumerate(items)]
        errors = []

        def produce():
            """Paced input while the routers run, so the kill lands mid-stream (the pace
            decides nothing the checks depend on)."""
            p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                          "linger.ms": 5, "partitioner": "murmur2_random"})
            for i in range(0, len(values), 250):
                for k, v in values[i:i + 250]:
                    p.produce("tracking.sampled", key=k, value=v,
                              on_delivery=lambda err, _m: err and errors.append(err))
                p.flush(30)
                time.sleep(0.05)
            if p.flush(60) != 0:
                errors.append("undelivered records")

        producer = threading.Thread(target=produce)
        env = dict(os.environ, BREADCRUMB_BROKERS=broker.bootstrap)

        def router(instance):
            log = open(os.path.join(bclib.WORK, "router-%s.log" % instance), "a")
            p = subprocess.Popen([os.path.join(bclib.BC_BIN, "router"), "--config", topo,
                                  "--worker", "router", "--instance", instance],
                                 stdout=log, stderr=log, env=env)
            log.close()
            return p

        a, b = router("a"), router("b")
        producer.start()
        total = sum(expect.values())
        traces = eoslib.Reader(broker.bootstrap, "sink.traces", SINK_PARTS)
        # Short polls (a batch call waits for 10,000 records or its timeout): the kill lands
        # near a third, not after a half-second poll that may bring the whole stream.
        bclib.wait_for(lambda: traces.poll(0.05) >= counts["sink.traces"] // 3, 90,
                       "a third of sink.traces", interval=0)
        killed_at = len(traces.records)
        traces.close()
        a.kill()
        a.wait()
        a = router("a")
        a_log = os.path.join(bclib.WORK, "router-a.log")

        def a_assigned_again():
            with open(a_log, errors="replace") as f:
                return f.read().count("partitions assigned") >= 2

        bclib.wait_for(a_assigned_again, 90, "the restarted instance a to be assigned")
        producer.join(120)
        bclib.check(not producer.is_alive() and not errors, "input produced (%s)" % errors[:3])
        bclib.wait_for(lambda: eoslib.group_lag(broker.bootstrap, "tracking.router",
                                                "tracking.sampled", PARTS) == 0,
                       120, "the router group to commit every input")
        for p, name in ((a, "a"), (b, "b")):
            p.terminate()
            rc = p.wait(60)
            bclib.check(rc == 0, "router %s exits 0 on SIGTERM (exit %s)" % (name, rc))

        for sink, n in expect.items():
            records = read_all(broker.bootstrap, sink, SINK_PARTS, n, 60)
            ids = []
            for m in records:
                if sink == "sink.logs":
                    ids.append(json.loads(m.value())["event_id"])
                else:
                    # python3-avro decodes ~1k records/s: the event_id is read directly from
                    # every record, and the first few are decoded in full and must agree.
                    ids.append(event_id_of(m.value()))
                    if len(ids) <= 3:
                        dec = avro.io.DatumReader(schema).read(
                            avro.io.BinaryDecoder(io.BytesIO(m.value()[5:])))
                        bclib.check(dec["event_id"] == ids[-1],
                                    "%s: the quick event_id agrees with python3-avro" % sink)
                hdrs = dict(m.headers() or [])
                bclib.check(hdrs.get("bc.worker") == b"tracking.router", "%s: bc.worker header" % sink)
            dupes = len(ids) - len(set(ids))
            bclib.check(dupes == 0, "%s: every event once (%d duplicates)" % (sink, dupes))
            bclib.check(len(ids) == n, "%s: %d records, the truth says %d" % (sink, len(ids), n))
        print("RESULT router: %d events to %s = truth, sink.audit %d fan-out copies, each once "
              "across a kill -9 at %d sink.traces records" % (
                  len(items), ", ".join("%s %d" % (s, counts[s]) for s in SINKS),
                  expect["sink.audit"], killed_at), flush=True)
    finally:
        broker.kill()


bclib.main(run)
