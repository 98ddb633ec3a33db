"""The tail-sampler on breadcrumb-broker with the generator's data.

Generator traces (1-50 spans, 5% with an error, 5% slow, interleaved, some spans late, with
their logs and events) are turned into TrackingEvents by the normalizer's core
(tests/tools/normalize_file) on a 6-partition topic, keyed by trace_id, and sampled by 2
instances (logs and events pass through),
one killed with SIGKILL mid-run (chosen by progress) and restarted. A read_committed reader
then checks: every error trace and every slow trace kept whole, each span exactly once; no
span emitted twice; every span not kept has exactly one Fate; the probabilistic share of
the other traces within +-2 percentage points of its setting. A replay of the same input in
a fresh pipeline (group, changelog, outputs) keeps the same span ids. A third run with
max_buffer_bytes at its 1 MiB minimum decides early, never buffers more than the bound,
and stays under the bound plus a documented RSS margin.

600 traces by default (about 15,000 spans); BC_LONG=1: 20,000 traces. The replay and the
bounded run go side by side. The share check is deterministic for a given generator seed
(trace-id hashes, not chance); at 600 traces its binomial spread is about 1.3 points, at
20,000 about 0.2.
"""
import io
import json
import os
import re
import subprocess
import sys
import time

import avro.io
import avro.schema

import bclib
import eoslib

LONG = os.environ.get("BC_LONG") == "1"
TRACES = 20000 if LONG else 600
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
      decision_wait: 20s
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


# ---- TrackingEvents -------------------------------------------------------------------

def load_schema():
    root = os.environ.get("BC_ROOT", ".")
    with open(os.path.join(root, "schemas", "manifest.json")) as f:
        manifest = json.load(f)
    entry = [s for s in manifest["schemas"] if s["subject"] == "TrackingEvent"][-1]
    with open(os.path.join(root, "schemas", entry["file"])) as f:
        return entry["id"], avro.schema.parse(f.read())


def normalized(gen_dir):
    """The normalizer core's TrackingEvents for the generator's raw records: (key, value)."""
    dump = os.path.join(bclib.WORK, "normalized.txt")
    bclib.run_tool("normalize_file", "--dump", dump, os.path.join(gen_dir, "tracking.raw.jsonl"),
                   timeout=300)
    out = []
    with open(dump) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5 and parts[2] == "E":
                out.append((parts[3].encode(), bytes.fromhex(parts[4])))
    return out


def _varint(b, i):
    shift = result = 0
    while True:
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return (result >> 1) ^ -(result & 1), i


def _string(b, i):
    n, i = _varint(b, i)
    return b[i:i + n].decode(), i + n


def head(value):
    """kind, trace_id, span_id from the first fields of a TrackingEvent (wire format)."""
    i = 5
    _event_id, i = _string(value, i)
    kind, i = _varint(value, i)
    ids = []
    for _ in range(2):
        branch, i = _varint(value, i)
        if branch == 1:
            v, i = _string(value, i)
            ids.append(v)
        else:
            ids.append(None)
    return kind, ids[0], ids[1]


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
    """Every committed record of topic: read until each partition's position reaches its end
    (the writers are done), not until a second passes without a record."""
    r = eoslib.Reader(bootstrap, topic, parts)
    r.drain(120 if LONG else 60)
    r.close()
    return r.records


def wait_done(broker, group, what):
    bclib.wait_for(lambda: eoslib.group_lag(broker.bootstrap, group, "in", PARTS) == 0,
                   900 if LONG else 90, what, interval=0.5)


def kept_spans(schema, records, idle):
    """Kept spans {(trace_id, span_id)}, duplicates, {trace_id: deciding policy} (decoded
    fully once per trace), records that were not spans. Traces decided by the idle timeout
    (processing time: the one decision a replay may not reproduce) are added to idle."""
    spans = set()
    dupes = others = 0
    policies = {}
    for m in records:
        kind, trace, span = head(m.value())
        if kind != 0:
            others += 1
            continue
        k = (trace, span)
        dupes += k in spans
        spans.add(k)
        if trace not in policies:
            event = decode(schema, m.value())
            policies[trace] = event["sampling"]["policy"]
            if "idle_decided" in (event.get("flags") or []):
                idle.add(trace)
    return spans, dupes, policies, others


def cold_spans(records, idle):
    """Spans on the cold output {(trace_id, span_id)} and their count; traces whose cold
    spans carry the idle_decided flag are added to idle. Fails when a trace's cold spans
    disagree on the flag. (The flag's bytes in the record stand for the flag: no span
    attribute of the generator's contains them.)"""
    spans = set()
    flagged = {}
    n = 0
    for m in records:
        kind, trace, span = head(m.value())
        if kind != 0:
            continue
        n += 1
        spans.add((trace, span))
        f = b"idle_decided" in m.value()
        bclib.check(flagged.setdefault(trace, f) == f,
                    "cold spans of trace %s all flagged idle_decided or none" % trace)
        if f:
            idle.add(trace)
    return spans, n


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port, name):
    """The value of metric `name` on the worker's /metrics, or None."""
    import urllib.request
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


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
                        "--late-ms", "10000",
                        "--retry-rate", "0", "--bad-rate", "0", "--bad-span-rate", "0",
                        "--skew-rate", "0", "--quiet"], check=True)
        with open(os.path.join(gen, "truth.json")) as f:
            truth = json.load(f)
        records = normalized(gen)
        n_spans = sum(1 for _k, v in records if head(v)[0] == 0)
        n_other = len(records) - n_spans
        eoslib.produce(broker.bootstrap, "in", records)
        _id, schema = load_schema()

        # Side by side with the main run (2 instances, kill -9): a replay in a fresh pipeline
        # (group, changelog, outputs), and a run with max_buffer_bytes at 1 MiB.
        q_cfg = write("q.yaml", topology("q", "sampled-q", "cold-q"))
        m_cfg = write("m.yaml", topology("m", "sampled-m", "cold-m", max_buffer="1MiB"))
        create_topics(broker, q_cfg)
        create_topics(broker, m_cfg)
        a = Worker(broker, "a", p_cfg).start()
        b = Worker(broker, "b", p_cfg).start()
        q = Worker(broker, "a", q_cfg).start()
        m = Worker(broker, "a", m_cfg)
        metrics_port = free_port()
        m.env["BREADCRUMB_METRICS_PORT"] = str(metrics_port)
        m.start()
        hwm = [0]

        def m_done():
            with open("/proc/%d/status" % m.proc.pid) as f:
                hwm[0] = int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) * 1024
            return eoslib.group_lag(broker.bootstrap, "m.ts", "in", PARTS) == 0

        reader = eoslib.Reader(broker.bootstrap, "sampled", PARTS)
        eoslib.wait_output(reader, max(1, n_spans // 20), 120, "a share of the output")
        a.kill9()
        a.start()
        start = time.monotonic()
        wait_done(broker, "p.ts", "the group to commit every input")
        main_secs = time.monotonic() - start
        bclib.check(a.stop() == 0, "instance a exits 0 on SIGTERM")
        bclib.check(b.stop() == 0, "instance b exits 0 on SIGTERM")
        reader.close()

        sampled = read_all(broker.bootstrap, "sampled", PARTS)
        fates = read_all(broker.bootstrap, "p.fates", PARTS)
        cold = read_all(broker.bootstrap, "cold", PARTS)
        idle_p = set()
        spans, dupes, policies, others = kept_spans(schema, sampled, idle_p)
        cold_set, n_cold = cold_spans(cold, idle_p)
        bclib.check(dupes == 0, "no span emitted twice (found %d)" % dupes)
        bclib.check(others == n_other, "logs and events passed through once (%d of %d)"
                    % (others, n_other))
        fate_keys = [m.key() for m in fates]
        bclib.check(len(fate_keys) == len(set(fate_keys)), "no Fate twice")
        bclib.check(len(spans) + len(fate_keys) == n_spans,
                    "every span kept or given a Fate (%d + %d != %d)"
                    % (len(spans), len(fate_keys), n_spans))
        bclib.check(len(cold) == len(fate_keys), "a cold copy per span not kept")
        bclib.check(n_cold == len(cold_set) and not (cold_set & spans),
                    "no span twice on cold, none both kept and cold")
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
              "baseline share %.2f%%; %d error + %d slow traces whole"
              % (len(truth["trace_spans"]), n_spans, len(spans), share,
                 len(truth["must_keep"]["error_traces"]), len(truth["must_keep"]["slow_traces"])),
              flush=True)
        print("MEASURED tail-sampler main run: %.0f s from the kill -9 to every input committed "
              "(%d spans)" % (main_secs, n_spans), flush=True)

        wait_done(broker, "q.ts", "the replay to commit every input")
        bclib.wait_for(m_done, 900 if LONG else 90, "the bounded run to commit every input",
                       interval=0.5)
        metric_peak = scrape(metrics_port, "breadcrumb_sampler_buffered_bytes_peak")
        bclib.check(q.stop() == 0, "replay exits 0")
        bclib.check(m.stop() == 0, "bounded run exits 0")
        idle_q = set()
        replayed, dupes_q, _, _ = kept_spans(schema, read_all(broker.bootstrap, "sampled-q", PARTS),
                                             idle_q)
        cold_spans(read_all(broker.bootstrap, "cold-q", PARTS), idle_q)
        bclib.check(dupes_q == 0, "replay: no span twice")
        # Idle-decided traces (processing time) are the only ones a replay may decide
        # otherwise; they are flagged on sampled and cold, compared apart and reported.
        idle = idle_p | idle_q
        same = {k for k in spans if k[0] not in idle}
        same_q = {k for k in replayed if k[0] not in idle}
        bclib.check(same_q == same, "replay keeps the same span ids (%d vs %d) outside the %d "
                    "idle-decided traces" % (len(same_q), len(same), len(idle)))
        by_trace, by_trace_q = {}, {}
        for t, sp in spans:
            if t in idle:
                by_trace.setdefault(t, set()).add(sp)
        for t, sp in replayed:
            if t in idle:
                by_trace_q.setdefault(t, set()).add(sp)
        agree = sum(1 for t in idle if by_trace.get(t) == by_trace_q.get(t))
        print("RESULT replay: the same %d span ids outside idle-decided traces; idle-decided "
              "traces reported separately: %d (%d in the first run, %d in the replay), %d of "
              "them decided alike in both" % (len(same_q), len(idle), len(idle_p), len(idle_q),
                                               agree), flush=True)
        stats = re.findall(r"buffered_bytes_peak=(\d+).*?decided_early=(\d+)", m.log())
        bclib.check(stats, "the worker logs its buffer statistics")
        peak, early = int(stats[-1][0]), int(stats[-1][1])
        bclib.check(peak <= 1 << 20, "buffered bytes %d never above 1 MiB" % peak)
        bclib.check(metric_peak is not None and 0 < metric_peak <= 1 << 20,
                    "metric breadcrumb_sampler_buffered_bytes_peak %s never above 1 MiB"
                    % metric_peak)
        bclib.check(early > 0, "the full buffer decided traces early")
        bclib.check(hwm[0] <= (1 << 20) + RSS_MARGIN,
                    "peak RSS %d under 1 MiB + %d margin" % (hwm[0], RSS_MARGIN))
        print("MEASURED tail-sampler bounded run: peak buffered %d B, %d decided early, "
              "peak RSS %.1f MiB" % (peak, early, hwm[0] / 1048576.0), flush=True)
    finally:
        broker.kill()


bclib.main(run)
