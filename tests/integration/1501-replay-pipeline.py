"""Audit replay of every worker: the whole pipeline (the default topology with one instance
per worker, smaller partitions and shorter event-time windows) runs on a generated dataset;
then `breadcrumb replay` re-runs each of the six workers, isolated under audit.<id>., over
a middle range of its input (offsets for five, a time window for the lineage-builder), with
warm-up and cool-down where the worker keeps state, and `breadcrumb diff` compares each of
its outputs with the live one over that range: 0 differences for every worker (records the
tail-sampler decided on idle are reported apart by diff). Negative: the tail-sampler
replayed with its baseline sampling percentage changed is reported as differing, exit 1."""
import json
import os
import subprocess
import time

import yaml
from confluent_kafka import Consumer, TopicPartition

import bclib
import eoslib
from bclib import check

ROOT = os.environ["BC_ROOT"]
BREADCRUMB = os.path.join(bclib.BC_BIN, "breadcrumb")
WORKERS = ["normalizer", "deduplicator", "enricher", "tail-sampler", "router", "lineage-builder"]
SINKS = ["sink.security", "sink.billing", "sink.traces", "sink.logs", "sink.default"]
# What each worker writes that diff compares (fates and dead letters by source range).
COMPARED = {
    "normalizer": ["tracking.normalized", "tracking.dlq"],
    "deduplicator": ["tracking.unique", "tracking.fates"],
    "enricher": ["tracking.enriched", "tracking.dlq"],
    "tail-sampler": ["tracking.sampled", "tracking.cold", "tracking.fates"],
    "router": SINKS + ["tracking.fates", "tracking.dlq"],
    # The hop facts, one per record of every chain topic; the merged lineage records derive
    # from the facts topic, whose offsets differ between runs.
    "lineage-builder": ["tracking.lineage.repartition", "tracking.orphans"],
}


def cli(*args, rc=0, env=None):
    if args[0] == "diff":
        args = args + ("--schemas", os.path.join(ROOT, "schemas"))
    p = subprocess.run([BREADCRUMB] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120, env=env)
    with open(os.path.join(bclib.WORK, "cli.log"), "a") as f:
        f.write("$ breadcrumb %s\n%s\n%s\n" % (" ".join(args), p.stdout, p.stderr))
    check(p.returncode == rc, "breadcrumb %s: exit %d (want %d)\n%s\n%s"
          % (" ".join(args), p.returncode, rc, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


def topology(path, percentage=10):
    with open(os.path.join(ROOT, "config", "topology.yaml")) as f:
        t = yaml.safe_load(f)
    t["kafka"] = {"brokers": "embedded", "profile": "test", "client": t["kafka"]["client"]}
    t["schemas"] = {"dir": os.path.join(ROOT, "schemas")}
    for name, spec in t["topics"].items():
        spec["partitions"] = min(spec["partitions"], 3)
    w = t["workers"]
    for name in w:
        w[name]["replicas"] = 1
    w["enricher"]["options"]["catalog"] = os.path.join(ROOT, "config", "services.yaml")
    # Event-time windows shorter than the dataset (about 3 simulated minutes), so that
    # warm-up and cool-down are real: the middle third is more than a window from both ends.
    w["deduplicator"]["options"]["window"] = "30s"
    ts = w["tail-sampler"]["options"]
    # The stream's last traces are decided on idle after up to max_source_skew +
    # decision_wait + allowed_lateness of quiet (the drain waits for them): 10 s, not 25.
    ts.update({"decision_wait": "2s", "allowed_lateness": "3s", "idle_timeout": "3s",
               "max_source_skew": "5s"})
    ts["policies"][-1]["percentage"] = percentage
    w["lineage-builder"]["options"]["orphan_window"] = "10s"
    with open(path, "w") as f:
        yaml.safe_dump(t, f, sort_keys=False)
    return path


def consumer(bootstrap, group="replay-test"):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "isolation.level": "read_committed", "enable.auto.commit": False})


def drained(bootstrap, topo):
    """Every worker has committed all of its input."""
    for name in WORKERS:
        w = topo["workers"][name]
        inputs = w["input"] if isinstance(w["input"], list) else [w["input"]]
        if any(eoslib.group_lag(bootstrap, "tracking." + name, t, topo["topics"][t]["partitions"])
               for t in inputs):
            return False
    return True


def middle(bootstrap, topic, partitions):
    c = consumer(bootstrap)
    try:
        his = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
               for p in range(partitions)]
    finally:
        c.close()
    frm = ",".join("%s:%d:%d" % (topic, p, his[p] // 3) for p in range(partitions))
    to = ",".join("%s:%d:%d" % (topic, p, 2 * his[p] // 3) for p in range(partitions))
    return frm, to


def raw_time(bootstrap, offset_share):
    """The Kafka timestamp (ms) of the record at offset_share of tracking.raw[0]."""
    c = consumer(bootstrap)
    try:
        hi = c.get_watermark_offsets(TopicPartition("tracking.raw", 0), timeout=10)[1]
        c.assign([TopicPartition("tracking.raw", 0, int(hi * offset_share))])
        m = bclib.wait_for(lambda: c.poll(0.5), 20, "a raw record")
        return m.timestamp()[1]
    finally:
        c.close()


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def replay(topo_path, worker, frm, to, audit_id):
    t0 = time.monotonic()
    out = cli("replay", "--topology", topo_path, "--worker", worker, "--from", frm, "--to", to,
              "--id", audit_id)
    took = time.monotonic() - t0
    ranges = []
    for line in out.splitlines():
        if line.strip().startswith("breadcrumb diff "):
            parts = line.split()
            ranges = [parts[i] for i in range(1, len(parts)) if parts[i - 1] == "--range"]
            break
    check(ranges, "replay printed its ranges: " + out)
    rng = []
    for r in ranges:
        rng += ["--range", r]
    return out, rng, took


def run():
    broker = bclib.Broker().start()
    eoslib.skip_unless_transactions(broker)
    os.environ["BREADCRUMB_BROKERS"] = broker.bootstrap
    os.environ["BREADCRUMB_PII_KEY"] = "replay-test-key"
    os.environ.pop("BREADCRUMB_KAFKA", None)
    live = topology(os.path.join(bclib.WORK, "live.yaml"))
    changed = topology(os.path.join(bclib.WORK, "changed.yaml"), percentage=60)
    with open(live) as f:
        topo = yaml.safe_load(f)
    t_start = time.monotonic()
    cli("topics", "create", live)
    cli("gen", "--brokers", broker.bootstrap, "--records", "1500", "--trace-interval-ms", "400",
        "--late-ms", "3000", "--seed", "15", "--quiet")
    procs = []
    for name in WORKERS:
        log = open(os.path.join(bclib.WORK, name + ".log"), "a")
        procs.append(subprocess.Popen([os.path.join(bclib.BC_BIN, name), "--config", live,
                                       "--worker", name, "--instance", "0"],
                                      stdout=log, stderr=log))
        log.close()
    try:
        # Twice in a row: a group may be between two transactions of its upstream.
        bclib.wait_for(lambda: drained(broker.bootstrap, topo) and drained(broker.bootstrap, topo),
                       120, "the live pipeline to drain", interval=0.5)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    live_secs = time.monotonic() - t_start

    results = []
    for i, name in enumerate(WORKERS):
        w = topo["workers"][name]
        if name == "lineage-builder":
            # A time window: the middle third of the raw data's export times.
            frm, to = iso(raw_time(broker.bootstrap, 1 / 3)), iso(raw_time(broker.bootstrap, 2 / 3))
        else:
            frm, to = middle(broker.bootstrap, w["input"], topo["topics"][w["input"]]["partitions"])
        audit_id = "a%d" % i
        out, rng, took = replay(live, name, frm, to, audit_id)
        if name in ("deduplicator", "tail-sampler"):
            check("warm-up from" in out, "%s warms up: %s" % (name, out))
        counts = []
        for topic in COMPARED[name]:
            rep = json.loads(cli("diff", topic, "audit.%s.%s" % (audit_id, topic), "--json",
                                 *rng))
            check(rep["equal"] and rep["missing"] == 0 and rep["extra"] == 0 and
                  rep["differing"] == 0,
                  "%s: %s over the range: %s" % (name, topic, json.dumps(rep)[:3000]))
            u = rep["unreproducible"]
            counts.append("%s %d%s" % (topic, rep["identical"],
                                       " (+%d idle/early apart)" % sum(u.values())
                                       if sum(u.values()) else ""))
            if topic in ("tracking.normalized", "tracking.unique", "tracking.enriched",
                         "tracking.sampled", "tracking.lineage.repartition"):
                check(rep["identical"] > 0, "%s: %s compared nothing" % (name, topic))
        results.append((name, took, counts))
        print("RESULT replay %s (%.1fs): 0 differences: %s" % (name, took, ", ".join(counts)))

    # Negative: the baseline policy keeps 60% instead of 10%.
    frm, to = middle(broker.bootstrap, "tracking.enriched", topo["topics"]["tracking.enriched"]["partitions"])
    _out, rng, took = replay(changed, "tail-sampler", frm, to, "neg")
    out = cli("diff", "tracking.sampled", "audit.neg.tracking.sampled", *rng, rc=1)
    check("DIFFERENT" in out, "changed percentage: " + out[-3000:])
    rep = json.loads(cli("diff", "tracking.sampled", "audit.neg.tracking.sampled", "--json", *rng,
                         rc=1))
    check(rep["extra"] > 0, "more spans kept at 60%%: %s" % json.dumps(rep)[:2000])
    print("RESULT live pipeline %.1fs; baseline 10%% -> 60%%: %d extra sampled spans, %d "
          "differing, exit 1" % (live_secs, rep["extra"], rep["differing"]))


bclib.main(run)
