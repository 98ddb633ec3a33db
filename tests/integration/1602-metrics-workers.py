"""Every worker's metrics against known counts: the six workers of the default topology (one
partition per topic, short sampler idle timeout) on breadcrumb-broker, fed by `breadcrumb
gen` plus one flat event two hours of event time later (it moves every stream time past
the windows, so the sampler and the lineage-builder decide everything; the sampler's windows
are short so that its idle decisions end the stream in seconds). Each instance
serves /metrics on its own port; the test scrapes them directly (test 1600 covers a real
Prometheus) and checks:
  - /readyz is 503 while the broker is stopped (SIGSTOP: no transaction-ready producer,
    nothing restored) and 200 once it runs again; /healthz 200;
  - records in of each worker equal what its input topics received (per-output counts of
    the workers before it, the generator's raw records), lag 0 on every input partition;
  - normalizer: dead letters by reason equal the truth's;
  - deduplicator: duplicates dropped equal the normalized records minus their distinct
    event ids (read from tracking.normalized);
  - enricher: PII redactions by rule cover every PII kind the truth wrote;
  - tail-sampler: traces decided by policy and decision sum to the distinct trace ids of
    the spans on tracking.enriched; traces kept equal the distinct traces on sink.traces;
  - router: routes by rule sum to its records in, and equal its copies per sink;
  - lineage-builder: orphan spans equal the truth's;
  - `promtool check metrics` accepts every worker's exposition;
  - logs (log.format json here): every line of every worker is one JSON object with ts,
    level, component and msg, and none holds a PII string of the truth or the PII key."""
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

import bclib
import eoslib

ROOT = os.environ["BC_ROOT"]
BIN = bclib.BC_BIN
WORKERS = ["normalizer", "deduplicator", "enricher", "tail-sampler", "router", "lineage-builder"]
PROGRAMS = {}  # worker name -> program in bin/ when they differ
START_NS = 1795737600000000000  # the generator's default simulated start
PII_KEY = "metrics-test-key-5f1c"
COMMON = ["breadcrumb_records_in_total", "breadcrumb_records_out_total",
          "breadcrumb_records_dead_lettered_total", "breadcrumb_records_dropped_total",
          "breadcrumb_transactions_committed_total", "breadcrumb_transactions_aborted_total",
          "breadcrumb_commit_latency_seconds_bucket", "breadcrumb_commit_latency_seconds_count",
          "breadcrumb_processing_latency_seconds_bucket", "breadcrumb_consumer_lag_records",
          "breadcrumb_store_restore_seconds", "breadcrumb_rebalances_total", "breadcrumb_ready"]
OWN = {
    "normalizer": ["breadcrumb_normalizer_item_dead_letters_total"],
    "deduplicator": ["breadcrumb_dedup_duplicates_total"],
    "enricher": ["breadcrumb_enricher_redactions_total"],
    "tail-sampler": ["breadcrumb_sampler_traces_total", "breadcrumb_sampler_decided_early_total"],
    "router": ["breadcrumb_router_routes_total", "breadcrumb_router_copies_total"],
    "lineage-builder": ["breadcrumb_lineage_orphan_spans_total", "breadcrumb_lineage_traces_total"],
}
STATEFUL = ["deduplicator", "tail-sampler", "lineage-builder"]


def free_port():
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def http_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(port):
    """{(name, frozenset(labels without worker/instance)): value} of /metrics."""
    status, text = http_get(port, "/metrics")
    bclib.check(status == 200, "/metrics on %d: HTTP %d" % (port, status))
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        bclib.check(m is not None, "exposition line %r" % line)
        labels = {k: v for k, v in LABEL.findall(m.group(2) or "")
                  if k not in ("worker", "instance")}
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return out


def total(metrics, name, **labels):
    """Sum of the series of name whose labels include labels."""
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= set(ls))


def series(metrics, name, label):
    """{label value: value} of the series of name."""
    return {dict(ls)[label]: v for (n, ls), v in metrics.items() if n == name and label in dict(ls)}


def _varint(b, i):
    """Avro long at b[i]: (value, next index)."""
    shift = n = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return (n >> 1) ^ -(n & 1), i


def span_trace_id(value):
    """The trace_id of a wire-format TrackingEvent that is a span, else None: its first
    fields are event_id (string), kind (enum, 0 = SPAN) and trace_id (union null, string)."""
    n, i = _varint(value, 5)
    kind, i = _varint(value, i + n)
    branch, i = _varint(value, i)
    if kind != 0 or branch != 1:
        return None
    n, i = _varint(value, i)
    return value[i:i + n]


def read_topic(bootstrap, topic):
    """Every record of a one-partition topic, read_committed."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "t-1602", "enable.auto.commit": False,
                  "enable.partition.eof": True, "isolation.level": "read_committed",
                  "fetch.wait.max.ms": 10})  # the end of the partition at once, not in 0.5 s
    c.assign([TopicPartition(topic, 0, 0)])
    out, done = [], []

    def drain():
        for m in c.consume(1000, 0.2):
            if m.error() is None:
                out.append(m)
            elif m.error().code() == -191:  # _PARTITION_EOF
                done.append(1)
        return bool(done)
    bclib.wait_for(drain, 30, "reading " + topic, interval=0)
    c.close()
    return out


def topology(path):
    with open(os.path.join(ROOT, "config", "topology.yaml")) as f:
        topo = yaml.safe_load(f)
    topo["kafka"].update({"brokers": "embedded", "profile": "test"})
    topo["schemas"] = {"dir": os.path.join(ROOT, "schemas")}
    topo["log"] = {"format": "json", "level": "info"}
    for t in topo["topics"].values():
        t["partitions"] = 1
    w = topo["workers"]
    for name in WORKERS:
        w[name]["replicas"] = 1
        w[name]["commit_interval_ms"] = 100
    w["normalizer"]["options"]["max_payload_bytes"] = "64KiB"
    w["enricher"]["options"]["catalog"] = os.path.join(ROOT, "config", "services.yaml")
    # The last traces of the stream are decided after max(idle_timeout, decision_wait +
    # allowed_lateness) of quiet: 3 s here instead of the default topology's 50 s.
    w["tail-sampler"]["options"].update(
        {"idle_timeout": "1s", "decision_wait": "2s", "allowed_lateness": "1s"})
    w["lineage-builder"]["options"]["orphan_window"] = "2m"
    with open(path, "w") as f:
        yaml.safe_dump(topo, f, sort_keys=False)


def run():
    missing = [w for w in WORKERS if not os.path.exists(os.path.join(BIN, PROGRAMS.get(w, w)))]
    if missing:
        print("RESULT skipped: not built: %s" % ", ".join(missing), flush=True)
        return
    topo_path = os.path.join(bclib.WORK, "topology.yaml")
    topology(topo_path)
    kafka_log_lines(topo_path)
    broker = bclib.Broker(args=["--topology", topo_path]).start()
    procs = {}
    try:
        eoslib.skip_unless_transactions(broker)
        truth_path = os.path.join(bclib.WORK, "truth.json")
        p = subprocess.run([os.path.join(BIN, "breadcrumb"), "gen", "--brokers", broker.bootstrap,
                            "--records", "800", "--max-bytes", "65536", "--retry-far-share", "0", "--skew-rate", "0",
                            "--bad-span-rate", "0", "--orphan-rate", "0.1", "--retry-rate", "0.1",
                            "--pii-rate", "0.2", "--truth", truth_path, "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        bclib.check(p.returncode == 0, "breadcrumb gen (%s)" % p.stderr[-500:])
        with open(truth_path) as f:
            truth = json.load(f)
        prod = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})

        def flush(n):
            """Flat event n, n hours of event time after the data."""
            at = START_NS + n * 3600 * 10**9
            prod.produce("tracking.raw", timestamp=at // 10**6, value=json.dumps(
                {"event": "metrics.flush", "time": str(at), "service": "frontend",
                 "attributes": {"idempotency_key": "flush-%d" % n}}).encode())
            bclib.check(prod.flush(30) == 0, "flush event produced")
        raw_count = truth["counts"]["raw_records"]

        # /readyz: 503 while the broker is stopped (init_transactions cannot finish).
        broker.proc.send_signal(signal.SIGSTOP)
        ports = {}
        env = dict(os.environ, BREADCRUMB_PII_KEY=PII_KEY, BREADCRUMB_PROFILE="test")
        try:
            for name in WORKERS:
                ports[name] = free_port()
                log = open(os.path.join(bclib.WORK, name + ".log"), "a")
                procs[name] = subprocess.Popen(
                    [os.path.join(BIN, PROGRAMS.get(name, name)), "--config", topo_path,
                     "--worker", name, "--instance", "0", "--brokers", broker.bootstrap],
                    stdout=log, stderr=log,
                    env=dict(env, BREADCRUMB_METRICS_PORT=str(ports[name])))
                log.close()
            for name in WORKERS:
                bclib.wait_for(lambda: http_get(ports[name], "/readyz")[0] != 0, 30,
                               "%s serving HTTP" % name, interval=0.05)
                status, body = http_get(ports[name], "/readyz")
                bclib.check(status == 503 and body == "not ready\n",
                            "%s /readyz before the producer is ready: %d %r" % (name, status, body))
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        for name in WORKERS:
            bclib.wait_for(lambda: http_get(ports[name], "/readyz")[0] == 200, 60,
                           "%s /readyz 200" % name, interval=0.1)
            bclib.check(http_get(ports[name], "/healthz") == (200, "ok\n"), name + " /healthz")

        def m(name):
            return scrape(ports[name])

        def equals(name, metric, want, **labels):
            got = []

            def cond():
                got[:] = [total(m(name), metric, **labels)]
                return got[0] == want
            bclib.wait_for(cond, 90, "%s %s%s == %s" % (name, metric, labels or "", want),
                           interval=0.3)

        def out(name, topic):
            return total(m(name), "breadcrumb_records_out_total", topic=topic)
        def drain():
            """Waits until every worker has committed everything before it: records in of
            each equal the final per-output counts of the one before it (no aborts: a clean
            run writes each record once), the tail-sampler decided every trace it read (idle
            timeout), the lineage-builder read every record of its inputs."""
            equals("normalizer", "breadcrumb_records_in_total", raw_count)
            equals("deduplicator", "breadcrumb_records_in_total",
                   out("normalizer", "tracking.normalized"))
            equals("enricher", "breadcrumb_records_in_total", out("deduplicator", "tracking.unique"))
            equals("tail-sampler", "breadcrumb_records_in_total",
                   out("enricher", "tracking.enriched"))
            traces = {t for t in (span_trace_id(r.value())
                                  for r in read_topic(broker.bootstrap, "tracking.enriched")) if t}
            equals("tail-sampler", "breadcrumb_sampler_traces_total", len(traces))
            equals("router", "breadcrumb_records_in_total", out("tail-sampler", "tracking.sampled"))
            everything = (raw_count + out("normalizer", "tracking.normalized")
                          + sum(out(w, "tracking.dlq") for w in WORKERS)
                          + out("deduplicator", "tracking.unique")
                          + out("enricher", "tracking.enriched")
                          + out("tail-sampler", "tracking.sampled")
                          + out("tail-sampler", "tracking.cold")
                          + sum(out(w, "tracking.fates") for w in WORKERS)
                          + sum(out("router", t) for t in ("sink.security", "sink.billing",
                                                          "sink.traces", "sink.logs", "sink.default")))
            # + the run records every process wrote at start (runtime, not counted as out)
            bclib.wait_for(lambda: total(m("lineage-builder"), "breadcrumb_records_in_total") ==
                           everything + out("lineage-builder", "tracking.lineage.repartition")
                           + len(read_topic(broker.bootstrap, "tracking.runs")), 90,
                           "lineage-builder records in == every record of its inputs", interval=0.3)
            return traces
        drain()
        # The lineage-builder decides traces when its stream time (the highest record
        # timestamp of a partition, over all its inputs) moves past them by orphan_window: a
        # flat event two hours later, once it has read every span, decides them all.
        flush(2)
        raw_count += 1
        traces = drain()
        metrics = {name: m(name) for name in WORKERS}
        # Every metric of the issue, on every worker (README "Metrics, health and logs").
        for name in WORKERS:
            names = {n for n, _ls in metrics[name]}
            want = set(COMMON) | set(OWN.get(name, ()))
            if name in STATEFUL:
                want |= {"breadcrumb_store_entries", "breadcrumb_store_bytes"}
            bclib.check(want <= names, "%s lacks %s" % (name, sorted(want - names)))
            bclib.check(total(metrics[name], "breadcrumb_processing_latency_seconds_count") > 0,
                        name + ": processing latency observed")
        for name in WORKERS:
            mm = metrics[name]
            bclib.check(total(mm, "breadcrumb_transactions_aborted_total") == 0, name + ": no aborts")
            bclib.check(total(mm, "breadcrumb_transactions_committed_total") >= 1, name + ": commits")
            bclib.check(total(mm, "breadcrumb_commit_latency_seconds_count") >= 1,
                        name + ": commit latency observed")
            bclib.check(total(mm, "breadcrumb_rebalances_total") >= 1, name + ": rebalances")
            bclib.check(total(mm, "breadcrumb_ready") == 1, name + ": breadcrumb_ready 1")
        for name in WORKERS:
            inputs = topology_inputs(topo_path, name)
            bclib.wait_for(lambda: len(series(m(name), "breadcrumb_consumer_lag_records", "topic"))
                           == len(inputs) and max(series(m(name), "breadcrumb_consumer_lag_records",
                                                         "topic").values()) == 0, 60,
                           "%s: lag 0 on its %d input partitions" % (name, len(inputs)), interval=0.5)

        # normalizer: dead letters by reason, the truth's (every bad record is whole: no item).
        by_reason = collections.Counter(r["reason"] for r in truth["dlq"]["records"])
        got = series(metrics["normalizer"], "breadcrumb_records_dead_lettered_total", "reason")
        got = {k: int(v) for k, v in got.items() if v}
        items = series(metrics["normalizer"], "breadcrumb_normalizer_item_dead_letters_total", "reason")
        for k, v in items.items():
            if v:
                got[k] = got.get(k, 0) + int(v)
        bclib.check(got == dict(by_reason), "normalizer dead letters by reason %s == truth %s"
                    % (got, dict(by_reason)))

        # deduplicator: duplicates = normalized records - their distinct event ids.
        normalized = read_topic(broker.bootstrap, "tracking.normalized")
        ids = collections.Counter(v.value()[6:38] for v in normalized)
        dups = len(normalized) - len(ids)
        got_dups = total(metrics["deduplicator"], "breadcrumb_dedup_duplicates_total")
        bclib.check(got_dups == dups, "dedup duplicates %s == %d normalized - %d distinct ids"
                    % (got_dups, len(normalized), len(ids)))
        bclib.check(total(metrics["deduplicator"], "breadcrumb_records_dropped_total") == dups,
                    "dedup Fates == duplicates")

        without = truth["without_id"]
        truth_dups = (sum(n - 1 for n in truth["duplicates"].values())
                      + without["log"]["copies"] - without["log"]["unique"]
                      + without["event"]["copies"] - without["event"]["unique"])
        print("MEASURED dedup: %d duplicates dropped, the truth counts %d" % (got_dups, truth_dups),
              flush=True)

        # enricher: redactions by rule = occurrences of the truth's PII strings in what it read
        # (tracking.unique): a card number is dropped by key or masked in text, a bearer token
        # dropped in an auth header or in text; client-ips also finds addresses the truth
        # does not list as PII.
        unique = [r.value() for r in read_topic(broker.bootstrap, "tracking.unique")]
        occ = {kind: sum(v.count(x.encode()) for v in unique for x in truth["pii"].get(kind, []))
               for kind in ("email", "card", "ip", "bearer_token")}
        red = series(metrics["enricher"], "breadcrumb_enricher_redactions_total", "rule")
        for kind, rules in (("email", ["emails"]), ("card", ["card-numbers", "cards-in-text"]),
                            ("bearer_token", ["auth-headers", "bearer-tokens"])):
            got = sum(red.get(r, 0) for r in rules)
            bclib.check(got == occ[kind], "enricher redactions %s: %s == %d occurrences of the "
                        "truth's %s on tracking.unique" % ("+".join(rules), got, occ[kind], kind))
        bclib.check(red.get("client-ips", 0) >= occ["ip"] > 0,
                    "enricher client-ips %s >= %d" % (red.get("client-ips"), occ["ip"]))

        # tail-sampler: traces by policy and decision; the kept ones reach sink.traces.
        st = metrics["tail-sampler"]
        decided = total(st, "breadcrumb_sampler_traces_total")
        kept = total(st, "breadcrumb_sampler_traces_total", decision="keep")
        bclib.check(decided == len(traces), "sampler decided %s traces == %d distinct on "
                    "tracking.enriched" % (decided, len(traces)))
        sink_traces = {span_trace_id(r.value()) for r in read_topic(broker.bootstrap, "sink.traces")}
        bclib.check(kept == len(sink_traces), "sampler kept %s traces == %d on sink.traces"
                    % (kept, len(sink_traces)))
        early = total(st, "breadcrumb_sampler_decided_early_total")
        bclib.check(early <= decided, "decided early %s <= decided %s" % (early, decided))

        # router: routes by rule sum to records in (first_match) and match copies per sink.
        rt = metrics["router"]
        routes = total(rt, "breadcrumb_router_routes_total")
        rin = total(rt, "breadcrumb_records_in_total")
        bclib.check(routes == rin, "router routes by rule %s == records in %s" % (routes, rin))
        copies = series(rt, "breadcrumb_router_copies_total", "topic")
        for rule, topic in (("security", "sink.security"), ("billing", "sink.billing"),
                            ("traces", "sink.traces"), ("logs", "sink.logs")):
            r = total(rt, "breadcrumb_router_routes_total", rule=rule)
            bclib.check(r == copies[topic] == out("router", topic),
                        "router rule %s: %s routes, %s copies, %s out" % (rule, r, copies[topic],
                                                                         out("router", topic)))
        bclib.check(total(rt, "breadcrumb_router_routes_total", action="default") ==
                    copies["sink.default"], "router default routes == sink.default copies")

        # lineage-builder: orphan spans and orphaned traces, the truth's (decided at the tick
        # after the last flush event).
        want_orphans = sum(len(o["span_ids"]) for o in truth["orphans"])
        lb = {}

        def lineage_decided():
            lb["m"] = m("lineage-builder")
            return (total(lb["m"], "breadcrumb_lineage_orphan_spans_total") == want_orphans and
                    total(lb["m"], "breadcrumb_lineage_traces_total", outcome="orphaned") ==
                    len(truth["orphans"]))
        bclib.wait_for(lineage_decided, 30, "lineage: %d orphan spans in %d traces (the truth's)"
                       % (want_orphans, len(truth["orphans"])), interval=0.3)
        got_orphans = total(lb["m"], "breadcrumb_lineage_orphan_spans_total")

        promtool = shutil.which("promtool")
        if promtool:
            for name in WORKERS:
                text = http_get(ports[name], "/metrics")[1]
                r = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                bclib.check(r.returncode == 0, "promtool check metrics, %s:\n%s" % (name, r.stdout))
        for name in WORKERS:
            procs[name].terminate()
        for name in WORKERS:
            bclib.check(procs[name].wait(60) == 0, name + " exits 0 on SIGTERM")
        secrets = [PII_KEY] + [x for kind in ("email", "card", "ip", "bearer_token")
                               for x in truth["pii"].get(kind, [])]
        lines = 0
        for name in WORKERS:
            with open(os.path.join(bclib.WORK, name + ".log")) as f:
                for line in f:
                    lines += 1
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        bclib.fail("%s log line is not JSON: %r" % (name, line[:200]))
                    bclib.check({"ts", "level", "component", "msg"} <= set(entry),
                                "%s log line fields: %r" % (name, line[:200]))
                    leaked = [x for x in secrets if x in line]
                    bclib.check(not leaked, "%s log holds PII or the key %s: %r"
                                % (name, leaked[:1], line[:200]))
        print("RESULT worker metrics: %d raw, %d duplicates, %d traces decided (%d kept), %d routes, "
              "%d orphan spans, redactions %s; promtool %s; %d JSON log lines, no PII"
              % (raw_count, dups, decided, kept, routes, got_orphans,
                 {k: int(v) for k, v in red.items()}, "ok on 6 workers" if promtool else "missing",
                 lines),
              flush=True)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if broker.alive():
            broker.proc.send_signal(signal.SIGCONT)
        broker.kill()


def kafka_log_lines(topo_path):
    """librdkafka's own log lines come out as the worker's (JSON here): a router pointed at
    a port nobody listens on logs its connection failures that way."""
    path = os.path.join(bclib.WORK, "unreachable.log")
    with open(path, "w") as log:
        proc = subprocess.Popen([os.path.join(BIN, "router"), "--config", topo_path, "--worker",
                                 "router", "--instance", "0", "--brokers",
                                 "127.0.0.1:%d" % free_port()], stdout=log, stderr=log)
    try:
        def logged():
            with open(path) as f:
                return [json.loads(line) for line in f if '"kafka client"' in line]
        entries = bclib.wait_for(logged, 30, "librdkafka's connection failure in the log")
        bclib.check(entries[0]["component"] == "router" and entries[0]["facility"],
                    "librdkafka log line %r" % entries[0])
        with open(path) as f:
            for line in f:
                bclib.check(line.startswith("{") and json.loads(line).get("msg"),
                            "router log line is JSON: %r" % line[:200])
    finally:
        proc.kill()
        proc.wait()


def topology_inputs(path, name):
    with open(path) as f:
        w = yaml.safe_load(f)["workers"][name]
    return w["input"] if isinstance(w["input"], list) else [w["input"]]


bclib.main(run)
