"""Helpers for the exactly-once runtime tests (04xx): stage processes, a transaction-support
probe of the broker, input production, group progress and read_committed verification.

Every wait has a deadline (bclib.wait_for); kills are chosen by progress, never by clock.
"""
import atexit
import ctypes
import os
import signal
import socket
import struct
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

import bclib

API_JOIN_GROUP, API_INIT_PRODUCER_ID, API_END_TXN, API_TXN_OFFSET_COMMIT = 11, 22, 26, 28


def api_versions(bootstrap):
    """The broker's ApiVersions (v0) as {api_key: (min, max)}."""
    host, port = bootstrap.rsplit(":", 1)
    client = b"eos-probe"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _read(s, 4))[0]
        data = _read(s, size)
    _corr, err, n = struct.unpack(">ihi", data[:10])
    if err != 0:
        bclib.fail("ApiVersions error %d" % err)
    out = {}
    for i in range(n):
        key, lo, hi = struct.unpack(">hhh", data[10 + 6 * i:16 + 6 * i])
        out[key] = (lo, hi)
    return out


def _read(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            bclib.fail("broker closed the connection during ApiVersions")
        buf += chunk
    return buf


def skip_unless_transactions(broker):
    """Exits 0 with a RESULT line when the broker does not yet advertise consumer groups and
    transactions (JoinGroup, InitProducerId, EndTxn, TxnOffsetCommit)."""
    apis = api_versions(broker.bootstrap)
    missing = [name for key, name in ((API_JOIN_GROUP, "JoinGroup"),
                                      (API_INIT_PRODUCER_ID, "InitProducerId"),
                                      (API_END_TXN, "EndTxn"),
                                      (API_TXN_OFFSET_COMMIT, "TxnOffsetCommit"))
               if key not in apis]
    if missing:
        print("RESULT skipped: broker lacks transactions (%s)" % ", ".join(missing), flush=True)
        broker.stop()
        sys.exit(0)


_started = []


def _kill_all():
    for proc in _started:
        if proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass


atexit.register(_kill_all)


def _die_with_parent():
    """Child side of Popen: SIGKILL when the test process dies (even if it is killed)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Stage:
    """One stage process (tests/tools/stage_<name>) as instance `instance`."""

    def __init__(self, tool, broker, instance, inputs, outputs, pipeline="p", worker=None,
                 extra=(), env=None):
        self.tool, self.broker, self.instance = tool, broker, instance
        self.worker = worker or tool
        self.args = [os.path.join(bclib.BC_TEST_BIN, "stage_" + tool),
                     "--brokers", broker.bootstrap, "--pipeline", pipeline,
                     "--worker", self.worker, "--instance", instance, "--profile", "test",
                     "--commit-interval-ms", "100", "--max-batch", "500",
                     "--schemas", os.path.join(os.environ["BC_ROOT"], "schemas")]
        for t in inputs:
            self.args += ["--input", t]
        for name, topic in outputs.items():
            self.args += ["--output", "%s=%s" % (name, topic)]
        self.args += list(extra)
        self.env = dict(os.environ, **(env or {}))
        self.log_path = os.path.join(bclib.WORK, "%s-%s.log" % (self.worker, instance))
        self.proc = None
        self.starts = 0

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, env=self.env,
                                     preexec_fn=_die_with_parent)
        log.close()
        _started.append(self.proc)
        self.starts += 1
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=60):
        """SIGTERM; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            bclib.fail("%s/%s did not stop within %ds" % (self.worker, self.instance, timeout))

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def produce(bootstrap, topic, records, props=None, timeout=60):
    """Produces (key, value) byte pairs with an idempotent producer (props: more client
    settings); fails on any error. Returns the values' total bytes."""
    conf = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20,
            "partitioner": "murmur2_random"}
    conf.update(props or {})
    p = Producer(conf)
    errors = []

    def dr(err, _msg):
        if err is not None:
            errors.append(err)

    total = 0
    for k, v in records:
        total += len(v)
        while True:
            try:
                p.produce(topic, key=k, value=v, on_delivery=dr)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(timeout)
    bclib.check(left == 0 and not errors, "produced to %s (%d left, errors %s)"
                % (topic, left, errors[:3]))
    return total


def group_lag(bootstrap, group, topic, partitions=None):
    """Committed-offset lag of group on topic (read_committed view), summed over partitions
    (None: all of the topic's). A breadcrumb worker that processed everything has lag 0: it
    commits past the commit markers that end its input."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        if partitions is None:
            partitions = len(c.list_topics(topic, timeout=20).topics[topic].partitions)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = c.committed(tps, timeout=20)
        lag = 0
        for tp in committed:
            _lo, hi = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=20)
            lag += hi - max(tp.offset, 0)
        return lag
    finally:
        c.close()


class Reader:
    """An incremental read_committed reader of a whole topic (assigned, no group)."""

    def __init__(self, bootstrap, topic, partitions=None):
        # fetch.wait.max.ms: a fetch at the end returns after 50 ms, not 500 (the position
        # moves past a final commit marker only with the next fetch: drain() waited for it).
        # auto.offset.reset: offset 0 below a compacted topic's start reads from its start.
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "eos-verify-" + topic,
                           "isolation.level": "read_committed", "enable.auto.commit": False,
                           "enable.partition.eof": False, "fetch.wait.max.ms": 50,
                           "auto.offset.reset": "earliest"})
        if partitions is None:
            partitions = len(self.c.list_topics(topic, timeout=20).topics[topic].partitions)
        self.c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.records = []

    def poll(self, max_secs=0.5):
        msgs = self.c.consume(num_messages=10000, timeout=max_secs)
        for m in msgs:
            if m.error() is None:
                self.records.append(m)
        return len(self.records)

    def drain(self, timeout=30):
        """Reads until every partition's position reaches its end (the last stable offset for
        read_committed): everything committed is read, nothing is waited for beyond it (the
        writers must be done). Returns the record count."""
        tps = self.c.assignment()
        deadline = time.monotonic() + timeout
        while True:
            self.poll(0.1)
            ends = [self.c.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in tps]
            pos = [tp.offset for tp in self.c.position(tps)]
            if all(e <= 0 or p >= e for p, e in zip(pos, ends)):
                return len(self.records)
            bclib.check(time.monotonic() < deadline, "reading to the end: positions %s, ends %s"
                        % (pos, ends))

    def close(self):
        self.c.close()


def read_topic(bootstrap, topic, partitions=None, timeout=30):
    """Every committed record of topic (all its partitions when partitions is None), read to
    the end; the writers must be done."""
    r = Reader(bootstrap, topic, partitions)
    try:
        r.drain(timeout)
        return r.records
    finally:
        r.close()


_readers = {}


def decode(schema_name, value):
    """Decodes a Confluent wire-format record with python3-avro (independent of avro-c)."""
    import io
    import avro.io
    import avro.schema
    reader = _readers.get(schema_name)
    if reader is None:
        # Parsed once per schema: parsing took longer than decoding a record.
        path = os.path.join(os.environ["BC_ROOT"], "schemas", schema_name + ".v1.avsc")
        with open(path) as f:
            reader = _readers[schema_name] = avro.io.DatumReader(avro.schema.parse(f.read()))
    bclib.check(value[:1] == b"\0", "wire format magic byte")
    return reader.read(avro.io.BinaryDecoder(io.BytesIO(value[5:])))


def wait_output(reader, count, timeout, what):
    """Reads until the reader holds at least count records."""
    # Short polls: a batch call blocks for its whole timeout unless 10,000 records come.
    bclib.wait_for(lambda: reader.poll(0.05) >= count, timeout, what, interval=0)
