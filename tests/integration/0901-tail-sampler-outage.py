"""The tail-sampler through the chaos test's failure modes, lean: upstream sources skewed in
event time, an upstream outage, its own kill -9.

Traces half sent from raw partition 0 (TrackingEvent.source), while traces from raw
partition 1 run a minute of event time ahead (the upstream instance reading partition 0 is
slow or down, the other goes on). Then the input goes quiet for longer than idle_timeout,
first plainly (an upstream worker down between transactions), then with an upstream
transaction left open (a worker killed mid-transaction: a read_committed consumer cannot read
past it), which is finally aborted and written again, as a restarted upstream worker does.
The sampler is killed -9 and restarted during the quiet. Then the rest of every trace
arrives, and closing traces from partition 0 a minute later.

Every trace must be decided on all its spans: every error trace kept whole, exactly once;
no kept trace partial; every span kept or on the cold output exactly once. Event time
follows the slower source (the faster one does not decide the slow one's traces), the
quiet is shorter than decision_wait + allowed_lateness of event time would take, and the
open transaction does not count as quiet. The end-of-stream drain (last record to every
span decided and committed) is measured.

Options: idle_timeout 3s, decision_wait 8s, allowed_lateness 5s. Traces start 25 ms apart
(2 s of event time), so the oldest would be due after 11 s of quiet, every one after 13 s.
Quiet: 5 s plain (the kill -9 and restart in it), then 15 s with the open transaction, which
alone outlasts every due time: it must not count as quiet. Before the fix every
buffered trace was decided at once, by the source ahead or after 3 s of quiet.
"""
import io
import os
import struct
import time

import avro.io
import avro.schema

import bclib
import eoslib

PARTS = 3
TRACES = 80
SPANS = 6          # per trace: 5 children, then the root
FIRST = 3          # spans sent before the outage
RUNNERS = 20       # traces of the source ahead, and closing traces
T0_NS = 1_800_000_000_000_000_000
PLAIN_QUIET = 5.0  # seconds without records, nothing pending
OPEN_TXN = 15.0    # seconds with an upstream transaction open


def topology():
    return """pipeline: o
kafka:
  brokers: embedded
  profile: test
schemas:
  dir: %(schemas)s
topics:
  in: {partitions: %(parts)d}
  o.dlq: {partitions: 1}
  sampled: {partitions: %(parts)d}
  cold: {partitions: %(parts)d}
workers:
  ts:
    type: tail-sampler
    input: in
    outputs: {sampled: sampled, cold: cold}
    commit_interval_ms: 100
    options:
      decision_wait: 8s
      allowed_lateness: 5s
      idle_timeout: 3s
      policies:
        - {name: errors, type: status_code, status_codes: [ERROR]}
        - {name: baseline, type: probabilistic, percentage: 20}
""" % {"schemas": os.path.join(os.environ.get("BC_ROOT", "."), "schemas"), "parts": PARTS}


def load_schema():
    path = os.path.join(os.environ.get("BC_ROOT", "."), "schemas", "TrackingEvent.v1.avsc")
    with open(path) as f:
        return avro.schema.parse(f.read())


SCHEMA = load_schema()


def event(trace, span, parent, start_ns, end_ns, error, src=("raw", 0)):
    d = {"event_id": "%032x" % (trace * 1000 + span), "kind": "SPAN",
         "trace_id": "%032x" % (0xabc000 + trace), "span_id": "%016x" % (span + 1),
         "parent_span_id": None if parent is None else "%016x" % (parent + 1),
         "correlation_id": None, "name": "op", "service": "checkout",
         "start_time_ns": start_ns, "end_time_ns": end_ns, "observed_time_ns": None,
         "span_kind": None, "status": {"code": "ERROR" if error else "UNSET", "message": ""},
         "severity_number": None, "severity_text": None, "attributes": [],
         "resource_attributes": [], "scope": None, "body": None,
         "source": {"topic": src[0], "partition": src[1], "offset": trace, "index": span},
         "flags": [], "owner": None, "team": None, "tier": None, "cost_center": None,
         "on_call": None, "deploy": None, "sampling": None, "span_events": [], "links": []}
    out = io.BytesIO()
    out.write(b"\0" + struct.pack(">i", 1))
    avro.io.DatumWriter(SCHEMA).write(d, avro.io.BinaryEncoder(out))
    return d["trace_id"].encode(), out.getvalue()


def trace_spans(t, start=None, src=("raw", 0)):
    """(key, value) of trace t's spans in sending order: children, then the root. Every
    fourth trace has an error, in a span sent after the outage."""
    start = T0_NS + t * 25_000_000 if start is None else start
    out = []
    for s in range(1, SPANS):
        end = start + (10 + 20 * s) * 1_000_000
        out.append(event(t, s, 0, start, end, (t % 4 == 0 and s == SPANS - 1), src))
    out.append(event(t, 0, None, start, start + 200_000_000, False, src))
    return out


def probe(p):
    """A one-span error trace on partition p (found by key hash through the broker's
    partitioner: produced on an explicit partition), ended long before the others: decided
    as soon as it is read, so its output says the sampler has read everything before it."""
    key, value = event(0x900 + p, 0, None, T0_NS - 60_000_000_000, T0_NS - 59_000_000_000,
                       True, ("", 0))
    return key, value


def produce_txn(bootstrap, records, tid, commit=True, hold=0.0):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 5,
                  "partitioner": "murmur2_random"})
    p.init_transactions(30)
    p.begin_transaction()
    for k, v, *part in records:
        if part:
            p.produce("in", key=k, value=v, partition=part[0])
        else:
            p.produce("in", key=k, value=v)
    p.flush(30)
    if hold:
        time.sleep(hold)  # the outage being simulated: an upstream transaction left open
    if commit:
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)


def head(value):
    """(trace_id, span_id, flags) of a TrackingEvent."""
    d = avro.io.DatumReader(SCHEMA).read(avro.io.BinaryDecoder(io.BytesIO(value[5:])))
    return d["trace_id"], d["span_id"], d["flags"], d["sampling"]


class Worker(eoslib.Stage):
    def __init__(self, broker, instance, config):
        self.broker, self.instance, self.worker = broker, instance, "ts"
        self.args = [os.path.join(bclib.BC_BIN, "tail-sampler"), "--config", config,
                     "--worker", "ts", "--instance", instance, "--brokers", broker.bootstrap]
        self.env = dict(os.environ, BC_LOG_LEVEL="info")
        self.log_path = os.path.join(bclib.WORK, "ts-%s.log" % instance)
        self.proc = None
        self.starts = 0


def run():
    cfg = os.path.join(bclib.WORK, "o.yaml")
    with open(cfg, "w") as f:
        f.write(topology())
    broker = bclib.Broker().start()
    try:
        eoslib.skip_unless_transactions(broker)
        import subprocess
        subprocess.run([os.path.join(bclib.BC_BIN, "breadcrumb"), "topics", "create", cfg,
                        "--brokers", broker.bootstrap], check=True, stdout=subprocess.DEVNULL)
        traces = [trace_spans(t) for t in range(TRACES)]
        # Another source (raw partition) a minute of event time ahead, as when the upstream
        # instance reading raw partition 0 is down and the other one goes on: its traces
        # complete before the outage; and the closing traces of source 0, a minute later.
        runners = [trace_spans(1000 + t, T0_NS + 60_000_000_000 + t * 25_000_000, ("raw", 1))
                   for t in range(RUNNERS)]
        closing = [trace_spans(2000 + t, T0_NS + 62_000_000_000 + t * 25_000_000)
                   for t in range(RUNNERS)]
        before = [r for t in traces for r in t[:FIRST]] + [r for t in runners for r in t]
        after = [r for t in traces for r in t[FIRST:]] + [r for t in closing for r in t]
        errors = {t[0][0].decode() for i, t in enumerate(traces + runners + closing)
                  if i % 4 == 0}
        n_spans = (TRACES + 2 * RUNNERS) * SPANS + PARTS

        w = Worker(broker, "a", cfg).start()
        produce_txn(broker.bootstrap, before + [probe(p) + (p,) for p in range(PARTS)], "up-1")
        reader = eoslib.Reader(broker.bootstrap, "sampled", PARTS)
        eoslib.wait_output(reader, PARTS, 60, "the probes (the sampler read the first spans)")
        quiet_from = time.monotonic()
        # The sampler dies during the outage and comes back: held offsets re-read, traces
        # rebuilt, and the partitions it catches up on are not idle.
        w.kill9()
        w.start()
        time.sleep(max(0.0, PLAIN_QUIET - (time.monotonic() - quiet_from)))
        # A worker killed mid-transaction: its records stay unreadable until the transaction
        # is aborted (by the restarted worker's fencing); then it writes them again.
        produce_txn(broker.bootstrap, after, "up-2", commit=False, hold=OPEN_TXN)
        produce_txn(broker.bootstrap, after, "up-2")
        last = time.monotonic()
        quiet = last - quiet_from
        # Done when every span is on sampled or cold (read_committed): the input ends with a
        # transaction marker, so the group's committed offset stays one below the end.
        cold = eoslib.Reader(broker.bootstrap, "cold", PARTS)
        want = n_spans
        bclib.wait_for(lambda: reader.poll(0.2) + cold.poll(0.2) >= want, 90,
                       "every span decided and committed", interval=0)
        drain = time.monotonic() - last
        # Stopped, then read to the end: anything written twice is read too.
        bclib.check(w.stop() == 0, "the sampler exits 0 on SIGTERM")
        reader.drain()
        cold.drain()
        reader.close()
        cold.close()
        kept = {}
        dupes = idle = 0
        for m in reader.records:
            trace, span, flags, sampling = head(m.value())
            dupes += span in kept.setdefault(trace, set())
            kept[trace].add(span)
            idle += "idle_decided" in flags
        cold_idle = sum(1 for m in cold.records if "idle_decided" in head(m.value())[2])
        bclib.check(dupes == 0, "no span twice on sampled (%d)" % dupes)
        incomplete = [t for t in errors if len(kept.get(t, ())) != SPANS]
        bclib.check(not incomplete, "every error trace kept whole (%d of %d not: %s)"
                    % (len(incomplete), len(errors), incomplete[:3]))
        probes = {probe(p)[0].decode() for p in range(PARTS)}
        partial = [t for t, s in kept.items() if t not in probes and len(s) != SPANS]
        bclib.check(not partial, "every kept trace whole (%d partial)" % len(partial))
        bclib.check(probes <= set(kept) and len(kept) - PARTS > len(errors),
                    "baseline traces kept too")
        total = sum(len(s) for s in kept.values()) + len(cold.records)
        bclib.check(total == n_spans,
                    "every span kept or cold exactly once (%d of %d)" % (total, n_spans))
        print("RESULT outage: %d traces, one source 60 s of event time ahead, %.0f s quiet "
              "(%.0f s of it with an open upstream transaction) and a kill -9: %d error traces "
              "whole, %d traces kept, no span twice; %d kept and %d cold spans idle-decided"
              % (TRACES + 2 * RUNNERS, quiet, OPEN_TXN, len(errors), len(kept) - PARTS, idle,
                 cold_idle),
              flush=True)
        print("MEASURED tail-sampler drain after the last record: %.1f s (idle_timeout 3 s, "
              "decision_wait 8 s)" % drain, flush=True)
    finally:
        broker.kill()


bclib.main(run)
