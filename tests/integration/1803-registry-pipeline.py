"""Workers on a remote schema registry (schemas.registry: URL; tests/integration/
fake_registry.py): bin/normalizer -> bin/deduplicator on breadcrumb-broker.

- The registry is down (503) when the workers start: they retry with backoff, /readyz answers
  503, and nothing at all is written (a read_uncommitted read of every output is empty).
- Once it is up: each output's schema is registered under <topic>-value (TopicNameStrategy),
  every record carries the registry's id of its topic's subject, and confluent_kafka's
  SchemaRegistryClient plus python3-avro decode the records from the registry's text.
- An input record written with a schema version the worker has never seen (TrackingEvent
  plus a field with a default, registered by another producer) is looked up by id and read;
  passed through as written, its schema becomes a version of the output's subject too.
- A schema incompatible with its subject's registered versions is a fatal error naming the
  subject; the worker writes nothing.
- The router's Avro sinks (bc_emit_topic targets, not outputs) are registered at start too:
  a sink whose subject holds an incompatible schema stops the router before it reads
  anything, even though no record would ever be routed there; a JSON sink has no subject.
- Basic auth from schemas.username and schemas.password (a ${VAR} reference); the password
  appears in no log line.
"""
import base64
import io
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import avro.io
import avro.schema
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bclib  # noqa: E402
import eoslib  # noqa: E402
from fake_registry import FakeRegistry  # noqa: E402

ROOT = os.environ["BC_ROOT"]
SECRET = "pw-3f9a1c-registry"
AUTH = "Basic " + base64.b64encode(("breadcrumb:" + SECRET).encode()).decode()
TOPOLOGY = """\
pipeline: tracking
kafka:
  brokers: embedded
  profile: test
schemas:
  registry: {url}
  dir: {schemas}
  username: breadcrumb
  password: ${{REGISTRY_PASSWORD}}
topics:
  tracking.raw: {{partitions: 1}}
  tracking.normalized: {{partitions: 2}}
  tracking.unique: {{partitions: 2}}
  tracking.dlq: {{partitions: 1}}
  {extra}
workers:
  normalizer:
    input: tracking.raw
    outputs: {{normalized: {normalized}, dlq: tracking.dlq}}
    metrics_port: {port}
    options:
      event_id_field: attributes.idempotency_key
  deduplicator:
    input: tracking.normalized
    outputs: {{unique: tracking.unique}}
    options:
      key: [event_id]
      window: 1h
"""
ROUTER = """\
  router:
    input: tracking.unique
    options:
      rules:
        - {{name: billing, when: {{kind: event, name: billing.charge}}, to: sink.ok}}
        - {{name: never, when: {{kind: event, name: no.such.event}}, to: {bad}}}
        - {{name: logs, when: {{kind: log}}, to: sink.json}}
      default: sink.ok
      sinks:
        sink.json: {{format: json}}
"""
OUTPUTS = {"tracking.normalized": 2, "tracking.unique": 2, "tracking.dlq": 1, "tracking.fates": 1}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readyz(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def post(url, schema):
    """Registers schema (a dict) like another producer would; returns the answer."""
    req = urllib.request.Request(url, data=json.dumps({"schema": json.dumps(schema)}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": AUTH})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def event(i, key):
    return json.dumps({"event": "billing.charge", "time": 1_795_000_000_000_000_000 + i,
                       "service": "payment",
                       "attributes": {"idempotency_key": key, "amount_cents": 100 + i}}).encode()


def count_uncommitted(bootstrap, topic, partitions):
    """Every record in topic, committed or not (read_uncommitted, from the start)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "peek-" + topic,
                  "isolation.level": "read_uncommitted", "enable.auto.commit": False})
    try:
        n = 0
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)
            n += hi - lo
        return n
    finally:
        c.close()


def start(worker, topology, broker, instance="a"):
    log = open(os.path.join(bclib.WORK, "%s-%s.log" % (worker, instance)), "a")
    proc = subprocess.Popen([os.path.join(bclib.BC_BIN, worker), "--config", topology,
                             "--worker", worker, "--instance", instance, "--brokers",
                             broker.bootstrap], stdout=log, stderr=log,
                            env=dict(os.environ, REGISTRY_PASSWORD=SECRET))
    log.close()
    return proc


def worker_log(worker, instance="a"):
    with open(os.path.join(bclib.WORK, "%s-%s.log" % (worker, instance)), errors="replace") as f:
        return f.read()


def run():
    reg = FakeRegistry(auth=("breadcrumb", SECRET))
    sr = SchemaRegistryClient({"url": reg.url, "basic.auth.user.info": "breadcrumb:" + SECRET})
    broker = bclib.Broker(args=["--topic", "tracking.raw:1", "--topic", "tracking.normalized:2",
                                "--topic", "tracking.unique:2", "--topic", "tracking.dlq:1",
                                "--topic", "tracking.fates:1", "--topic", "other.normalized:1", "--topic", "copy.unique:2", "--topic", "copy.spans:1",
                                "--topic", "sink.ok:1", "--topic", "sink.bad:1", "--topic", "sink.json:1",
                                "--topic", "tracking.deduplicator.seen.changelog:2"]).start()
    procs = []
    try:
        eoslib.skip_unless_transactions(broker)
        port = free_port()
        topology = os.path.join(bclib.WORK, "topology.yaml")
        with open(topology, "w") as f:
            f.write(TOPOLOGY.format(url=reg.url, schemas=os.path.join(ROOT, "schemas"),
                                    port=port, extra="", normalized="tracking.normalized"))
        # 12 events, 4 of them repeats of an idempotency key: 8 unique.
        eoslib.produce(broker.bootstrap, "tracking.raw",
                       [(None, event(i, "k%d" % (i % 8))) for i in range(12)])

        # Ids differ from the manifest's (TrackingEvent 1, DeadLetter 2, Fate 3): another
        # team's schemas came first.
        for name in ("Other", "Another"):
            post(reg.url + "/subjects/%s-value/versions" % name.lower(),
                 {"type": "record", "name": name, "fields": [{"name": "a", "type": "long"}]})

        # Down at start: the workers wait, not ready, nothing written.
        reg.down = 10 ** 9
        procs = [start("normalizer", topology, broker), start("deduplicator", topology, broker)]
        bclib.wait_for(lambda: reg.requests >= 8, 30, "the workers to retry the registry")
        bclib.wait_for(lambda: readyz(port) == 503, 30, "/readyz 503 while registering")
        for p in procs:
            bclib.check(p.poll() is None, "a worker waits for the registry instead of exiting")
        written = {t: count_uncommitted(broker.bootstrap, t, n) for t, n in OUTPUTS.items()}
        bclib.check(sum(written.values()) == 0, "nothing written before registration: %s"
                    % written)
        bclib.check(sorted(reg.subjects) == ["another-value", "other-value"],
                    "no subject registered while down")
        retries = reg.requests
        print("RESULT registry down at start: %d requests retried with backoff, /readyz 503, "
              "nothing written" % retries, flush=True)

        # Up: registration, then the pipeline runs.
        reg.down = 0
        bclib.wait_for(lambda: readyz(port) == 200, 60, "/readyz 200 once registered")
        unique = eoslib.Reader(broker.bootstrap, "tracking.unique", 2)
        eoslib.wait_output(unique, 8, 60, "8 unique events")
        want = {"tracking.normalized-value", "tracking.unique-value", "tracking.dlq-value",
                "tracking.fates-value"}
        bclib.check(want <= set(reg.subjects), "subjects %s" % sorted(reg.subjects))
        te_id = reg.subjects["tracking.unique-value"][-1]
        bclib.check(reg.subjects["tracking.normalized-value"] == [te_id],
                    "one TrackingEvent id: %s" % reg.subjects)
        registered = json.loads(sr.get_schema(te_id).schema_str)
        bclib.check(registered["name"] == "TrackingEvent" and te_id > 2,
                    "id %d is TrackingEvent" % te_id)

        def decode(value):
            sid = int.from_bytes(value[1:5], "big")
            schema = avro.schema.parse(sr.get_schema(sid).schema_str)
            return sid, avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(
                io.BytesIO(value[5:])))
        normalized = eoslib.Reader(broker.bootstrap, "tracking.normalized", 2)
        eoslib.wait_output(normalized, 12, 60, "12 normalized events")
        for m in normalized.records + unique.records:
            sid, rec = decode(m.value())
            bclib.check(m.value()[:1] == b"\0" and sid == te_id and rec["kind"] == "EVENT",
                        "record id %d, the registry's %d for %s-value" % (sid, te_id, m.topic()))
        fates = eoslib.Reader(broker.bootstrap, "tracking.fates", 1)
        eoslib.wait_output(fates, 4, 60, "4 deduplicated Fates")
        fate_id = reg.subjects["tracking.fates-value"][-1]
        for m in fates.records:
            sid, rec = decode(m.value())
            bclib.check(sid == fate_id and rec["fate"] == "deduplicated",
                        "Fate id %d (registry %d), fate %s" % (sid, fate_id, rec["fate"]))
        print("RESULT registry up: subjects %s, TrackingEvent id %d and Fate id %d in every "
              "record, decoded with SchemaRegistryClient + python3-avro"
              % (",".join(sorted(reg.subjects)), te_id, fate_id), flush=True)

        # Another producer's newer TrackingEvent (a field with a default): the deduplicator
        # looks the unknown id up and reads it; its output carries its own schema's id.
        v2 = json.loads(open(os.path.join(ROOT, "schemas", "TrackingEvent.v1.avsc")).read())
        v2["fields"].append({"name": "region", "type": "string", "default": ""})
        v2_id = post(reg.url + "/subjects/tracking.normalized-value/versions", v2)["id"]
        bclib.check(v2_id != te_id, "a new id for the new version")
        _, datum = decode(normalized.records[0].value())
        datum["event_id"] = "f" * 32
        datum["region"] = "eu-west-1"
        buf = io.BytesIO()
        avro.io.DatumWriter(avro.schema.parse(json.dumps(v2))).write(datum, avro.io.BinaryEncoder(buf))
        eoslib.produce(broker.bootstrap, "tracking.normalized",
                       [(normalized.records[0].key(), b"\0" + v2_id.to_bytes(4, "big") +
                         buf.getvalue())])
        eoslib.wait_output(unique, 9, 60, "the v%d record on tracking.unique" % v2_id)
        # The deduplicator passes the record through as written: its schema is registered
        # under tracking.unique-value too (compatible: a new field with a default).
        sid, rec = decode(unique.records[-1].value())
        bclib.check(sid == v2_id and rec["event_id"] == "f" * 32 and rec["region"] == "eu-west-1",
                    "v2 input passed through as id %d (got %d, %s)" % (v2_id, sid, rec))
        bclib.check(reg.subjects["tracking.unique-value"] == [te_id, v2_id],
                    "tracking.unique-value versions %s" % reg.subjects["tracking.unique-value"])
        bclib.check("input schema loaded from the registry" in worker_log("deduplicator"),
                    "the deduplicator logged the lookup")
        print("RESULT unknown input id %d looked up in the registry and read as TrackingEvent"
              % v2_id, flush=True)
        for p in procs:
            p.terminate()
        for p in procs:
            bclib.check(p.wait(timeout=60) == 0, "a worker exits 0")
        procs = []

        # breadcrumb diff --registry: tracking.unique against a copy holding the same records
        # written as the newer version with region "x" (same bc.src headers): equal but for
        # region once decoded through the registry; as bytes (no --registry) they differ.
        v2_schema = avro.schema.parse(json.dumps(v2))
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for m in unique.records:
            _, rec = decode(m.value())
            rec["region"] = "x"
            buf = io.BytesIO()
            avro.io.DatumWriter(v2_schema).write(rec, avro.io.BinaryEncoder(buf))
            producer.produce("copy.unique", key=m.key(), headers=m.headers(),
                             value=b"\0" + v2_id.to_bytes(4, "big") + buf.getvalue())
        bclib.check(producer.flush(30) == 0, "copy.unique produced")
        url = reg.url.replace("http://", "http://breadcrumb:%s@" % SECRET)
        diff = [os.path.join(bclib.BC_BIN, "breadcrumb"), "diff", "tracking.unique",
                "copy.unique", "--brokers", broker.bootstrap, "--schemas",
                os.path.join(ROOT, "schemas"), "--ignore", "region", "--json"]
        with_reg = subprocess.run(diff + ["--registry", url], capture_output=True, text=True,
                                  timeout=120)
        bclib.check(with_reg.returncode == 0 and json.loads(with_reg.stdout)["equal"],
                    "diff --registry: equal but for region (exit %d)\n%s%s"
                    % (with_reg.returncode, with_reg.stdout[-1500:], with_reg.stderr[-1500:]))
        without = subprocess.run(diff, capture_output=True, text=True, timeout=120)
        bclib.check(without.returncode == 1, "diff without --registry compares bytes: differ "
                    "(exit %d)" % without.returncode)
        print("RESULT breadcrumb diff --registry: %d records decoded through the registry, "
              "equal but for the new field; without it they differ as bytes"
              % len(unique.records), flush=True)
        for r in (unique, normalized, fates):
            r.close()

        # breadcrumb lineage --trace reads records written with the registry's ids through
        # --registry; without it their ids are unknown to the manifest and nothing decodes.
        te_schema = avro.schema.parse(sr.get_schema(te_id).schema_str)
        trace = "ab" * 16
        ids = {"%016x" % (i + 1) for i in range(3)}
        for i, parent in enumerate([None, "%016x" % 1, "%016x" % 99]):  # root, child, orphan
            _, rec = decode(normalized.records[i].value())
            rec.update(kind="SPAN", trace_id=trace, span_id="%016x" % (i + 1),
                       parent_span_id=parent)
            buf = io.BytesIO()
            avro.io.DatumWriter(te_schema).write(rec, avro.io.BinaryEncoder(buf))
            producer.produce("copy.spans", key=trace.encode(),
                             value=b"\0" + te_id.to_bytes(4, "big") + buf.getvalue())
        bclib.check(producer.flush(30) == 0, "copy.spans produced")
        lineage = [os.path.join(bclib.BC_BIN, "breadcrumb"), "lineage", "--trace", trace,
                   "--trace-topic", "copy.spans", "--brokers", broker.bootstrap,
                   "--schemas", os.path.join(ROOT, "schemas"), "--json"]
        env = dict(os.environ)
        env.pop("BREADCRUMB_REGISTRY", None)
        got = subprocess.run(lineage + ["--registry", url], capture_output=True, text=True,
                             timeout=120, env=env)
        out = json.loads(got.stdout) if got.returncode == 0 else {}
        bclib.check(set(out.get("spans", {})) == ids and out.get("orphans") == 1,
                    "lineage --trace --registry: the trace's %d spans (exit %d)\n%s%s"
                    % (len(ids), got.returncode, got.stdout[-1500:], got.stderr[-1500:]))
        bare = subprocess.run(lineage, capture_output=True, text=True, timeout=120, env=env)
        bclib.check(bare.returncode == 1, "lineage without --registry decodes nothing (exit %d)"
                    % bare.returncode)
        print("RESULT breadcrumb lineage --trace --registry: 3 spans written with the registry's "
              "id decoded, the orphan marked; without --registry none", flush=True)

        # Incompatible: other.normalized-value already holds a TrackingEvent whose event_id
        # is a long; the normalizer refuses to start, naming the subject, and writes nothing.
        bad = {"type": "record", "name": "TrackingEvent", "namespace": "io.breadcrumb",
               "fields": [{"name": "event_id", "type": "long"}]}
        post(reg.url + "/subjects/other.normalized-value/versions", bad)
        other = os.path.join(bclib.WORK, "other.yaml")
        with open(other, "w") as f:
            f.write(TOPOLOGY.format(url=reg.url, schemas=os.path.join(ROOT, "schemas"),
                                    port=free_port(), normalized="other.normalized",
                                    extra="other.normalized: {partitions: 1}"))
        p = start("normalizer", other, broker, instance="bad")
        rc = p.wait(timeout=60)
        log = worker_log("normalizer", "bad")
        bclib.check(rc != 0, "an incompatible schema is fatal (exit %d)" % rc)
        bclib.check("incompatible" in log and "subject=other.normalized-value" in log,
                    "the error names the subject:\n%s" % log[-1500:])
        bclib.check(count_uncommitted(broker.bootstrap, "other.normalized", 1) == 0,
                    "nothing written to other.normalized")
        bclib.check(reg.subjects["other.normalized-value"] == [reg.subjects[
            "other.normalized-value"][0]], "the incompatible schema was not registered")
        line = [ln for ln in log.splitlines() if "incompatible" in ln][0]
        print("RESULT incompatible schema rejected: %s" % line.strip()[:200], flush=True)

        # The router's sinks: registered at start. sink.bad's subject holds the incompatible
        # TrackingEvent and its rule never matches: the router still stops at start, having
        # written nothing; with sink.ok in its place it registers
        # sink.ok-value before routing, and the JSON sink gets no subject.
        post(reg.url + "/subjects/sink.bad-value/versions", bad)
        routed = os.path.join(bclib.WORK, "router.yaml")

        def router_topology(bad_sink):
            with open(routed, "w") as f:
                f.write(TOPOLOGY.format(url=reg.url, schemas=os.path.join(ROOT, "schemas"),
                                        port=free_port(), normalized="tracking.normalized",
                                        extra="sink.ok: {partitions: 1}\n  sink.bad: "
                                        "{partitions: 1}\n  sink.json: {partitions: 1}")
                        + ROUTER.format(bad=bad_sink))
        router_topology("sink.bad")
        p = start("router", routed, broker, instance="bad")
        rc = p.wait(timeout=60)
        log = worker_log("router", "bad")
        bclib.check(rc != 0 and "incompatible" in log and "subject=sink.bad-value" in log,
                    "the router stops at start on sink.bad-value (exit %d):\n%s"
                    % (rc, log[-1500:]))
        for t in ("sink.ok", "sink.bad", "sink.json"):
            bclib.check(count_uncommitted(broker.bootstrap, t, 1) == 0, "nothing written to " + t)
        router_topology("sink.ok")
        p = start("router", routed, broker, instance="ok")
        procs = [p]
        sink = eoslib.Reader(broker.bootstrap, "sink.ok", 1)
        eoslib.wait_output(sink, 9, 60, "the 9 unique events on sink.ok")
        sink.close()
        bclib.check(reg.subjects.get("sink.ok-value") and "sink.json-value" not in reg.subjects,
                    "sink.ok-value registered, no subject for the JSON sink: %s"
                    % sorted(reg.subjects))
        p.terminate()
        bclib.check(p.wait(timeout=60) == 0, "the router exits 0")
        procs = []
        print("RESULT router sinks registered at start: an incompatible sink.bad-value stops it "
              "before it reads (rule never matched); sink.ok-value registered; JSON sink none",
              flush=True)
        logs = "".join(worker_log(w, i) for w, i in (("normalizer", "a"), ("deduplicator", "a"),
                                                       ("normalizer", "bad"), ("router", "bad"),
                                                       ("router", "ok")))
        bclib.check(SECRET not in logs, "the registry password appears in no log line")
        print("RESULT basic auth from schemas.username/password (${REGISTRY_PASSWORD}); the "
              "password in no log line", flush=True)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        broker.kill()
        reg.close()


bclib.main(run)
