"""`breadcrumb run` and OpenLineage: a worker killed with SIGKILL gets its FAIL at once from
the supervisor's `failed` run record (its run id is the BREADCRUMB_RUN_ID the supervisor
started it with), before its restart's START; the events validate against the 2-0-2 schema.
"""
import json
import os
import signal
import subprocess
import time

from confluent_kafka import Consumer, TopicPartition

import jsonschema

import bclib
from bclib import check

ROOT = os.environ["BC_ROOT"]
BIN = os.environ.get("BC_BIN", os.path.join(ROOT, "bin"))

TOPOLOGY = """\
pipeline: tracking
kafka: {brokers: embedded, profile: test}
schemas: {dir: %s/schemas}
topics:
  tracking.raw: {partitions: 1}
  tracking.normalized: {partitions: 1}
  tracking.dlq: {partitions: 1}
  tracking.lineage: {partitions: 1, cleanup: compact}
  tracking.lineage.repartition: {partitions: 1}
  tracking.orphans: {partitions: 1}
  tracking.openlineage: {partitions: 1}
  tracking.runs: {partitions: 1}
workers:
  normalizer:
    input: tracking.raw
    outputs: {normalized: tracking.normalized, dlq: tracking.dlq}
  lineage-builder:
    input: [tracking.normalized, tracking.dlq, tracking.lineage.repartition, tracking.runs]
    outputs: {lineage: tracking.lineage, repartition: tracking.lineage.repartition,
              orphans: tracking.orphans}
    options: {openlineage_topic: tracking.openlineage, namespace: shop}
"""


def events(bs):
    c = Consumer({"bootstrap.servers": bs, "group.id": "ol-reader",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    tp = TopicPartition("tracking.openlineage", 0)
    lo, hi = c.get_watermark_offsets(tp, timeout=10)
    out = []
    if hi > lo:
        c.assign([TopicPartition("tracking.openlineage", 0, lo)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                if c.position([tp])[0].offset >= hi:
                    break
                continue
            if m.error() is None:
                out.append(json.loads(m.value()))
            if m.offset() + 1 >= hi:
                break
    c.close()
    return out


def state():
    try:
        with open(os.path.join(bclib.WORK, "data", "run.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pid_of(group):
    st = state() or {}
    for p in st.get("processes", []):
        if p.get("group") == group and p.get("pid"):
            return p["pid"]
    return None


def test():
    topology = os.path.join(bclib.WORK, "topology.yaml")
    with open(topology, "w") as f:
        f.write(TOPOLOGY % ROOT)
    env = {k: v for k, v in os.environ.items()
           if k not in ("BREADCRUMB_BROKERS", "BREADCRUMB_KAFKA", "BREADCRUMB_RUN_ID")}
    log = open(os.path.join(bclib.WORK, "run.log"), "w")
    run = subprocess.Popen([os.path.join(BIN, "breadcrumb"), "run", topology, "--dir", "data",
                            "--backoff-ms", "2000", "--grace-ms", "15000"],
                           stdout=log, stderr=log, env=env, cwd=bclib.WORK)
    log.close()
    try:
        check_fail(run)
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(timeout=40)
            except subprocess.TimeoutExpired:
                run.kill()


def check_fail(run):
    st = bclib.wait_for(lambda: state() if (state() or {}).get("brokers") and
                        pid_of("normalizer") and pid_of("lineage-builder") else None,
                        45, "breadcrumb run's workers")
    bs = st["brokers"]

    def started():
        return [e for e in events(bs) if e["job"]["name"] == "tracking.normalizer" and
                e["eventType"] == "START"] or None
    first = bclib.wait_for(started, 45, "the normalizer's START", interval=0.5)[0]
    run_id = first["run"]["runId"]
    os.kill(pid_of("normalizer"), signal.SIGKILL)

    def failed():
        evs = events(bs)
        fails = [e for e in evs if e["run"]["runId"] == run_id and e["eventType"] == "FAIL"]
        restarted = [e for e in evs if e["job"]["name"] == "tracking.normalizer" and
                     e["eventType"] == "START" and e["run"]["runId"] != run_id]
        return (fails, restarted, evs) if fails and restarted else None
    fails, restarted, evs = bclib.wait_for(failed, 45, "FAIL of the killed run, then a new START",
                                           interval=0.5)
    msg = fails[0]["run"]["facets"]["errorMessage"]["message"]
    check("signal 9" in msg and "breadcrumb run" in msg, "FAIL's error: %r" % msg)
    check(len(fails) == 1, "one FAIL: %s" % fails)
    check(evs.index(fails[0]) < evs.index(restarted[0]), "FAIL before the restart's START")
    with open(os.path.join(ROOT, "tests", "specs", "OpenLineage-2-0-2.json")) as f:
        validator = jsonschema.Draft202012Validator(json.load(f))
    for ev in evs:
        errors = sorted(validator.iter_errors(ev), key=str)
        check(not errors, "invalid OpenLineage event %s: %s" % (ev, errors[:3]))
    print(json.dumps(fails[0]["run"]))
    print("RESULT run fail: a SIGKILLed worker's run FAILs (%r) before its restart STARTs; "
          "%d events valid" % (msg, len(evs)), flush=True)


bclib.main(test)
