"""`breadcrumb replay` of the normalizer over a middle offset range of tracking.raw, isolated
under audit.<id>. (own group, transactional id and output topics), then `breadcrumb diff`
against the live output for that range: 0 differences, nothing outside the range replayed.
Negative: the same replay with one option changed (correlation_attributes) is reported as
differing, exit 1."""
import json
import os
import subprocess
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

import bclib
import eoslib
from bclib import check

BREADCRUMB = os.path.join(bclib.BC_BIN, "breadcrumb")
RECORDS = 300

TOPOLOGY = """\
pipeline: tracking
kafka: {brokers: embedded, profile: test}
schemas: {dir: %s}
topics:
  tracking.raw: {partitions: 2}
  tracking.normalized: {partitions: 3}
  tracking.dlq: {partitions: 1}
  tracking.fates: {partitions: 1}
  tracking.deploys: {partitions: 1, cleanup: compact}
workers:
  normalizer:
    input: tracking.raw
    outputs: {normalized: tracking.normalized, dlq: tracking.dlq}
    options:
      correlation_attributes: [%s]
"""


def cli(*args, rc=0):
    if args[0] == "diff":
        args = args + ("--schemas", os.path.join(os.environ["BC_ROOT"], "schemas"))
    p = subprocess.run([BREADCRUMB] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    with open(os.path.join(bclib.WORK, "cli.log"), "a") as f:
        f.write("$ breadcrumb %s\n%s\n%s\n" % (" ".join(args), p.stdout, p.stderr))
    check(p.returncode == rc, "breadcrumb %s: exit %d (want %d)\n%s\n%s"
          % (" ".join(args), p.returncode, rc, p.stdout[:3000], p.stderr[-3000:]))
    return p.stdout


def offsets(bootstrap, group, topic, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        ends = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)]
        try:
            com = [tp.offset for tp in c.committed([TopicPartition(topic, p)
                                                     for p in range(partitions)], timeout=5)]
        except KafkaException:
            com = [-1] * partitions
        return ends, com
    finally:
        c.close()


def topology(name, corr):
    path = os.path.join(bclib.WORK, name)
    with open(path, "w") as f:
        f.write(TOPOLOGY % (os.path.join(os.environ["BC_ROOT"], "schemas"), corr))
    return path


def run():
    broker = bclib.Broker().start()
    eoslib.skip_unless_transactions(broker)
    os.environ["BREADCRUMB_BROKERS"] = broker.bootstrap
    live = topology("live.yaml", "correlation_id, request_id, order_id")
    changed = topology("changed.yaml", "request_id")
    cli("topics", "create", live)
    cli("gen", "--brokers", broker.bootstrap, "--records", str(RECORDS), "--bad-rate", "0.05",
        "--quiet")
    log = open(os.path.join(bclib.WORK, "live.log"), "a")
    proc = subprocess.Popen([os.path.join(bclib.BC_BIN, "normalizer"), "--config", live,
                             "--worker", "normalizer", "--instance", "0"], stdout=log,
                            stderr=log)
    log.close()
    try:
        bclib.wait_for(lambda: (lambda e, c: e == c)(*offsets(
            broker.bootstrap, "tracking.normalizer", "tracking.raw", 2)), 60, "live normalizer")
    finally:
        proc.terminate()
        proc.wait(30)
    ends, _ = offsets(broker.bootstrap, "x", "tracking.raw", 2)
    check(min(ends) >= 8, "input on both partitions: %s" % ends)
    lo = [e // 4 for e in ends]
    hi = [3 * e // 4 for e in ends]
    frm = ",".join("%d:%d" % (p, lo[p]) for p in range(2))
    to = ",".join("%d:%d" % (p, hi[p]) for p in range(2))
    t0 = time.monotonic()
    out = cli("replay", "--topology", live, "--worker", "normalizer", "--from", frm, "--to", to,
              "--id", "t1")
    took = time.monotonic() - t0
    check("audit.t1.tracking.normalized" in out, "replay output: " + out)
    rng = []
    for p in range(2):
        rng += ["--range", "tracking.raw:%d:%d-%d" % (p, lo[p], hi[p] - 1)]
    rep = json.loads(cli("diff", "tracking.normalized", "audit.t1.tracking.normalized",
                         "--json", *rng))
    check(rep["equal"] and rep["identical"] > 0 and rep["identical"] == rep["a"] == rep["b"],
          "normalized over the range: %s" % json.dumps(rep)[:2000])
    same = rep["identical"]
    rep = json.loads(cli("diff", "tracking.dlq", "audit.t1.tracking.dlq", "--json", *rng))
    check(rep["equal"], "dead letters over the range: %s" % json.dumps(rep)[:2000])
    # Nothing outside the range was replayed: the whole audit topic is the range.
    rep = json.loads(cli("diff", "tracking.normalized", "audit.t1.tracking.normalized",
                         "--json", rc=1))
    check(rep["extra"] == 0 and rep["differing"] == 0 and rep["b"] == same and
          rep["missing"] > 0, "audit topic holds only the range: %s" % json.dumps(rep)[:1000])

    # One option changed: differences reported.
    cli("replay", "--topology", changed, "--worker", "normalizer", "--from", frm, "--to", to,
        "--id", "t2")
    out = cli("diff", "tracking.normalized", "audit.t2.tracking.normalized", *rng, rc=1)
    check("DIFFERENT" in out and "correlation_id" in out, "changed option: " + out[-3000:])
    rep = json.loads(cli("diff", "tracking.normalized", "audit.t2.tracking.normalized",
                         "--json", *rng, rc=1))
    print("RESULT normalizer replay of %d records (%.1fs): %d identical, 0 differences; "
          "changed correlation_attributes: %d differing" % (sum(hi) - sum(lo), took, same,
                                                             rep["differing"]))


bclib.main(run)
