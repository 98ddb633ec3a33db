"""The normalizer's core against the generator's ground truth, without Kafka: `breadcrumb gen
--out-dir` writes a mix of good records, malformed ones and exports with one bad span;
tests/tools/normalize_file runs every record through the core. Every record is accounted
for (events + dead letters = items + bad records), dead letters match the truth by reason,
span event ids are exactly the truth's, logs and events with an id field get the truth's
ids, ids shared by several outputs belong to identical content, keys follow the contract,
and a second run gives byte-identical output."""
import collections
import io
import json
import os
import subprocess
import sys

import avro.io
import avro.schema

import bclib
from bclib import check, fail

ROOT = os.environ.get("BC_ROOT", ".")
MAX_BYTES = 65536


def skip(why):
    print("RESULT skipped: " + why, flush=True)
    sys.exit(0)


def gen(out_dir):
    cmd = [os.path.join(bclib.BC_BIN, "breadcrumb"), "gen", "--out-dir", out_dir,
           "--records", "1500", "--bad-rate", "0.05", "--bad-span-rate", "0.05",
           "--max-bytes", str(MAX_BYTES), "--quiet"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    if p.returncode != 0:
        fail("breadcrumb gen exited %d: %s" % (p.returncode, p.stderr[-2000:]))


def normalize(records, dump):
    out = bclib.run_tool("normalize_file", "--option", "max_payload_bytes=%d" % MAX_BYTES,
                         "--dump", dump, records)
    return json.loads(out)


def test():
    probe = subprocess.run([os.path.join(bclib.BC_BIN, "breadcrumb"), "gen", "--help"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if probe.returncode != 0:
        skip("`breadcrumb gen` is not built yet")
    gen("gen")
    truth = json.load(open("gen/truth.json"))
    counts = truth["counts"]
    got = normalize("gen/tracking.raw.jsonl", "dump1.txt")

    check(got["records"] == counts["raw_records"],
          "records %d, truth %d" % (got["records"], counts["raw_records"]))
    check(got["unaccounted"] == [], "records without any outcome: %r" % got["unaccounted"][:10])
    items = counts["span_copies"] + counts["log_copies"] + counts["event_copies"]
    check(got["events"] == items, "events %d, truth items %d" % (got["events"], items))
    dlq = truth["dlq"]
    check(got["dead_letters"] == dlq["total"],
          "dead letters %d, truth %d" % (got["dead_letters"], dlq["total"]))
    check(got["by_reason"] == dlq["by_reason"],
          "by reason %r, truth %r" % (got["by_reason"], dlq["by_reason"]))
    # A bad span inside an export is a dead letter of that item (with its index), and so is a
    # field fault of a one-span export; everything else is a dead letter of the whole record.
    raw = open("gen/tracking.raw.jsonl").read().splitlines()
    item_level = 0
    for r in dlq["records"]:
        if r["scope"] == "span":
            item_level += 1
        elif r["reason"] in ("missing_field", "wrong_type", "invalid_id", "invalid_timestamp",
                             "invalid_enum") and "resourceSpans" in json.loads(raw[r["index"]])["value"]:
            item_level += 1
    check(got["item_dead_letters"] == item_level,
          "item dead letters %d, expected %d" % (got["item_dead_letters"], item_level))
    check(got["bad_keys"] == 0, "%d events keyed by neither trace id nor event id"
          % got["bad_keys"])

    ids = truth["unique_event_ids"]
    check(set(got["ids"]["span"]) == set(ids["span"]), "span event ids differ from the truth")
    check(set(ids["log"]) <= set(got["ids"]["log"]), "a log's log.record.uid id is missing")
    check(set(ids["event"]) <= set(got["ids"]["event"]), "an event's idempotency id is missing")

    # Several outputs with one id must be the same content (re-sent copies, duplicates):
    # the TrackingEvents are equal but for their source position.
    schema = avro.schema.parse(open(os.path.join(ROOT, "schemas/TrackingEvent.v1.avsc")).read())
    reader = avro.io.DatumReader(schema)
    by_id = collections.defaultdict(list)
    lines = open("dump1.txt").read().splitlines()
    for line in lines:
        parts = line.split()
        if parts[2] != "E":
            continue
        raw = bytes.fromhex(parts[4])
        check(raw[0] == 0 and int.from_bytes(raw[1:5], "big") == 1, "wire header")
        ev = reader.read(avro.io.BinaryDecoder(io.BytesIO(raw[5:])))
        check(ev["source"]["offset"] == int(parts[0]) and ev["source"]["index"] == int(parts[1]),
              "source position")
        ev.pop("source")
        by_id[ev["event_id"]].append(ev)
    shared = 0
    for event_id, evs in by_id.items():
        if len(evs) > 1:
            shared += 1
            for ev in evs[1:]:
                # Clock-skew correction depends on the copy's Kafka timestamp.
                a = {k: v for k, v in evs[0].items() if k not in ("start_time_ns", "end_time_ns", "flags")}
                b = {k: v for k, v in ev.items() if k not in ("start_time_ns", "end_time_ns", "flags")}
                check(a == b, "event id %s shared by different content" % event_id)

    # The same input again: byte-identical output.
    normalize("gen/tracking.raw.jsonl", "dump2.txt")
    check(open("dump2.txt").read().splitlines() == lines, "a second run differs")
    print("RESULT normalizer core on %d generated records: %d events + %d dead letters "
          "(%d inside good exports) = truth; %d ids shared by identical copies; second run "
          "byte-identical" % (got["records"], got["events"], got["dead_letters"],
                              got["item_dead_letters"], shared), flush=True)


bclib.main(test)
