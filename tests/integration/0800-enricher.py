"""The enricher on breadcrumb-broker with the generator's data, through the default topology:
two instances over tracking.unique (6 partitions), fed TrackingEvents converted from
`breadcrumb gen` output (20 services, PII at a 20% rate) and the generator's deploys.

- Catalog: every event of the 20 services gets owner/team/tier; one event of an unknown
  service is flagged `unknown_service`, never an error.
- Catalog reload: cart's owner changes in the catalog file and both instances get SIGHUP
  after the first half; every cart event of the second half has the new owner, every one
  of the first half the old one.
- Deploy join: a deploy of `cart` is published mid-run, dated before every cart event. Events
  enriched before it was read keep the deploy they had; every event enriched after gets the
  deploy current at its own time among all deploys (the new one included). Checked for every
  record against an as-of join computed here.
- PII: none of the ground truth's PII values appears anywhere in the output topic's bytes
  (keys, values, headers), although every one of them is in the input; user ids are
  tokenized to the same token whichever instance saw them.
- Exactly once across a kill -9 of one instance mid-stream: every input offset appears on
  tracking.enriched exactly once (bc.src lineage header), read_committed.

Skips (RESULT skipped) while the broker lacks transactions."""
import base64
import hashlib
import io
import json
import os
import signal
import struct
import subprocess
import threading
import time

import avro.io
import avro.schema
from confluent_kafka import Producer

import bclib
import eoslib

PARTS = 6
RATE = 500  # records per second of the paced second half
KEY = "enricher-test-hmac-key-5f2a"
ROOT = os.environ.get("BC_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
# The default topology, copied with absolute paths and a catalog of its own (edited for the
# SIGHUP reload below).
TOPOLOGY = os.path.join(bclib.WORK, "topology.yaml")
CATALOG = os.path.join(bclib.WORK, "services.yaml")
NEW_OWNER = "reloaded-owner@shop.example"


def write_topology():
    with open(os.path.join(ROOT, "config", "topology.yaml")) as f:
        text = f.read()
    text = text.replace("dir: ../schemas", "dir: " + os.path.join(ROOT, "schemas"))
    text = text.replace("catalog: config/services.yaml", "catalog: " + CATALOG)
    bclib.check(CATALOG in text, "the topology names the catalog copy")
    with open(TOPOLOGY, "w") as f:
        f.write(text)
    with open(os.path.join(ROOT, "config", "services.yaml")) as f:
        catalog = f.read()
    with open(CATALOG, "w") as f:
        f.write(catalog)
    return catalog
SCHEMA_FILE = os.path.join(ROOT, "schemas", "TrackingEvent.v1.avsc")
SCHEMA_ID = 1

# ---- a TrackingEvent encoder (Avro binary, written here so it does not depend on the
# encoder under test nor on python-avro's union guessing, which cannot tell ArrayValue from
# KeyValueList) ----------------------------------------------------------------------------


def _long(out, n):
    n = (n << 1) ^ (n >> 63)
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _str(out, s):
    b = s.encode() if isinstance(s, str) else s
    _long(out, len(b))
    out += b


def _opt_str(out, s):
    if s is None:
        _long(out, 0)
    else:
        _long(out, 1)
        _str(out, s)


def _array(out, items, fn):
    if items:
        _long(out, len(items))
        for it in items:
            fn(out, it)
    _long(out, 0)


def _any(out, v):
    """v: (type, payload) with type in null, s, b, l, d, bytes, arr, kv."""
    t, p = v
    idx = {"null": 0, "s": 1, "b": 2, "l": 3, "d": 4, "bytes": 5, "arr": 6, "kv": 7}[t]
    _long(out, idx)
    if t == "s":
        _str(out, p)
    elif t == "b":
        out.append(1 if p else 0)
    elif t == "l":
        _long(out, p)
    elif t == "d":
        out += struct.pack("<d", p)
    elif t == "bytes":
        _str(out, p)
    elif t == "arr":
        _array(out, p, _any)
    elif t == "kv":
        _array(out, p, _kv)


def _kv(out, kv):
    _str(out, kv[0])
    _any(out, kv[1])


def encode_event(e):
    out = bytearray(b"\x00" + struct.pack(">i", SCHEMA_ID))
    _str(out, e["event_id"])
    _long(out, {"SPAN": 0, "LOG": 1, "EVENT": 2}[e["kind"]])
    for f in ("trace_id", "span_id", "parent_span_id", "correlation_id"):
        _opt_str(out, e.get(f))
    _str(out, e["name"])
    _str(out, e["service"])
    _long(out, e["start"])
    _long(out, e["end"])
    _long(out, 0)  # observed_time_ns null
    _long(out, 0)  # span_kind null
    _long(out, e.get("status", 0))
    _str(out, "")
    if e.get("severity") is None:
        _long(out, 0)
    else:
        _long(out, 1)
        _long(out, e["severity"])
    _long(out, 0)  # severity_text null
    _array(out, e.get("attributes", []), _kv)
    _array(out, e.get("resource", []), _kv)
    _long(out, 0)  # scope null
    if e.get("body") is None:
        _long(out, 0)
    else:
        _long(out, 1)
        _any(out, e["body"])
    _str(out, "tracking.raw")
    _long(out, 0)
    _long(out, e["raw_offset"])
    _long(out, e["index"])
    _array(out, [], _str)  # flags
    for _ in range(5):  # owner, team, tier, cost_center, on_call
        _long(out, 0)
    _long(out, 0)  # deploy
    _long(out, 0)  # sampling
    _array(out, [], None)  # span_events
    _array(out, [], None)  # links
    return bytes(out)


# ---- gen output -> TrackingEvents (a lax converter: the enricher's input only) ------------


def _id(s, n):
    if s is None or s == "":
        return None
    if len(s) == 2 * n and all(c in "0123456789abcdefABCDEF" for c in s):
        return s.lower()
    return base64.b64decode(s + "=" * (-len(s) % 4)).hex()


def _otlp_any(v):
    if not isinstance(v, dict) or not v:
        return ("null", None)
    if "stringValue" in v:
        return ("s", v["stringValue"])
    if "boolValue" in v:
        return ("b", bool(v["boolValue"]))
    if "intValue" in v:
        return ("l", int(v["intValue"]))
    if "doubleValue" in v:
        return ("d", float(v["doubleValue"]))
    if "bytesValue" in v:
        return ("bytes", base64.b64decode(v["bytesValue"]))
    if "arrayValue" in v:
        return ("arr", [_otlp_any(x) for x in v["arrayValue"].get("values", [])])
    if "kvlistValue" in v:
        return ("kv", _otlp_attrs(v["kvlistValue"].get("values", [])))
    raise ValueError("unknown AnyValue")


def _otlp_attrs(attrs):
    return [(a["key"], _otlp_any(a.get("value"))) for a in attrs or []]


def _json_any(v):
    if v is None:
        return ("null", None)
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, int):
        return ("l", v)
    if isinstance(v, float):
        return ("d", v)
    if isinstance(v, str):
        return ("s", v)
    if isinstance(v, list):
        return ("arr", [_json_any(x) for x in v])
    return ("kv", [(k, _json_any(x)) for k, x in v.items()])


def parse_time_ns(s):
    if isinstance(s, (int, float)):
        return int(s)
    if s.isdigit():
        return int(s)
    date, _, rest = s.partition("T")
    y, mo, d = (int(x) for x in date.split("-"))
    rest = rest.rstrip("Z")
    hms, _, frac = rest.partition(".")
    h, mi, sec = (int(x) for x in hms.split(":"))
    import calendar
    secs = calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0))
    return secs * 10**9 + int((frac + "000000000")[:9] or 0)


def _eid(*parts):
    return hashlib.md5(repr(parts).encode()).hexdigest()


def convert(offset, raw):
    """TrackingEvents of one raw record (skips what does not convert: malformed input)."""
    out = []
    try:
        doc = json.loads(raw)
    except ValueError:
        return out
    if not isinstance(doc, dict):
        return out
    if "event" in doc:
        try:
            t = parse_time_ns(doc["time"])
            attrs = [(k, _json_any(v)) for k, v in (doc.get("attributes") or {}).items()]
            e = {"kind": "EVENT", "name": doc["event"], "service": doc["service"], "start": t,
                 "end": t, "attributes": attrs, "trace_id": _id(doc.get("trace_id"), 16),
                 "correlation_id": doc.get("correlation_id")}
            if not isinstance(e["service"], str) or not isinstance(e["name"], str):
                return out
            e["event_id"] = _eid("event", offset, raw)
            out.append(e)
        except (KeyError, ValueError, TypeError, AttributeError):
            pass
        return out
    for rkind, skey, ikey in (("resourceSpans", "scopeSpans", "spans"),
                              ("resourceLogs", "scopeLogs", "logRecords")):
        for rs in doc.get(rkind) or []:
            try:
                res = _otlp_attrs((rs.get("resource") or {}).get("attributes"))
            except (KeyError, ValueError, TypeError, AttributeError):
                continue
            service = next((v[1] for k, v in res if k == "service.name"), "unknown")
            for ss in rs.get(skey) or []:
                for item in ss.get(ikey) or []:
                    try:
                        out.append(_item(rkind, item, res, service, offset))
                    except (KeyError, ValueError, TypeError, AttributeError):
                        pass
    return out


def _item(rkind, it, res, service, offset):
    if rkind == "resourceSpans":
        tid, sid = _id(it["traceId"], 16), _id(it["spanId"], 8)
        if not isinstance(it["name"], str):
            raise ValueError("name")
        return {"kind": "SPAN", "name": it["name"], "service": service,
                "start": int(it["startTimeUnixNano"]), "end": int(it["endTimeUnixNano"]),
                "trace_id": tid, "span_id": sid, "parent_span_id": _id(it.get("parentSpanId"), 8),
                "attributes": _otlp_attrs(it.get("attributes")), "resource": res,
                "event_id": _eid("span", tid, sid)}
    t = int(it.get("timeUnixNano") or it.get("observedTimeUnixNano"))
    return {"kind": "LOG", "name": "log", "service": service, "start": t, "end": t,
            "trace_id": _id(it.get("traceId"), 16), "span_id": _id(it.get("spanId"), 8),
            "attributes": _otlp_attrs(it.get("attributes")), "resource": res,
            "body": _otlp_any(it.get("body")) if it.get("body") else None,
            "event_id": _eid("log", offset, json.dumps(it, sort_keys=True))}


def load_events(gen_dir):
    events = []
    with open(os.path.join(gen_dir, "tracking.raw.jsonl")) as f:
        for offset, line in enumerate(f):
            rec = json.loads(line)
            if "value" not in rec or len(rec["value"]) > 1 << 20:
                continue  # not UTF-8 or oversized: malformed (the normalizer's DLQ), no PII
            for index, e in enumerate(convert(offset, rec["value"])):
                e["raw_offset"], e["index"] = offset, index
                events.append(e)
    return events


# ---- Kafka helpers ---------------------------------------------------------------------


def produce_tracked(bootstrap, topic, records, pace=0, progress=None):
    """Produces (key, value) pairs, at most pace per second when pace > 0, counting them in
    progress[0] when given; returns [(partition, offset)] in input order."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "linger.ms": 20, "partitioner": "murmur2_random"})
    where = [None] * len(records)
    errors = []

    def dr_for(i):
        def dr(err, msg):
            if err is not None:
                errors.append(err)
            else:
                where[i] = (msg.partition(), msg.offset())
        return dr

    started = time.monotonic()
    for i, (k, v) in enumerate(records):
        if pace > 0 and i % 50 == 0:
            ahead = i / pace - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)  # pacing a producer, not waiting for an outcome
        while True:
            try:
                p.produce(topic, key=k, value=v, on_delivery=dr_for(i))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if progress is not None:
            progress[0] = i + 1
    left = p.flush(60)
    bclib.check(left == 0 and not errors and None not in where,
                "%s produced (%d left, errors %s)" % (topic, left, errors[:3]))
    return where


def enricher(broker, instance):
    env = dict(os.environ, BREADCRUMB_PII_KEY=KEY, BREADCRUMB_PROFILE="test",
               BREADCRUMB_BROKERS=broker.bootstrap)
    log_path = os.path.join(bclib.WORK, "enricher-%s.log" % instance)

    class Proc:
        def start(self):
            log = open(log_path, "a")
            self.proc = subprocess.Popen(
                [os.path.join(bclib.BC_BIN, "enricher"), "--config", TOPOLOGY, "--worker",
                 "enricher", "--instance", instance, "--brokers", broker.bootstrap],
                stdout=log, stderr=log, env=env)
            log.close()
            return self

        def kill9(self):
            self.proc.kill()
            self.proc.wait()

        def stop(self):
            self.proc.terminate()
            return self.proc.wait(60)

        def log(self):
            with open(log_path, errors="replace") as f:
                return f.read()

    return Proc().start()


def as_of(deploys, service, t_ns):
    best = None
    for d in deploys:
        if d["service"] == service and d["at"] <= t_ns:
            if best is None or (d["at"], d["deploy_id"]) > (best["at"], best["deploy_id"]):
                best = d
    return best["deploy_id"] if best else None


def run():
    catalog = write_topology()
    gen_dir = os.path.join(bclib.WORK, "gen")
    subprocess.run([os.path.join(bclib.BC_BIN, "breadcrumb"), "gen", "--out-dir", gen_dir,
                    "--records", "1500", "--pii-rate", "0.2", "--seed", "7", "--quiet"],
                   check=True)
    truth = json.load(open(os.path.join(gen_dir, "truth.json")))
    events = load_events(gen_dir)
    # One event of a service the catalog does not know.
    events.append({"kind": "EVENT", "name": "beam.up", "service": "teleporter",
                   "start": events[0]["start"], "end": events[0]["start"], "raw_offset": 0,
                   "index": 99, "event_id": _eid("teleporter")})
    records = [((e.get("trace_id") or e["event_id"]).encode(), encode_event(e)) for e in events]
    pii = [v for kind in ("email", "card", "ip", "bearer_token") for v in truth["pii"][kind]]
    input_bytes = b"".join(v for _, v in records)
    missing = [v for v in pii if v.encode() not in input_bytes]
    bclib.check(not missing, "every PII value of the truth is in the input (%d missing, e.g. %r)"
                % (len(missing), missing[:1]))
    gen_deploys = []
    deploy_records = []
    with open(os.path.join(gen_dir, "tracking.deploys.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            d = json.loads(rec["value"])
            gen_deploys.append({"service": d["service"], "deploy_id": d["deploy_id"],
                                "at": parse_time_ns(d["deployed_at"])})
            deploy_records.append((rec["key"].encode(), rec["value"].encode()))
    cart_start = min(e["start"] for e in events if e["service"] == "cart")
    mid = {"service": "cart", "version": "9.9.9", "deploy_id": "d-mid", "commit": "f" * 40,
           "deployed_at": cart_start}
    mid_deploys = gen_deploys + [{"service": "cart", "deploy_id": "d-mid", "at": cart_start}]

    broker = bclib.Broker(args=["--topology", TOPOLOGY, "--topic", "tracking.fates:%d" % PARTS,
                                "--topic", "tracking.enricher.cardinality.changelog:%d" % PARTS])
    broker.start()
    try:
        eoslib.skip_unless_transactions(broker)
        produce_tracked(broker.bootstrap, "tracking.deploys", deploy_records)
        half = len(records) // 2
        where = produce_tracked(broker.bootstrap, "tracking.unique", records[:half])
        a = enricher(broker, "a")
        b = enricher(broker, "b")
        reader = eoslib.Reader(broker.bootstrap, "tracking.enriched", PARTS)
        eoslib.wait_output(reader, half, 90, "the first half enriched")

        # The mid-run deploy: both instances must have read it before the second half goes in.
        produce_tracked(broker.bootstrap, "tracking.deploys",
                        [(b"d-mid", json.dumps(mid).encode())])
        bclib.wait_for(lambda: "deploy_id=d-mid" in a.log() and "deploy_id=d-mid" in b.log(),
                       30, "both instances to read the mid-run deploy")
        # A catalog change, reloaded on SIGHUP: cart's owner changes for the second half.
        old_owner = "owner: fatima@shop.example"
        bclib.check(old_owner in catalog, "cart's owner in the catalog")
        with open(CATALOG, "w") as f:
            f.write(catalog.replace(old_owner, "owner: " + NEW_OWNER))
        a.proc.send_signal(signal.SIGHUP)
        b.proc.send_signal(signal.SIGHUP)
        bclib.wait_for(lambda: "catalog reloaded" in a.log() and "catalog reloaded" in b.log(),
                       30, "both instances to reload the catalog")
        # The second half goes in paced from a thread, so that the kill -9 below lands while
        # records flow (chosen by output progress, not by the clock).
        rest, produced = [], [0]
        pacer = threading.Thread(target=lambda: rest.extend(produce_tracked(
            broker.bootstrap, "tracking.unique", records[half:], pace=RATE, progress=produced)))
        pacer.start()
        def quarter_in():
            return reader.poll(0.1) > half and produced[0] >= (len(records) - half) // 4

        bclib.wait_for(quarter_in, 90, "a quarter of the rest produced and some of it enriched")
        a.kill9()
        killed_at = len(reader.records)
        mid_stream = pacer.is_alive()
        eoslib.wait_output(reader, killed_at + 100, 90, "instance b going on alone")
        a.start()
        pacer.join()
        bclib.check(mid_stream, "the kill happened while records were still coming in")
        where += rest
        bclib.wait_for(lambda: a.log().count("msg=running") == 2, 60, "instance a running again")
        bclib.wait_for(lambda: eoslib.group_lag(broker.bootstrap, "tracking.enricher",
                                                "tracking.unique", PARTS) == 0,
                       120, "the group to commit every input")
        bclib.check(a.stop() == 0, "instance a exits 0 on SIGTERM")
        bclib.check(b.stop() == 0, "instance b exits 0 on SIGTERM")
        eoslib.wait_output(reader, len(records), 30, "every record enriched")
        reader.poll(1.0)
        out = reader.records
        reader.close()

        # Exactly once, by lineage.
        index_of = {("tracking.unique:%d:%d" % pw).encode(): i for i, pw in enumerate(where)}
        srcs = [dict(m.headers() or []).get("bc.src") for m in out]
        bclib.check(len(out) == len(records), "%d outputs for %d inputs" % (len(out), len(records)))
        bclib.check(len(set(srcs)) == len(srcs), "no input enriched twice")
        bclib.check(set(srcs) == set(index_of), "every input enriched")

        # No PII anywhere in the output's bytes.
        blob = b"".join((m.key() or b"") + (m.value() or b"") +
                        b"".join(v or b"" for _, v in (m.headers() or [])) for m in out)
        leaked = [v for v in pii if v.encode() in blob]
        bclib.check(not leaked, "no PII value in the output (%d leaked)" % len(leaked))

        schema = avro.schema.parse(open(SCHEMA_FILE).read())
        reader_ = avro.io.DatumReader(schema)
        services, late_cart, tokens = set(), 0, {}
        for m in out:
            i = index_of[dict(m.headers()).get("bc.src")]
            e = events[i]
            te = reader_.read(avro.io.BinaryDecoder(io.BytesIO(m.value()[5:])))
            bclib.check(m.key() == records[i][0], "the key is kept")
            if e["service"] == "teleporter":
                bclib.check("unknown_service" in te["flags"] and te["owner"] is None,
                            "an unknown service is flagged, not refused")
                continue
            bclib.check(te["owner"] and te["team"] and te["tier"], "catalog fields of %s" % e["service"])
            if e["service"] == "cart":
                want_owner = NEW_OWNER if i >= half else "fatima@shop.example"
                bclib.check(te["owner"] == want_owner, "record %d: cart owner %s, want %s"
                            % (i, te["owner"], want_owner))
            services.add(te["service"])
            second = i >= half
            want = as_of(mid_deploys if second else gen_deploys, e["service"], e["start"])
            got = te["deploy"]["deploy_id"] if te["deploy"] else None
            bclib.check(got == want, "record %d (%s, %s half): deploy %s, want %s"
                        % (i, e["service"], "second" if second else "first", got, want))
            late_cart += got == "d-mid"
            for k, v in e.get("attributes", []):
                if k == "user_id" and v[0] == "s":
                    outv = next(x["value"]["value"] for x in te["attributes"] if x["key"] == k)
                    tokens.setdefault(v[1], set()).add(outv)
        bclib.check(len(services) == 20, "20 services enriched (%d)" % len(services))
        bclib.check(late_cart > 0, "cart events after the mid-run deploy carry it")
        bclib.check(tokens and all(len(t) == 1 and next(iter(t)).startswith("tok_")
                                   for t in tokens.values()),
                    "each user_id has one token across instances")
        print("RESULT enricher: %d records, 20 services, %d PII values absent from the output, "
              "%d cart events on the mid-run deploy, catalog reloaded on SIGHUP, exactly once across a kill -9 at %d outputs"
              % (len(out), len(pii), late_cart, killed_at))
    finally:
        broker.kill()


bclib.main(run)
