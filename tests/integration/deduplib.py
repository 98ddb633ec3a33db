"""Helpers for the deduplicator's tests (07xx): generator data turned into normalized
TrackingEvents (tests/tools/dedup_feed), a topology file, worker processes, production with
the records' timestamps, and the read_committed check that tracking.unique holds every unique
key exactly once."""
import collections
import json
import os
import signal
import subprocess
import threading

from confluent_kafka import Consumer, Producer, TopicPartition

import bclib
import eoslib

ROOT = os.environ.get("BC_ROOT", ".")


class Event:
    __slots__ = ("key", "ts", "value", "event_id", "raw_offset")

    def __init__(self, key, ts, value, event_id, raw_offset):
        self.key, self.ts, self.value = key, ts, value
        self.event_id, self.raw_offset = event_id, raw_offset


def gen_events(records, seed=7, extra=()):
    """Runs `breadcrumb gen` into files (hex ids, no malformed records, many retries) and
    converts its output. Returns (events in raw order, truth dict).

    The generator writes tracking.raw.jsonl into a named pipe that dedup_feed reads, and
    dedup_feed's lines are parsed as they come: the three run side by side (one after the
    other they took ~15 s of 0700's 30 on a loaded machine)."""
    out = os.path.join(bclib.WORK, "gen-%d" % seed)
    os.makedirs(out, exist_ok=True)
    raw = os.path.join(out, "tracking.raw.jsonl")
    if os.path.exists(raw):
        os.unlink(raw)
    os.mkfifo(raw)
    cmd = [os.path.join(bclib.BC_BIN, "breadcrumb"), "gen", "--out-dir", out,
           "--records", str(records), "--seed", str(seed), "--b64-ids-share", "0",
           "--bad-rate", "0", "--bad-span-rate", "0", "--quiet"] + list(extra)
    gen_err = open(os.path.join(out, "gen.stderr"), "w+")
    feed_err = open(os.path.join(out, "feed.stderr"), "w+")
    gen = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=gen_err)
    feed = subprocess.Popen([os.path.join(bclib.BC_TEST_BIN, "dedup_feed"),
                             os.path.join(ROOT, "schemas"), raw],
                            stdout=subprocess.PIPE, stderr=feed_err)

    def watch():
        # A generator failing before it opens the pipe would leave dedup_feed blocked in
        # open(): end it, the checks below report the generator's error.
        if gen.wait() != 0 and feed.poll() is None:
            feed.kill()
    threading.Thread(target=watch, daemon=True).start()
    events = []
    for line in feed.stdout:
        key, ts, value, event_id, raw_offset = line.rstrip(b"\n").split(b"\t")
        events.append(Event(key, int(ts), bytes.fromhex(value.decode()), event_id.decode(),
                            int(raw_offset)))
    feed_rc = feed.wait(timeout=60)
    gen_rc = gen.wait(timeout=60)
    for f in (gen_err, feed_err):
        f.seek(0)
    bclib.check(gen_rc == 0, "breadcrumb gen (%s)" % gen_err.read()[-500:])
    bclib.check(feed_rc == 0, "dedup_feed (%s)" % feed_err.read()[-500:])
    gen_err.close()
    feed_err.close()
    with open(os.path.join(out, "truth.json")) as f:
        truth = json.load(f)
    return events, truth


def truth_ids(truth):
    u = truth["unique_event_ids"]
    return set(u["span"]) | set(u["log"]) | set(u["event"])


def murmur2_partition(key, partitions):
    """Kafka's default partitioner (murmur2, as Java clients and murmur2_random)."""
    data = bytearray(key)
    length = len(data)
    seed, m, r = 0x9747b28c, 0x5bd1e995, 24
    h = (seed ^ length) & 0xffffffff
    i = 0
    while length - i >= 4:
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * m) & 0xffffffff
        k ^= k >> r
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
        i += 4
    rest = length - i
    if rest == 3:
        h ^= data[i + 2] << 16
    if rest >= 2:
        h ^= data[i + 1] << 8
    if rest >= 1:
        h ^= data[i]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return (h & 0x7fffffff) % partitions


def copy_distances(events, partitions):
    """Offset distances between a repeat and its first copy, within the partition its key
    maps to (the deduplicator's input offsets)."""
    next_offset = collections.Counter()
    first = {}
    dist = []
    for e in events:
        p = murmur2_partition(e.key, partitions)
        off = next_offset[p]
        next_offset[p] += 1
        if e.event_id in first:
            dist.append(off - first[e.event_id])
        else:
            first[e.event_id] = off
    return sorted(dist)


TOPOLOGY = """\
pipeline: tracking
kafka:
  brokers: embedded
  profile: test
{client}schemas:
  dir: {schemas}
topics:
  tracking.normalized: {{partitions: {parts}}}
  tracking.unique: {{partitions: {parts}}}
  tracking.deduplicator.repartition: {{partitions: {parts}}}
  tracking.dlq: {{partitions: 1}}
workers:
  deduplicator:
    input: {inputs}
    outputs: {outputs}
    max_batch: {max_batch}
    commit_interval_ms: 100
    options:
      key: {key}
      window: {window}
      max_bytes: {max_bytes}
      missing_key: {missing}
"""


def write_topology(parts, key="[event_id]", window="1h", max_batch=500, repartition=False,
                   max_bytes="64MiB", missing="pass", session_timeout_ms=None):
    """session_timeout_ms: the workers' session.timeout.ms (the broker must allow it, see
    start_broker): how long a stopped static member holds its partitions."""
    inputs = "tracking.normalized"
    outputs = "{unique: tracking.unique}"
    if repartition:
        inputs = "[tracking.normalized, tracking.deduplicator.repartition]"
        outputs = "{unique: tracking.unique, repartition: tracking.deduplicator.repartition}"
    path = os.path.join(bclib.WORK, "topology.yaml")
    with open(path, "w") as f:
        f.write(TOPOLOGY.format(schemas=os.path.join(ROOT, "schemas"), parts=parts,
                                inputs=inputs, outputs=outputs, max_batch=max_batch, key=key,
                                window=window, max_bytes=max_bytes, missing=missing,
                                client="" if session_timeout_ms is None else
                                "  client: {session.timeout.ms: %d}\n" % session_timeout_ms))
    p = subprocess.run([os.path.join(bclib.BC_BIN, "breadcrumb"), "validate", "--verbose", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    bclib.check(p.returncode == 0, "topology validates: " + p.stdout)
    mode = "repartition mode through tracking.deduplicator.repartition" if repartition \
        else "aligned mode"
    bclib.check(mode in p.stdout, "validate --verbose says: %s (%s)" % (mode, p.stdout[-300:]))
    return path


def start_broker(parts, repartition=False, min_session_timeout_ms=None):
    topics = ["tracking.normalized:%d" % parts, "tracking.unique:%d" % parts,
              "tracking.fates:1", "tracking.dlq:1",
              "tracking.deduplicator.seen.changelog:%d" % parts]
    if repartition:
        topics.append("tracking.deduplicator.repartition:%d" % parts)
    args = []
    if min_session_timeout_ms is not None:
        args += ["--group-min-session-timeout-ms", str(min_session_timeout_ms)]
    for t in topics:
        args += ["--topic", t]
    return bclib.Broker(args=args).start()


class Worker:
    """A bin/deduplicator process as instance `instance`."""

    def __init__(self, broker, topology, instance):
        self.instance = instance
        self.args = [os.path.join(bclib.BC_BIN, "deduplicator"), "--config", topology,
                     "--worker", "deduplicator", "--instance", instance,
                     "--brokers", broker.bootstrap]
        self.log_path = os.path.join(bclib.WORK, "deduplicator-%s.log" % instance)
        self.proc = None

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log)
        log.close()
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            bclib.fail("deduplicator %s did not stop within %ds" % (self.instance, timeout))

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def produce(bootstrap, events, keys=None):
    """Produces the events (key, value, timestamp) in order to tracking.normalized."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "linger.ms": 20, "partitioner": "murmur2_random"})
    errors = []

    def dr(err, _msg):
        if err is not None:
            errors.append(err)

    for i, e in enumerate(events):
        key = e.key if keys is None else keys[i]
        while True:
            try:
                p.produce("tracking.normalized", key=key, value=e.value, timestamp=e.ts,
                          on_delivery=dr)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    bclib.check(left == 0 and not errors, "events produced (%d left, %s)" % (left, errors[:3]))


def event_id_of(value):
    """The event_id of a wire-format TrackingEvent: its first field (a 32-char string)."""
    bclib.check(value[:1] == b"\0" and value[5] == 64, "TrackingEvent wire format")
    return value[6:38].decode()


def wait_lag_zero(bootstrap, topics, parts, timeout):
    def done():
        return all(eoslib.group_lag(bootstrap, "tracking.deduplicator", t, parts) == 0
                   for t in topics)
    bclib.wait_for(done, timeout, "the group to commit every input", interval=0.5)


def check_exactly_once(reader, expected_ids, what):
    """Every id of expected_ids exactly once on the reader's topic, nothing else."""
    reader.drain()
    got = collections.Counter(event_id_of(m.value()) for m in reader.records)
    twice = [i for i, n in got.items() if n > 1]
    missing = expected_ids - set(got)
    extra = set(got) - expected_ids
    print("MEASURED %s: %d unique keys expected (ground truth), %d records on tracking.unique, "
          "%d keys twice, %d missing, %d unexpected"
          % (what, len(expected_ids), sum(got.values()), len(twice), len(missing), len(extra)),
          flush=True)
    bclib.check(not twice and not missing and not extra,
                "%s: each unique key exactly once (twice e.g. %s, missing e.g. %s)"
                % (what, twice[:3], sorted(missing)[:3]))


FATE_KINDS = ["deduplicated", "sampled_out", "dropped", "dead_lettered", "routed"]


class _Avro:
    """Just enough of Avro's binary decoding for Fate v1 (python3-avro is slow: ~1k/s)."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def long(self):
        shift, acc = 0, 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            acc |= (b & 0x7f) << shift
            shift += 7
            if not b & 0x80:
                return (acc >> 1) ^ -(acc & 1)

    def string(self):
        n = self.long()
        self.pos += n
        return self.data[self.pos - n:self.pos].decode()

    def optional(self, read):
        return None if self.long() == 0 else read()


def decode_fate(value):
    """A Fate v1 record (schema id 3) as a dict; other ids go to python3-avro."""
    if value[:5] != b"\0\0\0\0\x03":
        return eoslib.decode("Fate", value)
    r = _Avro(value[5:])
    fate = {"event_id": r.optional(r.string)}
    fate["source"] = {"topic": r.string(), "partition": r.long(), "offset": r.long(),
                      "index": r.long()}
    fate["worker"] = r.string()
    fate["fate"] = FATE_KINDS[r.long()]
    fate["reason"] = r.optional(r.string)
    fate["policy"] = r.optional(r.string)
    fate["related"] = r.optional(lambda: {"topic": r.string(), "partition": r.long(),
                                          "offset": r.long()})
    bclib.check(r.pos == len(r.data), "Fate decoded to its end")
    return fate


def read_fates(bootstrap):
    """Every committed record of tracking.fates, as decoded Fate dicts."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fates-reader",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    _lo, hi = c.get_watermark_offsets(TopicPartition("tracking.fates", 0), timeout=20)
    tp = TopicPartition("tracking.fates", 0, 0)
    c.assign([tp])
    out = []
    idle = 0.0
    # Done when the position (past records and transaction markers) reaches the end seen at
    # the start; a batch call blocks until it is full or times out, so short calls, and 2 s
    # without anything new ends it as before (an open transaction holds the position back).
    while idle < 2.0:
        msgs = c.consume(num_messages=10000, timeout=0.2)
        idle = 0.0 if msgs else idle + 0.2
        for m in msgs:
            if m.error() is None:
                out.append(decode_fate(m.value()))
                if len(out) <= 3:
                    bclib.check(out[-1] == eoslib.decode("Fate", m.value()),
                                "the quick Fate decoder agrees with python3-avro")
        pos = c.position([tp])[0].offset
        if pos >= hi or any(m.offset() + 1 >= hi for m in msgs[-1:]):
            break
    c.close()
    return out
