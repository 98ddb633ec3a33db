"""The tail-sampler on breadcrumb-broker with the generator's data.

Generator traces (1-50 spans, 5% with an error, 5% slow, interleaved, some spans late) are
turned into TrackingEvents (a small OTLP/JSON -> TrackingEvent conversion here, standing in
for the normalizer) on a 6-partition topic, keyed by trace_id, and sampled by 2 instances,
one killed with SIGKILL mid-run (chosen by progress) and restarted. A read_committed reader
then checks: every error trace and every slow trace kept whole, each span exactly once; no
span emitted twice; every span not kept has exactly one Fate; the probabilistic share of
the other traces within +-2 percentage points of its setting. A replay of the same input in
a fresh pipeline (group, changelog, outputs) keeps the same span ids. A third run with
max_buffer_bytes at its 1 MiB minimum decides early, never buffers more than the bound,
and stays under the bound plus a documented RSS margin.

2,000 traces by default (about 50,000 spans); BC_LONG=1: 20,000 traces.
"""
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys

import avro.io
import avro.schema

import bclib
import eoslib

LONG = os.environ.get("BC_LONG") == "1"
TRACES = 20000 if LONG else 2000
PARTS = 6
PERCENT = 10
RSS_MARGIN = 64 << 20  # librdkafka (fetch queue capped at 1 MiB), avro, stores, code


def topology(pipeline, sampled, cold, max_buffer="64MiB"):
    return """pipeline: %(p)s
kafka:
  brokers: embedded
  profile: test
  client:
    queued.max.messages.kbytes: 1024
    fetch.max.bytes: 1048576
    max.partition.fetch.bytes: 262144
schemas:
  dir: %(schemas)s
topics:
  in: {partitions: %(parts)d}
  %(p)s.dlq: {partitions: 1}
  %(sampled)s: {partitions: %(parts)d}
  %(cold)s: {partitions: %(parts)d}
workers:
  ts:
    type: tail-sampler
    input: in
    outputs: {sampled: %(sampled)s, cold: %(cold)s}
    commit_interval_ms: 100
    options:
      decision_wait: 40s
      allowed_lateness: 5s
      idle_timeout: 10s
      max_buffer_bytes: %(max)s
      policies:
        - {name: errors, type: status_code, status_codes: [ERROR]}
        - {name: slow, type: latency, threshold: 2s}
        - {name: baseline, type: probabilistic, percentage: %(pct)d}
""" % {"p": pipeline, "schemas": os.path.join(os.environ.get("BC_ROOT", "."), "schemas"),
       "parts": PARTS, "sampled": sampled, "cold": cold, "max": max_buffer, "pct": PERCENT}


def write(name, text):
    path = os.path.join(bclib.WORK, name)
    with open(path, "w") as f:
        f.write(text)
    return path


# ---- OTLP/JSON -> TrackingEvent ----------------------------------------------------------

def load_schema():
    root = os.environ.get("BC_ROOT", ".")
    with open(os.path.join(root, "schemas", "manifest.json")) as f:
        manifest = json.load(f)
    entry = [s for s in manifest["schemas"] if s["subject"] == "TrackingEvent"][-1]
    with open(os.path.join(root, "schemas", entry["file"])) as f:
        return entry["id"], avro.schema.parse(f.read())


def any_value(v):
    for k, conv in (("stringValue", str), ("boolValue", bool), ("intValue", int),
                    ("doubleValue", float)):
        if k in v:
            return {"value": conv(v[k])}
    return {"value": None}


def kvs(attrs):
    return [{"key": a["key"], "value": any_value(a.get("value", {}))} for a in attrs or []]


def hex_id(s, n):
    if s is None or s == "":
        return None
    if len(s) == n and re.fullmatch("[0-9a-fA-F]+", s):
        return s.lower()
    import base64
    return base64.b64decode(s).hex()


STATUS = {0: "UNSET", 1: "OK", 2: "ERROR", "STATUS_CODE_UNSET": "UNSET",
          "STATUS_CODE_OK": "OK", "STATUS_CODE_ERROR": "ERROR"}


def convert(gen_dir):
    """Yields (key, TrackingEvent dict, timestamp_ms) for every span of tracking.raw.jsonl."""
    with open(os.path.join(gen_dir, "tracking.raw.jsonl")) as f:
        for index, line in enumerate(f):
            rec = json.loads(line)
            try:
                doc = json.loads(rec.get("value", ""))
            except ValueError:
                continue
            if not isinstance(doc, dict) or "resourceSpans" not in doc:
                continue
            for rs in doc["resourceSpans"]:
                res = rs.get("resource", {}).get("attributes", [])
                service = next((a["value"].get("stringValue") for a in res
                                if a["key"] == "service.name"), "unknown")
                for ss in rs.get("scopeSpans", []):
                    for i, sp in enumerate(ss.get("spans", [])):
                        trace = hex_id(sp["traceId"], 32)
                        span = hex_id(sp["spanId"], 16)
                        code = sp.get("status", {}).get("code", 0)
                        ev = {
                            "event_id": hashlib.md5((trace + span).encode()).hexdigest(), "kind": "SPAN", "trace_id": trace,
                            "span_id": span, "parent_span_id": hex_id(sp.get("parentSpanId"), 16),
                            "correlation_id": None, "name": sp["name"], "service": service,
                            "start_time_ns": int(sp["startTimeUnixNano"]),
                            "end_time_ns": int(sp["endTimeUnixNano"]),
                            "observed_time_ns": None, "span_kind": None,
                            "status": {"code": STATUS.get(code, "UNSET"), "message": ""},
                            "severity_number": None, "severity_text": None,
                            "attributes": kvs(sp.get("attributes")),
                            "resource_attributes": kvs(res), "scope": None, "body": None,
                            "source": {"topic": "tracking.raw", "partition": 0,
                                       "offset": index, "index": i},
                            "flags": [], "owner": None, "team": None, "tier": None,
                            "cost_center": None, "on_call": None, "deploy": None,
                            "sampling": None, "span_events": [], "links": [],
                        }
                        yield trace.encode(), ev, rec["timestamp_ms"]


def encode_all(gen_dir):
    schema_id, schema = load_schema()
    writer = avro.io.DatumWriter(schema)
    out = []
    for key, ev, ts in convert(gen_dir):
        buf = io.BytesIO()
        buf.write(b"\x00" + struct.pack(">I", schema_id))
        writer.write(ev, avro.io.BinaryEncoder(buf))
        out.append((key, buf.getvalue()))
    return out


def decode(schema, value):
    reader = avro.io.DatumReader(schema)
    return reader.read(avro.io.BinaryDecoder(io.BytesIO(value[5:])))


# ---- running ------------------------------------------------------------------------------

class Worker(eoslib.Stage):
    """bin/tail-sampler from a topology file."""

    def __init__(self, broker, instance, config):
        self.broker, self.instance, self.worker = broker, instance, "ts"
        self.args = [os.path.join(bclib.BC_BIN, "tail-sampler"), "--config", config,
                     "--worker", "ts", "--instance", instance, "--brokers", broker.bootstrap]
        self.env = dict(os.environ, BC_LOG_LEVEL="info")
        self.log_path = os.path.join(bclib.WORK, "%s-%s.log" % (os.path.basename(config), instance))
        self.proc = None
        self.starts = 0


def create_topics(broker, config):
    """The topology's topics, fates and changelogs (breadcrumb topics create)."""
    subprocess.run([os.path.join(bclib.BC_BIN, "breadcrumb"), "topics", "create", config,
                    "--brokers", broker.bootstrap], check=True, stdout=subprocess.DEVNULL)


def read_all(bootstrap, topic, parts):
    r = eoslib.Reader(bootstrap, topic, parts)
    last = -1
    while True:
        n = r.poll(1.0)
        if n == last:
            break
        last = n
    r.close()
    return r.records


def wait_done(broker, group, what):
    bclib.wait_for(lambda: eoslib.group_lag(broker.bootstrap, group, "in", PARTS) == 0,
                   240 if LONG else 90, what, interval=0.5)


def kept_spans(schema, records):
    spans = {}
    dupes = 0
    policies = {}
    for m in records:
        ev = decode(schema, m.value())
        k = (ev["trace_id"], ev["span_id"])
        dupes += k in spans
        spans[k] = ev["sampling"]
        policies.setdefault(ev["trace_id"], ev["sampling"]["policy"])
    return spans, dupes, policies


def run():
    p_cfg = write("p.yaml", topology("p", "sampled", "cold"))
    broker = bclib.Broker().start()
    try:
        eoslib.skip_unless_transactions(broker)
        create_topics(broker, p_cfg)
        gen = os.path.join(bclib.WORK, "gen")
        subprocess.run([os.path.join(bclib.BC_BIN, "breadcrumb"), "gen", "--out-dir", gen,
                        "--traces", str(TRACES), "--spans-min", "1", "--spans-max", "50",
                        "--error-rate", "0.05", "--slow-rate", "0.05", "--late-rate", "0.02",
                        "--retry-rate", "0", "--bad-rate", "0", "--bad-span-rate", "0",
                        "--skew-rate", "0", "--quiet"], check=True)
        with open(os.path.join(gen, "truth.json")) as f:
            truth = json.load(f)
        records = encode_all(gen)
        n_spans = len(records)
        eoslib.produce(broker.bootstrap, "in", records)
        _id, schema = load_schema()

        a = Worker(broker, "a", p_cfg).start()
        b = Worker(broker, "b", p_cfg).start()
        reader = eoslib.Reader(broker.bootstrap, "sampled", PARTS)
        eoslib.wait_output(reader, max(1, n_spans // 20), 120, "a share of the output")
        a.kill9()
        a.start()
        wait_done(broker, "p.ts", "the group to commit every input")
        bclib.check(a.stop() == 0, "instance a exits 0 on SIGTERM")
        bclib.check(b.stop() == 0, "instance b exits 0 on SIGTERM")
        reader.close()

        sampled = read_all(broker.bootstrap, "sampled", PARTS)
        fates = read_all(broker.bootstrap, "p.fates", PARTS)
        cold = read_all(broker.bootstrap, "cold", PARTS)
        spans, dupes, policies = kept_spans(schema, sampled)
        bclib.check(dupes == 0, "no span emitted twice (found %d)" % dupes)
        fate_keys = [m.key() for m in fates]
        bclib.check(len(fate_keys) == len(set(fate_keys)), "no Fate twice")
        bclib.check(len(spans) + len(fate_keys) == n_spans,
                    "every span kept or given a Fate (%d + %d != %d)"
                    % (len(spans), len(fate_keys), n_spans))
        bclib.check(len(cold) == len(fate_keys), "a cold copy per span not kept")
        for group in ("error_traces", "slow_traces"):
            for t in truth["must_keep"][group]:
                missing = [s for s in t["span_ids"] if (t["trace_id"], s) not in spans]
                bclib.check(not missing, "%s: trace %s kept whole (%d of %d spans missing)"
                            % (group, t["trace_id"], len(missing), len(t["span_ids"])))
        rest = len(truth["trace_spans"]) - sum(1 for p in policies.values()
                                                if p in ("errors", "slow"))
        baseline = sum(1 for p in policies.values() if p == "baseline")
        share = 100.0 * baseline / max(rest, 1)
        bclib.check(abs(share - PERCENT) <= 2.0,
                    "probabilistic share %.2f%% within 2 points of %d%%" % (share, PERCENT))
        print("RESULT tail-sampler: %d traces, %d spans, %d kept, 2 instances, kill -9; "
              "baseline share %.2f%%" % (len(truth["trace_spans"]), n_spans, len(spans), share),
              flush=True)

        # Replay in a fresh pipeline: the same kept span ids.
        q_cfg = write("q.yaml", topology("q", "sampled-q", "cold-q"))
        create_topics(broker, q_cfg)
        q = Worker(broker, "a", q_cfg).start()
        wait_done(broker, "q.ts", "the replay to commit every input")
        bclib.check(q.stop() == 0, "replay exits 0")
        replayed, dupes_q, _ = kept_spans(schema, read_all(broker.bootstrap, "sampled-q", PARTS))
        bclib.check(dupes_q == 0, "replay: no span twice")
        bclib.check(set(replayed) == set(spans), "replay keeps the same span ids (%d vs %d)"
                    % (len(replayed), len(spans)))
        print("RESULT replay: the same %d span ids" % len(replayed), flush=True)

        # Memory: max_buffer_bytes at 1 MiB.
        m_cfg = write("m.yaml", topology("m", "sampled-m", "cold-m", max_buffer="1MiB"))
        create_topics(broker, m_cfg)
        m = Worker(broker, "a", m_cfg).start()
        wait_done(broker, "m.ts", "the bounded run to commit every input")
        with open("/proc/%d/status" % m.proc.pid) as f:
            hwm = int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) * 1024
        bclib.check(m.stop() == 0, "bounded run exits 0")
        stats = re.findall(r"buffered_bytes_peak=(\d+).*?decided_early=(\d+)", m.log())
        bclib.check(stats, "the worker logs its buffer statistics")
        peak, early = int(stats[-1][0]), int(stats[-1][1])
        bclib.check(peak <= 1 << 20, "buffered bytes %d never above 1 MiB" % peak)
        bclib.check(early > 0, "the full buffer decided traces early")
        bclib.check(hwm <= (1 << 20) + RSS_MARGIN,
                    "peak RSS %d under 1 MiB + %d margin" % (hwm, RSS_MARGIN))
        print("MEASURED tail-sampler bounded run: peak buffered %d B, %d decided early, "
              "peak RSS %.1f MiB" % (peak, early, hwm / 1048576.0), flush=True)
    finally:
        broker.kill()


bclib.main(run)
