"""The driver of `make bench` (tools/bench/run.sh): every worker against the raw exactly-once
copy, side by side in one run, on breadcrumb-broker, with records from `breadcrumb gen`.

Phases (README "Performance" says what each number means):
  1. chain: gen -> tracking.raw; then for each worker in pipeline order, alternated runs of
     the baseline (the runtime's pass-through stage tests/tools/stage_copy with the same
     transaction and client settings, same input topic and partitions) and of the worker
     alone on the same input (3 each in full and quick mode): medians and their spread. The
     worker's first run writes the next worker's input; its other runs are isolated with the
     runtime's --name-prefix. Rates are input records/s between the
     first processed record and the last committed one (start-up excluded), read from the
     process's own /metrics; CPU from /proc/PID/stat, peak RSS from VmHWM.
  2. pipeline: a fresh broker, gen -> tracking.raw, the six workers started together: raw
     spans/s end to end; then records fed at a steady rate with wall-clock timestamps, and
     sink latency = the time a sink record is read minus its timestamp (the raw record's:
     the runtime carries input timestamps to outputs).
  3. memory: the tail-sampler buffering replicated enriched traces (nothing decided), and the
     deduplicator remembering replicated normalized records (distinct event ids), then
     restarted to time the restore of its store.
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import yaml
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

import bclib
import eoslib

ROOT = os.environ["BC_ROOT"]
BIN = os.environ["BC_BIN"]
TEST_BIN = os.environ["BC_TEST_BIN"]

SIZES = {
    # chain/pipeline: raw records from gen; latency: seconds of steady feed;
    # sampler: buffered spans measured at each count; dedup: remembered keys.
    "full": {"chain": 100000, "chain_rounds": 3, "pipeline": 20000, "latency_s": 30, "latency_records": 20000,
             "sampler": [100000, 1000000], "dedup": 1000000,
             "broker_records": 1000000, "avro_iterations": 500000, "router_iterations": 1000000},
    "quick": {"chain": 6000, "chain_rounds": 3, "pipeline": 4000, "latency_s": 10, "latency_records": 4000,
              "sampler": [20000, 100000], "dedup": 100000,
              "broker_records": 200000, "avro_iterations": 50000, "router_iterations": 100000},
    # The integration test's end-to-end run (tests/integration/1700-bench-smoke.py): every
    # phase and every number of the JSON, sizes too small to mean anything.
    "smoke": {"chain": 600, "chain_rounds": 1, "pipeline": 600, "latency_s": 2, "latency_records": 600,
              "sampler": [3000], "dedup": 5000,
              "broker_records": 20000, "avro_iterations": 2000, "router_iterations": 2000},
}

WORKERS = ["normalizer", "deduplicator", "enricher", "tail-sampler", "router",
           "lineage-builder"]


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# ---- processes and their numbers ---------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    """The process's /metrics as {name: [(labels dict, value)]}, or None when not serving."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if m is None:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return out


def metric(m, name, **labels):
    """Sum of the series of `name` whose labels include `labels`."""
    total = 0.0
    for lb, v in (m or {}).get(name, []):
        if all(lb.get(k) == want for k, want in labels.items()):
            total += v
    return total


def proc_numbers(pid):
    """(CPU seconds, peak RSS bytes, current RSS bytes) of a live process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return cpu, hwm, rss


class Proc:
    """A worker or stage process serving /metrics on its own port."""

    def __init__(self, name, cmd, work):
        self.name, self.cmd = name, cmd
        self.port = free_port()
        self.log_path = os.path.join(work, name + ".log")
        self.proc = None

    def start(self):
        env = dict(os.environ, BREADCRUMB_METRICS_PORT=str(self.port))
        env.setdefault("BREADCRUMB_PII_KEY", "bench-only-hmac-key-0123456789abcdef")
        # The log is appended to across phases: this run's lines start here.
        self.log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        log_f = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=log_f, stderr=log_f, env=env)
        log_f.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def scrape(self):
        if not self.alive():
            bclib.fail("%s exited %s; log tail:\n%s" % (self.name, self.proc.returncode,
                                                         self.log_tail()))
        return scrape(self.port)

    def wait_ready(self, timeout=120):
        bclib.wait_for(lambda: metric(self.scrape(), "breadcrumb_ready") == 1, timeout,
                       "%s to be ready" % self.name, interval=0.05)

    def numbers(self):
        return proc_numbers(self.proc.pid)

    def stop(self, timeout=120):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n=3000):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-n:]


_procs = []


def _kill_all():
    for p in _procs:
        if p.alive():
            p.proc.kill()


def worker_proc(name, topology, bootstrap, work, instance="0", prefix=None):
    """prefix: the runtime's --name-prefix (group, transactional.id, changelogs and every
    output topic prefixed): a repeated measurement on the same input, isolated from the
    first run, whose outputs feed the next worker."""
    exe = os.path.join(BIN, name)
    cmd = [exe, "--config", topology, "--worker", name, "--instance", instance,
           "--brokers", bootstrap]
    if prefix:
        cmd += ["--name-prefix", prefix]
    p = Proc("%s%s-%s" % (prefix or "", name, instance), cmd, work)
    _procs.append(p)
    return p


def copy_proc(label, inputs, output, topology_doc, bootstrap, work):
    """The baseline: the runtime's pass-through stage with the worker's settings (the
    topology's defaults for commit_interval_ms and max_batch, its kafka.client properties)."""
    cmd = [os.path.join(TEST_BIN, "stage_copy"), "--brokers", bootstrap,
           "--pipeline", "bench", "--worker", "copy-" + label, "--instance", "0",
           "--output", "out=" + output, "--commit-interval-ms", "100", "--max-batch", "1000",
           "--schemas", os.path.join(ROOT, "schemas")]
    for t in inputs:
        cmd += ["--input", t]
    for k, v in (topology_doc["kafka"].get("client") or {}).items():
        cmd += ["--kafka", "%s=%s" % (k, v)]
    p = Proc("copy-" + label, cmd, work)
    _procs.append(p)
    return p


def count_records(bootstrap, topics):
    """Records visible read_committed in `topics` (every partition read to its end)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-count",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "enable.partition.eof": True, "fetch.wait.max.ms": 10})
    try:
        md = c.list_topics(timeout=20)
        tps = []
        for t in topics:
            for p in md.topics[t].partitions:
                tps.append(TopicPartition(t, p, 0))
        c.assign(tps)
        pending = {(tp.topic, tp.partition) for tp in tps}
        n = 0
        deadline = time.monotonic() + 300
        while pending:
            if time.monotonic() > deadline:
                bclib.fail("counting %s: no end after 300 s" % topics)
            for m in c.consume(num_messages=10000, timeout=0.5):
                if m.error() is None:
                    n += 1
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard((m.topic(), m.partition()))
        return n
    finally:
        c.close()


def read_all(bootstrap, topic):
    """Every record of topic, read_committed, as (key, value) bytes."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-read",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "enable.partition.eof": True, "fetch.wait.max.ms": 10})
    try:
        md = c.list_topics(topic, timeout=20)
        tps = [TopicPartition(topic, p, 0) for p in md.topics[topic].partitions]
        c.assign(tps)
        pending = {tp.partition for tp in tps}
        out = []
        while pending:
            for m in c.consume(num_messages=10000, timeout=0.5):
                if m.error() is None:
                    out.append((m.key(), m.value()))
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
        return out
    finally:
        c.close()


def produce_all(bootstrap, topic, records):
    """eoslib.produce with a deep client queue; returns the value bytes."""
    return eoslib.produce(bootstrap, topic, records,
                          props={"queue.buffering.max.messages": 500000}, timeout=120)


def duration_s(text):
    """Seconds of a topology duration ("500ms", "20s", "10m", "1h")."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", str(text).strip())
    bclib.check(m is not None, "not a duration: %r" % text)
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def sim_start(hours_ago):
    """A simulated start `hours_ago` before now: records must be younger than the topics'
    retention (7 days for tracking.raw) or the broker deletes them while they are read."""
    return time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(time.time() - hours_ago * 3600))


def gen(bootstrap, records, truth, extra=()):
    p = subprocess.run([os.path.join(BIN, "breadcrumb"), "gen", "--brokers", bootstrap,
                        "--records", str(records), "--truth", truth, "--quiet",
                        "--start", sim_start(3)] + list(extra),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
    bclib.check(p.returncode == 0, "breadcrumb gen: %s" % p.stderr[-1000:])
    with open(truth) as f:
        return json.load(f)


def start_broker(work, name):
    d = os.path.join(work, name + "-data")
    shutil.rmtree(d, ignore_errors=True)
    b = bclib.Broker(name=name, data_dir=d)
    b.start()
    return b


def topics_create(topology, bootstrap):
    p = subprocess.run([os.path.join(BIN, "breadcrumb"), "topics", "create", topology,
                        "--brokers", bootstrap], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    bclib.check(p.returncode == 0, "breadcrumb topics create: %s" % p.stdout[-2000:])


def write_topology(doc, path):
    with open(path, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    return path


def bench_topology(work):
    """The default topology with one replica per worker (the bench measures one instance)
    and the tail-sampler's idle_timeout at 2 s (only the end of a finite input waits for
    it). Schema and catalog paths made absolute."""
    with open(os.path.join(ROOT, "config", "topology.yaml")) as f:
        text = f.read()
    doc = yaml.safe_load(text)
    doc["kafka"]["brokers"] = "embedded"
    doc["kafka"]["profile"] = "default"
    doc["schemas"] = {"registry": "file", "dir": os.path.join(ROOT, "schemas")}
    doc["log"] = {"format": "logfmt", "level": "info"}
    for name, w in doc["workers"].items():
        w["replicas"] = 1
        w.pop("metrics_port", None)
        opts = w.get("options") or {}
        if "catalog" in opts:
            opts["catalog"] = os.path.join(ROOT, opts["catalog"])
    doc["workers"]["tail-sampler"]["options"]["idle_timeout"] = "2s"
    doc["topics"]["bench.copy"] = {"partitions": 6, "retention": "1d",
                                   "configs": {"max.message.bytes": "4194304"}}
    return doc


# ---- measuring one process ---------------------------------------------------------------

def measure(proc, expected, timeout=900, settle=None):
    """Starts proc and waits until its committed input count reaches expected() (a function
    of its metrics). Returns the numbers; settle(metrics) (optional) must then hold before
    the process is stopped (e.g. the tail-sampler's idle decisions)."""
    proc.start()
    t_start = p0 = None
    deadline = time.monotonic() + timeout
    while True:
        m = proc.scrape()
        now = time.monotonic()
        if m is not None:
            processed = metric(m, "breadcrumb_records_processed_total")
            if t_start is None and processed > 0:
                t_start, p0 = now, processed
            target = expected(m)
            if t_start is not None and metric(m, "breadcrumb_records_in_total") >= target:
                t_end = now
                break
        if now > deadline:
            bclib.fail("%s: not done within %d s (metrics: in=%s)" % (
                proc.name, timeout, metric(m, "breadcrumb_records_in_total")))
        time.sleep(0.05)
    cpu, hwm, _rss = proc.numbers()
    final = m
    if settle is not None:
        bclib.wait_for(lambda: settle(proc.scrape()), 300, "%s to settle" % proc.name,
                       interval=0.2)
        final = proc.scrape()
    proc.stop()
    elapsed = max(t_end - t_start, 1e-3)
    n = target
    return {
        "records": int(n),
        "seconds": round(elapsed, 3),
        "records_per_s": round(max(n - p0, 1) / elapsed, 1),
        # The share of the input processed after the first scrape saw processing start: a
        # small input is mostly processed before it, and its rate means nothing.
        "observed_fraction": round(max(n - p0, 0) / max(n, 1), 3),
        "cpu_s": round(cpu, 3),
        "cpu_s_per_million": round(cpu / max(n, 1) * 1e6, 2),
        "peak_rss_mib": round(hwm / 1048576, 1),
        "aborted": int(metric(final, "breadcrumb_transactions_aborted_total")),
        # Where the wall clock went besides processing: the commits (flush + EndTxn).
        "transactions": int(metric(final, "breadcrumb_transactions_committed_total")),
        "commit_s": round(metric(final, "breadcrumb_commit_latency_seconds_sum"), 3),
    }


def lag_zero(m):
    return m is not None and m.get("breadcrumb_consumer_lag_records") is not None and \
        metric(m, "breadcrumb_consumer_lag_records") == 0


# ---- phase 1: each worker against the baseline -------------------------------------------

def median_run(runs):
    """The run with the median records/s (of an odd number; the lower middle otherwise),
    with the spread of the runs added."""
    order = sorted(runs, key=lambda x: x["records_per_s"])
    med = dict(order[(len(order) - 1) // 2])
    med["records_per_s_min"] = order[0]["records_per_s"]
    med["records_per_s_max"] = order[-1]["records_per_s"]
    med["seconds_total"] = round(sum(x["seconds"] for x in runs), 3)
    return med


def prefixed_topology(doc, prefix, work):
    """A topology declaring a copy of every topic under `prefix` (and its pipeline prefixed,
    for the changelogs): `breadcrumb topics create` on it makes the topics a worker run with
    --name-prefix writes."""
    d = json.loads(json.dumps(doc))
    d["pipeline"] = prefix + doc["pipeline"]
    for t, spec in doc["topics"].items():
        d["topics"][prefix + t] = spec
    return write_topology(d, os.path.join(work, "chain-%stopics.yaml" % prefix))


def records_expected(name, n_in, prefix=""):
    """The input records a worker run has processed when done, from its metrics: n_in, and
    for the lineage-builder also what it wrote to its own repartition topic (read back)."""
    if name == "lineage-builder":
        return lambda m: n_in + metric(m, "breadcrumb_records_out_total",
                                       topic=prefix + "tracking.lineage.repartition")
    return lambda _m: n_in


def settle_of(name):
    """The tail-sampler is done once its lag is 0 (idle decisions of the last traces)."""
    return lag_zero if name == "tail-sampler" else None


def phase_chain(work, size, rounds, only=None):
    """only: the workers to measure (None: all); the others still run, unmeasured against
    a baseline, to make the measured ones' input."""
    broker = start_broker(work, "chain")
    bootstrap = broker.bootstrap
    doc = bench_topology(work)
    topology = write_topology(doc, os.path.join(work, "chain.yaml"))
    topics_create(topology, bootstrap)
    log("chain: generating %d raw records" % size)
    truth = gen(bootstrap, size, os.path.join(work, "chain-truth.json"))
    results = []
    for name in WORKERS:
        if only is not None and not only & set(WORKERS[WORKERS.index(name):]):
            break  # nothing measured downstream
        w = doc["workers"][name]
        inputs = w["input"] if isinstance(w["input"], list) else [w["input"]]
        n_in = count_records(bootstrap, inputs)
        if only is not None and name not in only:
            log("chain: %s (%d records): run to make the next input, not measured" % (name, n_in))
            measure(worker_proc(name, topology, bootstrap, work), records_expected(name, n_in),
                    settle=settle_of(name))
            continue
        label = ",".join(inputs) if len(inputs) < 3 else "its %d inputs" % len(inputs)
        bases, wks = [], []
        for r in range(rounds):
            # Alternated copy, worker, copy, worker...: the machine's load drifts; medians of
            # runs spread over the same minutes even that out.
            log("chain: %s on %s (%d records): baseline, run %d of %d" % (name, label, n_in, r + 1,
                                                                          rounds))
            bases.append(measure(copy_proc("%s-%d" % (name, r), inputs, "bench.copy", doc,
                                           bootstrap, work), lambda m: n_in))
            # The first run writes the real outputs (the next worker's input); the others
            # run isolated under a name prefix, on the same input.
            prefix = "r%d-" % r if r > 0 else ""
            if prefix:
                topics_create(prefixed_topology(doc, prefix, work), bootstrap)
            log("chain: %s: worker, run %d of %d" % (name, r + 1, rounds))
            wks.append(measure(worker_proc(name, topology, bootstrap, work, prefix=prefix),
                               records_expected(name, n_in, prefix), settle=settle_of(name)))
            log("chain: %s run %d: %.0f rec/s, baseline %.0f rec/s" % (
                name, r + 1, wks[-1]["records_per_s"], bases[-1]["records_per_s"]))
        base, wk = median_run(bases), median_run(wks)
        ratio = wk["records_per_s"] / base["records_per_s"] if base["records_per_s"] else 0
        ratios = [w["records_per_s"] / b["records_per_s"] for w, b in zip(wks, bases)
                  if b["records_per_s"]]
        results.append({"worker": name, "input": inputs, "input_records": n_in,
                        "runs": rounds, "baseline": base, "worker_numbers": wk,
                        "ratio": round(ratio, 3),
                        # per alternated pair (worker run i / copy run i)
                        "ratio_min": round(min(ratios), 3) if ratios else 0,
                        "ratio_max": round(max(ratios), 3) if ratios else 0,
                        "baseline_runs": bases, "worker_runs": wks,
                        "too_small": any(x["observed_fraction"] < 0.5 for x in bases + wks)})
        log("chain: %s median %.0f rec/s, baseline median %.0f rec/s, ratio %.2f (%.2f-%.2f)" % (
            name, wk["records_per_s"], base["records_per_s"], ratio,
            results[-1]["ratio_min"], results[-1]["ratio_max"]))
    broker.kill()
    shutil.rmtree(broker.data_dir, ignore_errors=True)
    return {"raw_records": truth["counts"]["raw_records"], "workers": results}


# ---- phase 2: the whole pipeline ---------------------------------------------------------

def pipeline_counts(ms):
    return {w: (metric(m, "breadcrumb_records_in_total"), m) for w, m in ms.items()}


def pipeline_done(ms, n_raw):
    """Every stage of the chain has committed all of its upstream's output (the
    tail-sampler's last traces may still wait for their idle decision)."""
    def out(w, topic):
        return metric(ms[w], "breadcrumb_records_out_total", topic=topic)

    def inn(w):
        return metric(ms[w], "breadcrumb_records_in_total")
    return (inn("normalizer") >= n_raw and
            inn("deduplicator") >= out("normalizer", "tracking.normalized") and
            inn("enricher") >= out("deduplicator", "tracking.unique") and
            inn("tail-sampler") >= out("enricher", "tracking.enriched") and
            inn("router") >= out("tail-sampler", "tracking.sampled"))


class SinkLatency(threading.Thread):
    """Reads the sinks read_committed; latency of each record stamped at or after since_ms."""

    def __init__(self, bootstrap, topics, since_ms):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-latency",
                           "isolation.level": "read_committed", "enable.auto.commit": False,
                           "fetch.wait.max.ms": 10, "auto.offset.reset": "latest"})
        md = self.c.list_topics(timeout=20)
        self.c.assign([TopicPartition(t, p, -1) for t in topics for p in md.topics[t].partitions])
        self.since_ms = since_ms
        self.until_ms = None  # records stamped at or after it: the cool-down, not measured
        self.latencies = []
        self.last_ms = 0
        self.stop_flag = False

    def run(self):
        while not self.stop_flag:
            for m in self.c.consume(num_messages=1000, timeout=0.1):
                if m.error() is not None:
                    continue
                now = time.time() * 1000
                _typ, ts = m.timestamp()
                until = self.until_ms
                if ts >= self.since_ms and (until is None or ts < until):
                    self.latencies.append(now - ts)
                    self.last_ms = now
        self.c.close()


def pctl(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def phase_pipeline(work, size, latency_s, latency_records):
    broker = start_broker(work, "pipeline")
    bootstrap = broker.bootstrap
    doc = bench_topology(work)
    topology = write_topology(doc, os.path.join(work, "pipeline.yaml"))
    topics_create(topology, bootstrap)
    log("pipeline: generating %d raw records" % size)
    truth = gen(bootstrap, size, os.path.join(work, "pipeline-truth.json"))
    n_raw = truth["counts"]["raw_records"]
    spans = truth["counts"]["span_copies"]
    procs = {w: worker_proc(w, topology, bootstrap, work).start() for w in WORKERS}
    for p in procs.values():
        p.wait_ready()
    log("pipeline: six workers ready, measuring")
    t_start = None
    deadline = time.monotonic() + 1800
    while True:
        ms = {w: p.scrape() for w, p in procs.items()}
        now = time.monotonic()
        if t_start is None and metric(ms["normalizer"], "breadcrumb_records_processed_total") > 0:
            t_start = now
        if t_start is not None and all(m is not None for m in ms.values()) and \
                pipeline_done(ms, n_raw):
            t_end = now
            break
        bclib.check(now < deadline, "pipeline: not done within 1800 s (%s)" % {
            w: metric(m, "breadcrumb_records_in_total") for w, m in ms.items()})
        time.sleep(0.1)
    elapsed = max(t_end - t_start, 1e-3)
    cpu = {w: round(p.numbers()[0], 2) for w, p in procs.items()}
    rss = {w: round(p.numbers()[1] / 1048576, 1) for w, p in procs.items()}
    lineage_lag = metric(ms["lineage-builder"], "breadcrumb_consumer_lag_records")
    result = {"raw_records": n_raw, "raw_spans": spans, "seconds": round(elapsed, 2),
              "raw_records_per_s": round(n_raw / elapsed, 1),
              "raw_spans_per_s": round(spans / elapsed, 1),
              "cpu_s": cpu, "peak_rss_mib": rss,
              "lineage_builder_lag_at_end": int(lineage_lag)}
    log("pipeline: %d raw records (%d spans) in %.1f s: %.0f spans/s" % (
        n_raw, spans, elapsed, spans / elapsed))
    # Templates for phase 3, before the feed below adds records of another simulated day.
    keep = read_samples(bootstrap)

    # Latency: a steady feed with wall-clock timestamps, at about half the measured rate.
    # The tail-sampler decides a trace once event time passes its last span by decision_wait
    # + allowed_lateness; the generator's event time runs `speed` times faster than this feed's
    # wall clock. Records fed during the first latency_s are measured; the feed then goes on
    # (cool-down) until event time has passed their window, so they are decided as in a
    # steady stream, not by the idle clock of a stream that stopped (which advances event
    # time at wall-clock speed: up to the whole window, ~50 s, for the last traces).
    opts = doc["workers"]["tail-sampler"]["options"]
    window_s = (duration_s(opts["decision_wait"]) + duration_s(opts.get("allowed_lateness", "0s")))
    feed_dir = os.path.join(work, "feed")
    shutil.rmtree(feed_dir, ignore_errors=True)
    p = subprocess.run([os.path.join(BIN, "breadcrumb"), "gen", "--out-dir", feed_dir,
                        "--records", str(3 * latency_records), "--seed", "7", "--quiet",
                        # after the throughput part's simulated time (hours, not minutes)
                        "--start", sim_start(1)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    bclib.check(p.returncode == 0, "breadcrumb gen --out-dir: %s" % p.stderr[-1000:])
    with open(os.path.join(feed_dir, "truth.json")) as f:
        feed_truth = json.load(f)
    sim_s = feed_truth["counts"]["traces"] * feed_truth["options"]["trace_interval_ms"] / 1000.0
    deploys = []
    with open(os.path.join(feed_dir, "tracking.deploys.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            deploys.append((r["key"], r["value"].encode()))
    produce_all(bootstrap, "tracking.deploys", deploys)
    raw = []
    with open(os.path.join(feed_dir, "tracking.raw.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            v = r["value"].encode() if "value" in r else __import__("base64").b64decode(r["value_b64"])
            raw.append((r["key"].encode() if r.get("key") else None, v))
    rate = max(50.0, min(n_raw / elapsed * 0.5, latency_records / latency_s))
    speed = rate / (len(raw) / sim_s)          # event seconds per wall second
    window_wall_s = window_s / speed
    cooldown_s = 1.5 * window_wall_s + 3
    since_ms = int(time.time() * 1000)
    sinks = [t for t in doc["topics"] if t.startswith("sink.")]
    reader = SinkLatency(bootstrap, sinks, since_ms)
    reader.start()
    prod = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                     "linger.ms": 5, "message.max.bytes": 4194304})
    t0 = time.monotonic()
    fed = 0
    until_ms = None
    for i, (k, v) in enumerate(raw):
        el = time.monotonic() - t0
        if el > latency_s and until_ms is None:
            until_ms = int(time.time() * 1000)  # records stamped from here on are not measured
            reader.until_ms = until_ms
            fed_s = el
        if el > latency_s + cooldown_s:
            break
        wait = t0 + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        while True:
            try:
                prod.produce("tracking.raw", key=k, value=v,
                             timestamp=int(time.time() * 1000))
                break
            except BufferError:
                prod.poll(0.01)
        prod.poll(0)
        if until_ms is None:
            fed += 1
    cooled_s = time.monotonic() - t0 - latency_s
    if until_ms is None:  # out of records before the window ended (a slow machine's rate floor)
        fed_s = time.monotonic() - t0
        until_ms = reader.until_ms = int(time.time() * 1000)
        cooled_s = 0.0
    if cooled_s < window_wall_s:
        log("pipeline: latency feed ran out of records %.1f s into its %.1f s cool-down: the "
            "last measured traces were decided by the idle clock" % (cooled_s, cooldown_s))
    prod.flush(60)
    del prod  # no reconnect attempts once the broker is gone
    # Drained: no new measured sink record for 4 s after the feed.
    quiet_ms = 3000 if latency_s < 5 else 4000
    bclib.wait_for(lambda: reader.latencies and time.time() * 1000 - reader.last_ms > quiet_ms,
                   300, "the sinks to drain", interval=0.2)
    reader.stop_flag = True
    reader.join(10)
    lat = reader.latencies
    result["latency"] = {
        "feed_records": fed, "feed_records_per_s": round(fed / fed_s, 1),
        "cooldown_s": round(max(cooled_s, 0.0), 1),
        "event_time_speed": round(speed, 2),
        "decision_window_event_s": window_s,
        "decision_window_wall_s": round(window_wall_s, 2),
        "sink_records": len(lat),
        "p50_ms": round(pctl(lat, 0.50), 1) if lat else None,
        "p99_ms": round(pctl(lat, 0.99), 1) if lat else None,
        "max_ms": round(max(lat), 1) if lat else None,
    }
    log("pipeline: latency raw -> sink p50 %s ms, p99 %s ms over %d sink records (decision "
        "window %.0f s of event time = %.1f s of this feed)" % (
            result["latency"]["p50_ms"], result["latency"]["p99_ms"], len(lat), window_s,
            window_wall_s))
    for p in procs.values():
        p.stop()
    broker.kill()
    shutil.rmtree(broker.data_dir, ignore_errors=True)
    return result, keep


def read_samples(bootstrap):
    """Templates for phase 3: enriched span records (by trace) and normalized records."""
    enriched = [(k, v) for k, v in read_all(bootstrap, "tracking.enriched")
                if k is not None and len(v) > 40 and v[38] == 0]  # kind SPAN = enum 0
    normalized = [(k, v) for k, v in read_all(bootstrap, "tracking.normalized")
                  if len(v) > 40 and v[5] == 64]  # event_id: a 32-char string
    return {"spans": enriched, "events": normalized}


# ---- phase 3: memory of the stateful workers ---------------------------------------------

def replicate_spans(spans, n):
    """n span records: the template's traces again and again under fresh trace ids (the
    first 8 hex digits of the trace id replaced by the copy number)."""
    out = []
    c = 0
    while len(out) < n:
        c += 1
        prefix = ("%08x" % c).encode()
        for k, v in spans:
            nk = prefix + k[8:]
            out.append((nk, v.replace(k, nk)))
            if len(out) == n:
                break
    return out


def replicate_events(events, n):
    """n normalized records with distinct event ids (bytes 6..38 of the value)."""
    out = []
    i = 0
    while len(out) < n:
        for k, v in events:
            i += 1
            eid = ("%032x" % (0xbe00000000000000000000000000000 + i)).encode()
            out.append((k, v[:6] + eid + v[38:]))
            if len(out) == n:
                break
    return out


def mem_topology(work, worker, options, inputs, outputs, client):
    doc = bench_topology(work)
    doc["pipeline"] = "benchmem"
    doc["kafka"]["client"].update(client)
    doc["topics"] = {t: {"partitions": 6, "retention": "1d"} for t in inputs + outputs}
    doc["topics"]["benchmem.fates"] = {"partitions": 6, "retention": "1d"}
    doc["topics"]["benchmem.dlq"] = {"partitions": 1, "retention": "1d"}
    w = dict(doc["workers"][worker])
    w["input"] = inputs[0]
    w["outputs"] = dict(zip(w["outputs"].keys(), outputs))
    w["options"].update(options)
    doc["workers"] = {worker: w}
    return write_topology(doc, os.path.join(work, "mem-%s.yaml" % worker))


def stats_line(proc, spans, timeout=30):
    """The process's latest tail-sampler stats log line with at least `spans` spans, as a
    dict."""
    def find():
        with open(proc.log_path, "rb") as f:
            f.seek(proc.log_start)  # this process's lines only, not an earlier phase's
            lines = [ln.decode(errors="replace") for ln in f if b"tail-sampler st" in ln]
        for ln in reversed(lines):
            kv = dict(re.findall(r'(\w+)=(\d+)', ln))
            if int(kv.get("spans", 0)) >= spans:
                return kv
        return None
    return bclib.wait_for(find, timeout, "a tail-sampler stats line", interval=0.2)


def phase_memory(work, sizes, dedup_keys, samples):
    broker = start_broker(work, "memory")
    bootstrap = broker.bootstrap
    result = {}

    # Tail-sampler: nothing decided (windows far beyond the data), librdkafka queues capped.
    topo = mem_topology(work, "tail-sampler",
                        {"decision_wait": "10m", "allowed_lateness": "1h", "idle_timeout": "1h",
                         "max_buffer_bytes": "16GiB"},
                        ["benchmem.spans"], ["benchmem.sampled", "benchmem.cold"],
                        {"queued.max.messages.kbytes": 1024})
    topics_create(topo, bootstrap)
    spans = replicate_spans(samples["spans"], sizes[-1])
    sampler = worker_proc("tail-sampler", topo, bootstrap, work).start()
    sampler.wait_ready()
    time.sleep(1)  # nothing to wait for: a settled idle process for the RSS reference
    _cpu, _hwm, rss0 = sampler.numbers()
    points = []
    done = 0
    value_bytes = 0
    for target in sizes:
        log("memory: tail-sampler buffering %d spans" % target)
        value_bytes += produce_all(bootstrap, "benchmem.spans", spans[done:target])
        done = target
        bclib.wait_for(lambda: metric(sampler.scrape(), "breadcrumb_records_processed_total")
                       >= target, 600, "the tail-sampler to buffer %d spans" % target,
                       interval=0.2)
        _cpu, _hwm, rss = sampler.numbers()
        if target == sizes[-1]:
            # The last point: the line it logs when stopped has the peak, which is the
            # buffer now (nothing was decided); no wait for the next 10 s stats line.
            sampler.stop()
            logical = int(stats_line(sampler, target)["buffered_bytes_peak"])
        else:
            logical = int(stats_line(sampler, target)["buffered_bytes"])
        points.append({
            "buffered_spans": target,
            "avg_span_bytes": round(value_bytes / target, 1),
            "logical_bytes_per_span": round(logical / target, 1),
            "logical_overhead_per_span": round((logical - value_bytes) / target, 1),
            "rss_bytes_per_span": round((rss - rss0) / target, 1),
            "rss_overhead_per_span": round((rss - rss0 - value_bytes) / target, 1),
            "rss_mib": round(rss / 1048576, 1),
        })
        log("memory: %d spans: logical overhead %.1f B/span, RSS overhead %.1f B/span" % (
            target, points[-1]["logical_overhead_per_span"], points[-1]["rss_overhead_per_span"]))
    result["tail_sampler"] = points
    del spans

    # Deduplicator: distinct keys remembered, then a restart restores them. Fetch queue at
    # 16 MiB as in earlier runs: RSS per key is meant to count the store, not prefetched input.
    topo = mem_topology(work, "deduplicator", {"max_bytes": "4GiB", "window": "20m"},
                        ["benchmem.events"], ["benchmem.unique"],
                        {"queued.max.messages.kbytes": 16384})
    topics_create(topo, bootstrap)
    events = replicate_events(samples["events"], dedup_keys)
    log("memory: deduplicator remembering %d keys" % dedup_keys)
    produce_all(bootstrap, "benchmem.events", events)
    del events
    dd = worker_proc("deduplicator", topo, bootstrap, work)
    numbers = measure(dd, lambda m: dedup_keys)
    # measure() stopped it after the last commit; its stores' sizes come from a restart,
    # which is also the restore being timed.
    dd2 = worker_proc("deduplicator", topo, bootstrap, work, instance="0")
    t0 = time.monotonic()
    dd2.start()
    dd2.wait_ready(timeout=900)
    restore_wall = time.monotonic() - t0
    m = dd2.scrape()
    _cpu, _hwm, rss = dd2.numbers()
    entries = metric(m, "breadcrumb_store_entries")
    nbytes = metric(m, "breadcrumb_store_bytes")
    dd2.stop()
    result["deduplicator"] = {
        "keys": dedup_keys, "records_per_s": numbers["records_per_s"],
        "store_entries": int(entries),
        "logical_bytes_per_key": round(nbytes / entries, 1) if entries else None,
        "rss_bytes_per_key": round(rss / entries, 1) if entries else None,
        "restore_seconds": round(metric(m, "breadcrumb_store_restore_seconds"), 2),
        "restored_records": int(metric(m, "breadcrumb_store_restored_records_total")),
        "start_to_ready_seconds": round(restore_wall, 2),
    }
    log("memory: deduplicator %d keys: %s B/key logical, restore %.2f s" % (
        entries, result["deduplicator"]["logical_bytes_per_key"],
        result["deduplicator"]["restore_seconds"]))
    broker.kill()
    shutil.rmtree(broker.data_dir, ignore_errors=True)
    return result


# ---- phase 4: components without Kafka transactions --------------------------------------

def run_tool(args, timeout=900):
    p = subprocess.run([os.path.join(TEST_BIN, args[0])] + [str(a) for a in args[1:]],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    bclib.check(p.returncode == 0, "%s exited %d: %s" % (args[0], p.returncode, p.stderr[-2000:]))
    return p.stdout


def numbers_after(text, label):
    """The numbers of the first line containing label, in order."""
    for line in text.splitlines():
        if label in line:
            return [float(x) for x in re.findall(r'(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])',
                                                  line.split(label, 1)[1])]
    bclib.fail("no line with %r in:\n%s" % (label, text))


def phase_components(work, size):
    """The broker against librdkafka's in-process mock cluster (100-byte records, idempotent,
    acks=all; tests/tools/broker_bench.c, which fails unless every record is delivered), and
    the Avro codec and the router's rules alone (avro_bench.c, router_bench.c)."""
    n = size["broker_records"]
    broker = bclib.Broker(name="components", args=["--topic", "bench:24"],
                          data_dir=os.path.join(work, "components-data"))
    broker.start()
    out = {}

    def rates(text):
        m = re.search(r'produce_msgs_s=(\d+) consume_msgs_s=(\d+)', text)
        bclib.check(m is not None, "broker_bench output: %s" % text)
        return {"produce_msgs_s": int(m.group(1)), "consume_msgs_s": int(m.group(2))}
    log("components: broker_bench, %d records, mock and breadcrumb-broker" % n)
    mock = rates(run_tool(["broker_bench", "--brokers", "mock", "--topic", "bench", "--records",
                           n, "--partitions", 24]))
    real = rates(run_tool(["broker_bench", "--brokers", broker.bootstrap, "--topic", "bench",
                           "--records", n, "--partitions", 24]))
    cpu = proc_numbers(broker.proc.pid)[0]
    broker.kill()
    shutil.rmtree(broker.data_dir, ignore_errors=True)
    out["broker"] = {"records": n, "record_bytes": 100, "breadcrumb_broker": real,
                     "librdkafka_mock": mock,
                     "produce_ratio": round(real["produce_msgs_s"] / max(mock["produce_msgs_s"], 1), 3),
                     "consume_ratio": round(real["consume_msgs_s"] / max(mock["consume_msgs_s"], 1), 3),
                     "broker_cpu_ns_per_record": round(cpu * 1e9 / (2 * n), 1)}
    log("components: avro_bench, router_bench")
    text = run_tool(["avro_bench", os.path.join(ROOT, "schemas"), size["avro_iterations"]])
    enc, dec = numbers_after(text, "bc_avro encode")[:2]
    wr, rd = numbers_after(text, "avro-c avro_value_write")[:2]
    out["avro"] = {"iterations": size["avro_iterations"], "bc_avro_encode_per_s": enc,
                   "bc_avro_decode_per_s": dec, "avro_c_write_per_s": wr, "avro_c_read_per_s": rd}
    text = run_tool(["router_bench", os.path.join(ROOT, "config", "topology.yaml"), "router",
                     size["router_iterations"]])
    routed = numbers_after(text, "router rules of")
    full = numbers_after(text, "decode + route + encode (Avro sinks):")
    out["router_rules"] = {"iterations": size["router_iterations"],
                           "routed_per_s": [x for x in routed if x > 100][0],
                           "decode_route_encode_per_s": full[0]}
    return out


# ---- output --------------------------------------------------------------------------------

def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    load = os.getloadavg()

    def git(*a):
        p = subprocess.run(["git"] + list(a), cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        return p.stdout.strip()
    return {"cores": os.cpu_count(), "cpu_model": model, "memory_mib": mem,
            "kernel": platform.release(), "load_avg_at_start": [round(x, 2) for x in load],
            "git_commit": git("rev-parse", "HEAD"),
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def table(res):
    lines = []
    if "chain" not in res:
        return table_rest(res, lines)
    lines.append("| worker | input records | records/s | baseline records/s | ratio | "
                 "CPU s / M records | peak RSS MiB |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for w in res["chain"]["workers"]:
        n, b = w["worker_numbers"], w["baseline"]
        runs = w.get("runs", 1)

        def rate(x):
            if runs < 2:
                return "%.0f" % x["records_per_s"]
            return "%.0f (%.0f-%.0f)" % (x["records_per_s"], x["records_per_s_min"],
                                         x["records_per_s_max"])
        ratio = "%.2f" % w["ratio"]
        if runs > 1:
            ratio += " (%.2f-%.2f, %d runs)" % (w["ratio_min"], w["ratio_max"], runs)
        if w.get("too_small"):
            ratio += " (input too small to mean anything)"
        lines.append("| %s | %d | %s | %s | %s | %.1f (baseline %.1f) | %.0f (baseline %.0f) |"
                     % (w["worker"], w["input_records"], rate(n), rate(b), ratio,
                        n["cpu_s_per_million"], b["cpu_s_per_million"],
                        n["peak_rss_mib"], b["peak_rss_mib"]))
    if any(w.get("runs", 1) > 1 for w in res["chain"]["workers"]):
        lines.append("")
        lines.append("records/s and ratio: median of the alternated runs (min-max of the runs; "
                     "the ratio's range is over pairs run i / copy run i); CPU and RSS of the "
                     "median runs.")
    return table_rest(res, lines)


def table_rest(res, lines):
    if "pipeline" in res:
        table_pipeline(res, lines)
    if "memory" in res:
        table_memory(res, lines)
    if "components" in res:
        table_components(res, lines)
    return "\n".join(lines)


def table_pipeline(res, lines):
    p = res["pipeline"]
    lat = p["latency"]
    lines.append("")
    lines.append("Pipeline (six workers, one instance each): %d raw records, %d spans in %.1f s: "
                 "**%.0f raw spans/s** (%.0f raw records/s). Raw -> sink latency at %.0f "
                 "records/s fed: p50 %s ms, p99 %s ms (%d sink records; the tail-sampler's "
                 "decision window, %.0f s of event time, is %.1f s of this feed's wall clock)."
                 % (p["raw_records"], p["raw_spans"], p["seconds"], p["raw_spans_per_s"],
                    p["raw_records_per_s"], lat["feed_records_per_s"], lat["p50_ms"],
                    lat["p99_ms"], lat["sink_records"], lat["decision_window_event_s"],
                    lat["decision_window_wall_s"]))


def table_memory(res, lines):
    lines.append("")
    lines.append("| tail-sampler buffered spans | avg span B | logical B/span | logical overhead "
                 "B/span | RSS B/span | RSS overhead B/span |")
    lines.append("|---:|---:|---:|---:|---:|---:|")
    for pt in res["memory"]["tail_sampler"]:
        lines.append("| %d | %.0f | %.0f | %.0f | %.0f | %.0f |" % (
            pt["buffered_spans"], pt["avg_span_bytes"], pt["logical_bytes_per_span"],
            pt["logical_overhead_per_span"], pt["rss_bytes_per_span"],
            pt["rss_overhead_per_span"]))
    d = res["memory"]["deduplicator"]
    lines.append("")
    lines.append("Deduplicator, %d keys remembered: %s B/key logical (store), %s B/key RSS; "
                 "restore %.2f s (%d changelog records; %.2f s from start to ready)."
                 % (d["store_entries"], d["logical_bytes_per_key"], d["rss_bytes_per_key"],
                    d["restore_seconds"], d["restored_records"], d["start_to_ready_seconds"]))


def table_components(res, lines):
    c = res["components"]
    b = c["broker"]
    lines.append("")
    lines.append("Components: breadcrumb-broker %d produce / %d consume msg/s vs librdkafka's "
                 "mock %d / %d (100-byte records; ratios %.2f / %.2f); bc_avro encode %.0f, "
                 "decode %.0f rec/s (avro-c %.0f / %.0f); router rules %.0f events/s, "
                 "decode + route + encode %.0f events/s."
                 % (b["breadcrumb_broker"]["produce_msgs_s"], b["breadcrumb_broker"]["consume_msgs_s"],
                    b["librdkafka_mock"]["produce_msgs_s"], b["librdkafka_mock"]["consume_msgs_s"],
                    b["produce_ratio"], b["consume_ratio"], c["avro"]["bc_avro_encode_per_s"],
                    c["avro"]["bc_avro_decode_per_s"], c["avro"]["avro_c_write_per_s"],
                    c["avro"]["avro_c_read_per_s"], c["router_rules"]["routed_per_s"],
                    c["router_rules"]["decode_route_encode_per_s"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (the integration test)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench", "results.json"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench", "work"))
    ap.add_argument("--workers", help="comma-separated workers to measure in the chain phase "
                    "(default: all; the others run unmeasured to make their input)")
    ap.add_argument("--phases", default="chain,pipeline,memory,components",
                    help="comma-separated phases to run (default: all four)")
    args = ap.parse_args()
    only = set(args.workers.split(",")) if args.workers else None
    if only and not only <= set(WORKERS):
        ap.error("--workers: unknown worker(s) %s" % ", ".join(sorted(only - set(WORKERS))))
    phases = args.phases.split(",")
    if set(phases) - {"chain", "pipeline", "memory", "components"}:
        ap.error("--phases: one or more of chain, pipeline, memory, components")
    if "memory" in phases and "pipeline" not in phases:
        ap.error("--phases: memory needs pipeline (it replicates the pipeline's records)")
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    size = SIZES[mode]
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    bclib.WORK = args.work
    import atexit
    atexit.register(_kill_all)
    started = time.time()
    res = {"format": "breadcrumb-bench/1", "mode": mode, "machine": machine(),
           "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))}
    try:
        samples = None
        if "chain" in phases:
            t = time.monotonic()
            res["chain"] = phase_chain(args.work, size["chain"], size["chain_rounds"], only)
            res["chain"]["phase_seconds"] = round(time.monotonic() - t, 1)
        if "pipeline" in phases:
            t = time.monotonic()
            res["pipeline"], samples = phase_pipeline(args.work, size["pipeline"],
                                                      size["latency_s"], size["latency_records"])
            res["pipeline"]["phase_seconds"] = round(time.monotonic() - t, 1)
        if "memory" in phases:
            t = time.monotonic()
            res["memory"] = phase_memory(args.work, size["sampler"], size["dedup"], samples)
            res["memory"]["phase_seconds"] = round(time.monotonic() - t, 1)
        if "components" in phases:
            t = time.monotonic()
            res["components"] = phase_components(args.work, size)
            res["components"]["phase_seconds"] = round(time.monotonic() - t, 1)
    except bclib.TestFailure as e:
        print("bench FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)
    res["duration_s"] = round(time.time() - started, 1)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    m = res["machine"]
    print("breadcrumb bench (%s), commit %s%s, %d x %s, %.0f s" % (
        mode, m["git_commit"][:12], " (dirty)" if m["git_dirty"] else "", m["cores"],
        m["cpu_model"], res["duration_s"]))
    print()
    print(table(res))
    print()
    print("results: %s" % os.path.relpath(args.out, os.getcwd()))


if __name__ == "__main__":
    main()
