"""`breadcrumb diff` on two topics written in different orders and partitions: records
matched by lineage source (bc.src), equal topics exit 0; a changed field, a missing and an
extra record are reported (text and --json) with exit 1; --range limits the comparison to
sources in an input range; a difference on a record flagged idle_decided is reported apart
and does not fail."""
import json
import os
import subprocess

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import bclib

BREADCRUMB = os.path.join(bclib.BC_BIN, "breadcrumb")


def cli(*args, rc=0):
    p = subprocess.run([BREADCRUMB] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    bclib.check(p.returncode == rc, "breadcrumb %s: exit %d (want %d)\n%s\n%s"
                % (" ".join(args), p.returncode, rc, p.stdout[-2000:], p.stderr[-2000:]))
    return p.stdout


def value(i, sampled=1):
    return json.dumps({"event_id": "%032x" % i, "n": i, "sampling": {"rate": sampled},
                       "flags": ["idle_decided"] if i == 7 else []}).encode()


def write(bootstrap, topic, items, partitions):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for j, (i, v) in enumerate(items):
        p.produce(topic, key=b"k%d" % i, value=v, partition=j % partitions,
                  headers=[("bc.src", b"in:0:%d" % i), ("bc.instance", b"x%d" % j)])
    bclib.check(p.flush(30) == 0, "produced to " + topic)


def run():
    broker = bclib.Broker().start()
    os.environ["BREADCRUMB_BROKERS"] = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topics = {"live": 3, "same": 2, "changed": 3}
    for f in admin.create_topics([NewTopic(t, n, 1) for t, n in topics.items()]).values():
        f.result(30)
    n = 40
    write(broker.bootstrap, "live", [(i, value(i)) for i in range(n)], 3)
    write(broker.bootstrap, "same", [(i, value(i)) for i in reversed(range(n))], 2)
    changed = [(i, value(i, 2 if i in (5, 7) else 1)) for i in range(n) if i != 20]
    changed.append((99, value(99)))
    write(broker.bootstrap, "changed", changed, 3)

    out = cli("diff", "live", "same")
    bclib.check("identical  %d" % n in out and "EQUAL" in out, "equal topics: " + out)

    out = cli("diff", "live", "changed", rc=1)
    bclib.check("DIFFERENT" in out and "sampling.rate: 1 != 2" in out, "text report: " + out)
    rep = json.loads(cli("diff", "live", "changed", "--json", rc=1))
    want = {"identical": n - 3, "missing": 1, "extra": 1, "differing": 1}
    got = {k: rep[k] for k in want}
    bclib.check(got == want, "counts %s, want %s" % (got, want))
    bclib.check(rep["unreproducible"]["differing"] == 1, "idle-decided apart: %s"
                % rep["unreproducible"])
    types = sorted((d["type"], d["src"]) for d in rep["differences"] if not d["unreproducible"])
    bclib.check(types == [("differing", "in:0:5"), ("extra", "in:0:99"), ("missing", "in:0:20")],
                "differences %s" % types)

    # Only the sources 8..19: equal; 0..6 holds the one changed record.
    rep = json.loads(cli("diff", "live", "changed", "--json", "--range", "in:0:8-19"))
    bclib.check(rep["identical"] == 12 and rep["equal"], "range 8-19: %s" % rep)
    rep = json.loads(cli("diff", "live", "changed", "--json", "--range", "0:0-6", rc=1))
    bclib.check(rep["differing"] == 1 and rep["a"] == 7, "range 0-6: %s" % rep)
    cli("diff", "live", "changed", "--ignore", "sampling", "--range", "0:0-19")
    print("RESULT diff: %d records matched across orders; 1 differing, 1 missing, 1 extra found"
          % n)


bclib.main(run)
