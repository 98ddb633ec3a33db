"""A real normalizer process on breadcrumb-broker: the generator's mix of good and bad
payloads on tracking.raw (one partition, so offsets are deterministic), bin/normalizer with
exactly-once transactions, outputs read back with read_committed consumers. Every input
record is accounted for (events + dead letters = items + bad records, each raw offset with at
least one output via its bc.src header), dead letters match the truth by reason, span event
ids are the truth's, and the same input processed again by a fresh normalizer (fresh
broker, group and transactional id) yields byte-identical output, and so does a run whose
worker is killed (SIGKILL) mid-way and restarted. The worker runs from a topology file."""
import collections
import concurrent.futures
import io
import json
import os
import subprocess
import sys
import time

import avro.io
import avro.schema
from confluent_kafka import Consumer, KafkaException, TopicPartition

import bclib
import eoslib
from bclib import check, fail

ROOT = os.environ.get("BC_ROOT", ".")
MAX_BYTES = 65536
LONG = bool(os.environ.get("BC_LONG"))
RECORDS = 20000 if LONG else 400
OUT_PARTITIONS = 3


def skip(why):
    print("RESULT skipped: " + why, flush=True)
    sys.exit(0)


def bin_path(name):
    return os.path.join(bclib.BC_BIN, name)


def start_broker(name):
    topics = ["tracking.raw:1", "tracking.deploys:1", "tracking.normalized:%d" % OUT_PARTITIONS,
              "tracking.dlq:1", "tracking.fates:1"]
    args = []
    for t in topics:
        args += ["--topic", t]
    return bclib.Broker(name=name, args=args).start()


def gen(bootstrap, truth):
    cmd = [bin_path("breadcrumb"), "gen", "--brokers", bootstrap, "--records", str(RECORDS),
           "--bad-rate", "0.08", "--bad-span-rate", "0.05", "--max-bytes", str(MAX_BYTES),
           "--truth", truth, "--quiet"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    if p.returncode != 0:
        fail("breadcrumb gen exited %d: %s" % (p.returncode, p.stderr[-2000:]))


TOPOLOGY = """\
pipeline: tracking
kafka:
  brokers: embedded
  profile: test
topics:
  tracking.raw: {partitions: 1}
  tracking.normalized: {partitions: %d}
  tracking.dlq: {partitions: 1}
  tracking.fates: {partitions: 1}
workers:
  normalizer:
    input: tracking.raw
    outputs: {normalized: tracking.normalized, dlq: tracking.dlq}
    max_batch: %d
    options: {max_payload_bytes: %d}
"""


def start_normalizer(bootstrap, log_name, max_batch=1000):
    topology = os.path.join(bclib.WORK, "topology-%s.yaml" % log_name.split(".")[0])
    with open(topology, "w") as f:
        f.write(TOPOLOGY % (OUT_PARTITIONS, max_batch, MAX_BYTES))
    cmd = [bin_path("normalizer"), "--config", topology, "--worker", "normalizer",
           "--instance", "0", "--brokers", bootstrap]
    log = open(os.path.join(bclib.WORK, log_name), "a")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    log.close()
    return proc


def end_offset(bootstrap, topic, partition):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "end-probe"})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    c.close()
    return hi


def committed(bootstrap, group, topic, partition):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tp = c.committed([TopicPartition(topic, partition)], timeout=5)[0]
        return tp.offset
    except KafkaException:
        return -1
    finally:
        c.close()


def read_all(bootstrap, topic, partitions):
    """Every committed record of topic, per partition: [(key, value, headers)]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "enable.partition.eof": True, "fetch.wait.max.ms": 100})
    out = {}
    for p in range(partitions):
        hi = end_offset(bootstrap, topic, p)
        recs = []
        if hi > 0:
            c.assign([TopicPartition(topic, p, 0)])
            deadline = time.monotonic() + 30
            while True:
                m = c.poll(0.2)
                if m is not None and m.error() is None:
                    recs.append((m.key(), m.value(), dict(m.headers() or [])))
                    if m.offset() + 1 >= hi:
                        break
                elif m is not None and m.error().code() == -191:  # _PARTITION_EOF
                    break
                check(time.monotonic() < deadline, "reading %s[%d]" % (topic, p))
        out[p] = recs
    c.close()
    return out


def run_once(name, crash=False):
    """Generates the input on a fresh broker and normalizes it all. With crash, the worker
    runs with small transactions and is killed (SIGKILL) once it has committed part of the
    input, then restarted. Returns the truth, the raw record count, the outputs and how many
    raw offsets were committed when the worker was killed."""
    broker = start_broker(name)
    eoslib.skip_unless_transactions(broker)
    truth_path = os.path.join(bclib.WORK, name + "-truth.json")
    gen(broker.bootstrap, truth_path)
    truth = json.load(open(truth_path))
    raw_end = end_offset(broker.bootstrap, "tracking.raw", 0)
    check(raw_end == truth["counts"]["raw_records"],
          "tracking.raw holds %d records, truth %d" % (raw_end, truth["counts"]["raw_records"]))

    def done(proc):
        return (proc.poll() is not None or
                committed(broker.bootstrap, "tracking.normalizer", "tracking.raw", 0) == raw_end)

    killed_at = None
    proc = start_normalizer(broker.bootstrap, name + "-normalizer.log",
                            max_batch=10 if crash else 1000)
    try:
        if crash:
            # (after the kill, OffsetFetch answers UNSTABLE_OFFSET_COMMIT until the killed
            # producer's transaction is aborted: read the position before)
            killed_at = bclib.wait_for(
                lambda: proc.poll() is None and
                max(committed(broker.bootstrap, "tracking.normalizer", "tracking.raw", 0), 0),
                60, "a first commit", interval=0.01)
            proc.kill()
            proc.wait()
            proc = start_normalizer(broker.bootstrap, name + "-normalizer.log", max_batch=10)
        started = time.monotonic()
        bclib.wait_for(lambda: done(proc), 600 if LONG else 60,
                       "the normalizer to commit every raw offset", interval=0.2)
        if LONG and not crash:
            secs = time.monotonic() - started
            print("MEASURED normalizer (%s run): %d raw records in %.1f s = %.0f records/s, one "
                  "instance, from start to the last commit" % (name, raw_end, secs,
                                                                raw_end / secs), flush=True)
        check(proc.poll() is None, "the normalizer exited %s" % proc.returncode)
        proc.terminate()
        rc = proc.wait(30)
        check(rc == 0, "the normalizer exited %d after SIGTERM" % rc)
    finally:
        if proc.poll() is None:
            proc.kill()
    normalized = read_all(broker.bootstrap, "tracking.normalized", OUT_PARTITIONS)
    dlq = read_all(broker.bootstrap, "tracking.dlq", 1)
    raw = read_all(broker.bootstrap, "tracking.raw", 1)[0]
    broker.stop()
    return truth, raw_end, normalized, dlq, killed_at, raw


def check_outputs(truth, raw_end, normalized, dlq, raw):
    counts = truth["counts"]
    schema = avro.schema.parse(open(os.path.join(ROOT, "schemas/TrackingEvent.v1.avsc")).read())
    reader = avro.io.DatumReader(schema)
    sources = collections.Counter()
    span_ids = set()
    events = 0
    for p, recs in normalized.items():
        for key, value, headers in recs:
            events += 1
            check(value[0] == 0 and int.from_bytes(value[1:5], "big") == 1, "wire header")
            ev = reader.read(avro.io.BinaryDecoder(io.BytesIO(value[5:])))
            want_key = ev["event_id"] if ev["kind"] == "EVENT" else (ev["trace_id"] or ev["event_id"])
            check(key.decode() == want_key, "key of %s" % ev["event_id"])
            check(ev["source"]["topic"] == "tracking.raw", "source topic")
            src = headers.get("bc.src", b"").decode()
            check(src.split(":")[:3] == ["tracking.raw", "0", str(ev["source"]["offset"])],
                  "bc.src %r vs source offset %d" % (src, ev["source"]["offset"]))
            sources[ev["source"]["offset"]] += 1
            if ev["kind"] == "SPAN":
                span_ids.add(ev["event_id"])
    dl_schema = avro.schema.parse(open(os.path.join(ROOT, "schemas/DeadLetter.v1.avsc")).read())
    dl_reader = avro.io.DatumReader(dl_schema)
    by_reason = collections.Counter()
    item_level = 0
    for key, value, headers in dlq[0]:
        reason = headers.get("bc.dlq.reason", b"").decode()
        by_reason[reason] += 1
        src = headers.get("bc.src", b"").decode().split(":")
        check(src[:2] == ["tracking.raw", "0"], "dead letter bc.src %r" % src)
        sources[int(src[2])] += 1
        if "bc.dlq.index" in headers:
            # A bad item of a good export: a DeadLetter record (schema id 2).
            item_level += 1
            check(value[0] == 0 and int.from_bytes(value[1:5], "big") == 2, "DeadLetter header")
            dl = dl_reader.read(avro.io.BinaryDecoder(io.BytesIO(value[5:])))
            check(dl["reason"] == reason and dl["worker"] == "tracking.normalizer",
                  "DeadLetter reason/worker")
            check(dl["source"]["offset"] == int(src[2]) and
                  dl["source"]["index"] == int(headers["bc.dlq.index"]), "DeadLetter source")
            check(isinstance(json.loads(dl["raw"]), dict), "DeadLetter raw is the item")
    # Items of good exports are dead letters of their own (bad spans, and field faults of a
    # one-span export); every other bad record is dead-lettered whole.
    want_items = 0
    for r in truth["dlq"]["records"]:
        want_items += r["scope"] == "span" or (
            r["reason"] in ("missing_field", "wrong_type", "invalid_id", "invalid_timestamp",
                            "invalid_enum") and b"resourceSpans" in raw[r["index"]][1])
    check(item_level == want_items, "item dead letters %d, expected %d" % (item_level, want_items))
    items = counts["span_copies"] + counts["log_copies"] + counts["event_copies"]
    check(events == items, "events %d, truth items %d" % (events, items))
    dl_total = sum(by_reason.values())
    check(dl_total == truth["dlq"]["total"],
          "dead letters %d, truth %d" % (dl_total, truth["dlq"]["total"]))
    want = {k: v for k, v in truth["dlq"]["by_reason"].items() if v}
    check(dict(by_reason) == want, "by reason %r, truth %r" % (dict(by_reason), want))
    missing = [o for o in range(raw_end) if sources[o] == 0]
    check(not missing, "raw offsets without output: %r" % missing[:10])
    check(span_ids == set(truth["unique_event_ids"]["span"]), "span ids differ from the truth")
    return events, dl_total, item_level


def test():
    for tool in ("breadcrumb-broker", "normalizer", "breadcrumb"):
        if not os.access(bin_path(tool), os.X_OK):
            skip("bin/%s is not built yet" % tool)
    probe = subprocess.run([bin_path("breadcrumb"), "gen", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    if probe.returncode != 0:
        skip("`breadcrumb gen` is not built yet")

    # The runs are independent (a broker, a generator and a normalizer each). The crash run
    # goes alone (its kill point is picked by polling commits, which a busy process would
    # see late), then the first and second side by side: their waits overlap.
    results = {"crash": run_once("crash", crash=True)}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = {name: pool.submit(run_once, name) for name in ("first", "second")}
        results.update((name, f.result()) for name, f in runs.items())
    truth, raw_end, normalized, dlq, _, raw = results["first"]
    events, dead, items = check_outputs(truth, raw_end, normalized, dlq, raw)

    def strip(recs):
        return [(k, v) for k, v, _ in recs]

    def same_output(run_name, outputs):
        truth2, raw_end2, normalized2, dlq2 = outputs[:4]
        check(truth2 == truth and raw_end2 == raw_end,
              "the generator's %s run differs" % run_name)
        for p in range(OUT_PARTITIONS):
            check(strip(normalized2[p]) == strip(normalized[p]),
                  "tracking.normalized[%d] differs on the %s run" % (p, run_name))
        check(strip(dlq2[0]) == strip(dlq[0]), "tracking.dlq differs on the %s run" % run_name)

    # The same input again, through a fresh broker, group and transactional id: the
    # generator is deterministic, and so must the normalizer be, byte for byte.
    same_output("second", results["second"])
    # And once more with the worker killed mid-way and restarted: exactly once, so again
    # byte-identical (aborted transactions are invisible to read_committed readers).
    crash = results["crash"]
    same_output("crash", crash)
    print("RESULT normalizer process: %d raw records -> %d events + %d dead letters (%d of "
          "them items of good exports) = truth, every offset accounted for; a second run and a run "
          "killed after %d of them were committed are byte-identical"
          % (raw_end, events, dead, items, crash[4]), flush=True)


bclib.main(test)
