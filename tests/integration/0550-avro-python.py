"""Avro interoperability with an independent implementation (python3-avro).

1. avro_write (our codec, values built with avro-c's value API) writes TrackingEvents with
   every AnyValue kind, a DeadLetter, a Fate and a LineageRecord in the Confluent wire
   format; python3-avro decodes each body (after the 5-byte header) with the .avsc and the
   result must equal the expected value exactly (types included: 3 is not 3.0 or True),
   with no byte left over.
2. python3-avro writes records (and Widget v1 records for evolution); avro_read (our codec)
   decodes them, Widget v1 as v2 with v2's defaults, and prints JSON that must match.
3. Bad records (bad magic, unknown id, short header, truncated body, trailing bytes) are
   reported by name, never crashed on.
4. Every schema's Parsing Canonical Form (breadcrumb schemas fingerprint) equals
   python3-avro's, and the manifests' fingerprints are its CRC-64-AVRO.
"""
import io
import json
import os
import struct
import subprocess
import sys

import avro.io
import avro.schema

ROOT = os.environ["BC_ROOT"]
TOOLS = os.environ["BC_TEST_BIN"]
WORK = os.environ.get("BC_WORK", os.getcwd())
SCHEMAS = os.path.join(ROOT, "schemas")
EVOLUTION = os.path.join(SCHEMAS, "test", "evolution")


def load_manifest(directory):
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    out = {}
    for entry in manifest["schemas"]:
        with open(os.path.join(directory, entry["file"])) as f:
            out[(entry["subject"], entry["version"])] = (entry["id"], avro.schema.parse(f.read()))
    return out


def strict_eq(a, b, path="$"):
    """Equality that also requires equal types (bool, int and float are told apart)."""
    if type(a) is not type(b):
        raise AssertionError(f"{path}: {a!r} ({type(a).__name__}) != {b!r} ({type(b).__name__})")
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()):
            raise AssertionError(f"{path}: keys {list(a.keys())} != {list(b.keys())}")
        for k in a:
            strict_eq(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        if len(a) != len(b):
            raise AssertionError(f"{path}: length {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            strict_eq(x, y, f"{path}[{i}]")
    elif a != b:
        raise AssertionError(f"{path}: {a!r} != {b!r}")


def kv(key, value):
    return {"key": key, "value": {"value": value}}


NULL_ENRICHMENT = {"owner": None, "team": None, "tier": None, "cost_center": None,
                   "on_call": None, "deploy": None, "sampling": None, "span_events": [],
                   "links": []}

EXPECTED = {
    "te-span.bin": ("TrackingEvent", {
        "event_id": "5f1c7e1c0d6a4c1e9b1f2a3b4c5d6e7f", "kind": "SPAN",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
        "parent_span_id": "53995c3f42cd8ad8", "correlation_id": "order-42",
        "name": "POST /checkout", "service": "checkout",
        "start_time_ns": 1795000000000000000, "end_time_ns": 1795000000250000000,
        "observed_time_ns": 1795000000300000000, "span_kind": "SERVER",
        "status": {"code": "ERROR", "message": "payment declined"},
        "severity_number": None, "severity_text": None,
        "attributes": [
            kv("http.method", "POST"),
            kv("http.ok", False),
            kv("http.status_code", 402),
            kv("cart.total", 129.99),
            kv("payload.hash", b"\x00\x01\xfe\xff"),
            kv("items", {"values": [{"value": "sku-1"}, {"value": 3},
                                    {"value": {"values": [{"value": True}]}}]}),
            kv("customer", {"values": [kv("tier", "gold"),
                                       kv("address", {"values": [kv("country", "DE")]}),
                                       kv("missing", None)]}),
            kv("empty", None),
        ],
        "resource_attributes": [kv("service.name", "checkout"),
                                kv("deployment.environment", "prod")],
        "scope": {"name": "io.opentelemetry.http", "version": "1.25.0",
                  "attributes": [kv("otel.scope", "yes")]},
        "body": None,
        "source": {"topic": "tracking.raw", "partition": 2, "offset": 81234, "index": 5},
        "flags": ["clock_skew", "clamped"],
        "owner": "payments@shop.example", "team": "payments", "tier": "critical",
        "cost_center": "cc-7", "on_call": "bob",
        "deploy": {"deploy_id": "d-000123", "version": "1.4.2",
                   "commit": "89abcdef0123456789abcdef0123456789abcdef",
                   "deployed_at_ns": 1794990000000000000},
        "sampling": {"policy": "errors", "probability": 0.125},
        "span_events": [{"time_ns": 1795000000200000000, "name": "exception",
                         "attributes": [kv("exception.type", "PaymentDeclined")]}],
        "links": [{"trace_id": "0af7651916cd43dd8448eb211c80319c",
                   "span_id": "b7ad6b7169203331", "attributes": []}],
    }),
    "te-log.bin": ("TrackingEvent", {
        "event_id": "00000000000000000000000000000001", "kind": "LOG",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": None,
        "parent_span_id": None, "correlation_id": None,
        "name": "h\u00e9llo \u2713 \U0001f680", "service": "",
        "start_time_ns": -2**63, "end_time_ns": 2**63 - 1,
        "observed_time_ns": None, "span_kind": None,
        "status": {"code": "UNSET", "message": ""},
        "severity_number": -2**31, "severity_text": "INFO",
        "attributes": [kv("nul", "a\x00b"), kv("big", -1e300)],
        "resource_attributes": [], "scope": None,
        "body": {"value": {"values": [kv("msg", "user logged in"), kv("attempt", -1)]}},
        "source": {"topic": "tracking.raw", "partition": 0, "offset": 0, "index": 0},
        "flags": [], **NULL_ENRICHMENT,
    }),
    "te-event.bin": ("TrackingEvent", {
        "event_id": "ffffffffffffffffffffffffffffffff", "kind": "EVENT",
        "trace_id": None, "span_id": None, "parent_span_id": None, "correlation_id": None,
        "name": "billing.charge", "service": "payment",
        "start_time_ns": 1, "end_time_ns": 1, "observed_time_ns": None, "span_kind": None,
        "status": {"code": "OK", "message": ""},
        "severity_number": None, "severity_text": None,
        "attributes": [], "resource_attributes": [], "scope": None, "body": None,
        "source": {"topic": "tracking.raw", "partition": 1, "offset": 7, "index": 0},
        "flags": [], **NULL_ENRICHMENT,
    }),
    "dead.bin": ("DeadLetter", {
        "reason": "invalid_json", "message": "line 1 column 2: unexpected token",
        "source": {"topic": "tracking.raw", "partition": 4, "offset": 99, "index": None},
        "worker": "normalizer", "attempts": 1, "raw": b"{\x80\x00garbage", "key": b"k1",
        "timestamp_ms": 1795000000123,
    }),
    "fate.bin": ("Fate", {
        "event_id": "5f1c7e1c0d6a4c1e9b1f2a3b4c5d6e7f",
        "source": {"topic": "tracking.normalized", "partition": 1, "offset": 500, "index": 0},
        "worker": "deduplicator", "fate": "deduplicated", "reason": "duplicate event_id",
        "policy": None,
        "related": {"topic": "tracking.normalized", "partition": 1, "offset": 200},
    }),
    "lineage.bin": ("LineageRecord", {
        "event_id": "5f1c7e1c0d6a4c1e9b1f2a3b4c5d6e7f",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "raw": {"topic": "tracking.raw", "partition": 2, "offset": 81234, "index": 5},
        "hops": [
            {"worker": "normalizer", "config_hash": "c0ffee", "topic": "tracking.normalized",
             "partition": 1, "offset": 500, "fate": None, "detail": None},
            {"worker": "deduplicator", "config_hash": "beef", "topic": "tracking.fates",
             "partition": 0, "offset": 17, "fate": "deduplicated",
             "detail": "first seen at tracking.normalized/1/200"},
        ],
    }),
}


def python_decodes_ours(registry):
    out_dir = os.path.join(WORK, "ours")
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run([os.path.join(TOOLS, "avro_write"), SCHEMAS, out_dir], check=True)
    for name, (subject, expected) in EXPECTED.items():
        with open(os.path.join(out_dir, name), "rb") as f:
            data = f.read()
        schema_id, schema = registry[(subject, 1)]
        assert data[0] == 0, f"{name}: magic byte {data[0]}"
        got_id = struct.unpack(">I", data[1:5])[0]
        assert got_id == schema_id, f"{name}: schema id {got_id}, expected {schema_id}"
        body = io.BytesIO(data[5:])
        value = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(body))
        assert body.tell() == len(data) - 5, f"{name}: {len(data) - 5 - body.tell()} bytes left"
        strict_eq(value, expected)
        print(f"python3-avro decoded {name} ({subject}, {len(data)} bytes): exact")
    return len(EXPECTED)


def wire(schema_id, schema, value):
    buf = io.BytesIO()
    buf.write(b"\x00" + struct.pack(">I", schema_id))
    avro.io.DatumWriter(schema).write(value, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def to_plain_json(value):
    """What bc_avro_to_json prints for a python3-avro value: bytes as code points 0-255."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return {k: to_plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain_json(v) for v in value]
    return value


def avro_read(directory, files):
    proc = subprocess.run([os.path.join(TOOLS, "avro_read"), directory] + files,
                          capture_output=True, text=True)
    lines = {}
    for line in proc.stdout.splitlines():
        path, status, rest = line.split(" ", 2)
        lines[os.path.basename(path)] = (status, rest)
    return proc.returncode, lines


def ours_decode_python(registry):
    in_dir = os.path.join(WORK, "theirs")
    os.makedirs(in_dir, exist_ok=True)
    # python3-avro resolves a union to the LAST branch a value fits (an int fits long and
    # double: it writes a double), so its AnyValues hold strings, bytes and null only.
    records = {
        "py-dead.bin": ("DeadLetter", EXPECTED["dead.bin"][1]),
        "py-fate.bin": ("Fate", EXPECTED["fate.bin"][1]),
        "py-lineage.bin": ("LineageRecord", EXPECTED["lineage.bin"][1]),
        "py-event.bin": ("TrackingEvent", dict(EXPECTED["te-event.bin"][1], attributes=[
            kv("s", "text \u2713"), kv("b", b"\xff\x00"), kv("n", None)])),
    }
    for name, (subject, value) in records.items():
        schema_id, schema = registry[(subject, 1)]
        with open(os.path.join(in_dir, name), "wb") as f:
            f.write(wire(schema_id, schema, value))
    rc, lines = avro_read(SCHEMAS, [os.path.join(in_dir, n) for n in records])
    assert rc == 0, lines
    for name, (subject, value) in records.items():
        status, text = lines[name]
        assert status == "ok", (name, status, text)
        strict_eq(json.loads(text), to_plain_json(value), name)
        print(f"our codec decoded {name} written by python3-avro: exact")

    # Evolution across implementations: Widget v1 from python3-avro, read as v2.
    evolution = load_manifest(EVOLUTION)
    v1_id, v1 = evolution[("Widget", 1)]
    widget = {"id": "w-9", "count": 12, "total": -5, "ratio": 0.25, "score": 2.5, "ok": False,
              "blob": b"ok", "nothing": None, "digest": b"\x01\x02\x03\x04", "color": "GREEN",
              "tags": [], "labels": {"x": 1}, "maybe": None, "choice": "txt",
              "legacy": [{"x": 1, "y": 1}]}
    path = os.path.join(in_dir, "py-widget-v1.bin")
    with open(path, "wb") as f:
        f.write(wire(v1_id, v1, widget))
    rc, lines = avro_read(EVOLUTION, [path])
    status, text = lines["py-widget-v1.bin"]
    assert rc == 0 and status == "ok", (status, text)
    strict_eq(json.loads(text), {
        "id": "w-9", "count": 12, "total": -5.0, "ratio": 0.25, "rating": 2.5, "ok": False,
        "blob": "ok", "nothing": None, "digest": "\x01\x02\x03\x04", "color": "GREEN",
        "tags": [], "labels": {"x": 1.0}, "maybe": None, "choice": "txt", "note": "none",
        "origin": {"x": 1, "y": 2, "z": -1}, "extra": None, "more_tags": ["a", "b"],
        "shade": "GREEN", "weights": {"k": 5}, "raw": "\xff\x01", "fallback": "dflt",
        "big": 9007199254740993, "half": 0.5, "yes": True})
    print("our codec read python3-avro's Widget v1 as v2 with v2's defaults: exact")
    return len(records) + 1


def errors_reported(registry):
    bad_dir = os.path.join(WORK, "bad")
    os.makedirs(bad_dir, exist_ok=True)
    schema_id, schema = registry[("Fate", 1)]
    good = wire(schema_id, schema, EXPECTED["fate.bin"][1])
    cases = {
        "magic.bin": (b"\x01" + good[1:], "bad_magic"),
        "json.bin": (b'{"event": "x"}', "bad_magic"),
        "empty.bin": (b"", "bad_magic"),
        "header.bin": (good[:3], "truncated"),
        "unknown.bin": (b"\x00\x00\x00\x30\x39" + good[5:], "unknown_id"),
        "truncated.bin": (good[:-4], "truncated"),
        "trailing.bin": (good + b"\x00", "trailing_bytes"),
        "branch.bin": (good[:5] + b"\x09" + good[6:], "malformed"),
    }
    files = []
    for name, (data, _) in cases.items():
        with open(os.path.join(bad_dir, name), "wb") as f:
            f.write(data)
        files.append(os.path.join(bad_dir, name))
    rc, lines = avro_read(SCHEMAS, files)
    assert rc == 1
    for name, (_, status) in cases.items():
        got, detail = lines[name]
        assert got == "error" and detail.split(" ")[0] == status, (name, got, detail)
        print(f"{name}: {detail}")
    return len(cases)


CRC64_EMPTY = 0xC15D213AA4D7A795


def crc64_avro(data):
    """The Avro specification's 64-bit Rabin fingerprint."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    fp = CRC64_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def fingerprints_match_python():
    """Our Parsing Canonical Form equals python3-avro's, and the manifests' fingerprints are
    the CRC-64-AVRO of it."""
    checked = 0
    for directory in (SCHEMAS, EVOLUTION, os.path.join(SCHEMAS, "test", "incompatible")):
        with open(os.path.join(directory, "manifest.json")) as f:
            entries = json.load(f)["schemas"]
        paths = [os.path.join(directory, e["file"]) for e in entries]
        out = subprocess.run([os.path.join(os.environ["BC_BIN"], "breadcrumb"), "schemas",
                              "fingerprint", "--canonical"] + paths,
                             check=True, capture_output=True, text=True).stdout.splitlines()
        for entry, path, line in zip(entries, paths, out):
            fingerprint, got_path, canonical = line.split(" ", 2)
            assert got_path == path, (got_path, path)
            with open(path) as f:
                expected = avro.schema.parse(f.read()).canonical_form
            assert canonical == expected, f"{path}:\n ours   {canonical}\n python {expected}"
            assert fingerprint == "%016x" % crc64_avro(expected.encode()), path
            assert entry["fingerprint"] == fingerprint, (path, entry["fingerprint"], fingerprint)
            checked += 1
    print(f"{checked} canonical forms equal python3-avro's; manifest fingerprints match")
    return checked


def main():
    registry = load_manifest(SCHEMAS)
    a = python_decodes_ours(registry)
    b = ours_decode_python(registry)
    c = errors_reported(registry)
    d = fingerprints_match_python()
    print(f"RESULT python3-avro decoded {a} records written by bc_avro exactly; bc_avro decoded "
          f"{b} written by python3-avro (one through v1->v2 evolution); {c} bad records reported")
    print(f"RESULT {d} schemas: Parsing Canonical Form equal to python3-avro's, fingerprints "
          f"match the manifests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
