#!/usr/bin/env bash
# `breadcrumb gen --out-dir` twice with the same seed writes the same bytes (records, deploys,
# truth); another seed writes other bytes; the files hold what the truth counts.
set -euo pipefail

gen() { "$BC_BIN/breadcrumb" gen --quiet --records 3000 "$@"; }

gen --seed 42 --out-dir a
gen --seed 42 --out-dir b
gen --seed 43 --out-dir c

for f in tracking.raw.jsonl tracking.deploys.jsonl truth.json; do
    cmp "a/$f" "b/$f"
done
if cmp -s a/tracking.raw.jsonl c/tracking.raw.jsonl; then
    echo "seeds 42 and 43 wrote the same records" >&2
    exit 1
fi

"$PYTHON" - <<'PY'
import base64, json
truth = json.load(open("a/truth.json"))
raw = [json.loads(line) for line in open("a/tracking.raw.jsonl")]
deploys = [json.loads(line) for line in open("a/tracking.deploys.jsonl")]
counts = truth["counts"]
assert len(raw) == counts["raw_records"] >= 3000, (len(raw), counts["raw_records"])
assert len(deploys) == counts["deploy_records"] >= 20, len(deploys)
for d in deploys:
    value = json.loads(d["value"])
    assert d["key"] == value["deploy_id"], d
# Every DLQ entry points at a record: empty, non-UTF-8 (value_b64) or otherwise bad.
for entry in truth["dlq"]["records"]:
    rec = raw[entry["index"]]
    if entry["reason"] == "empty":
        assert rec["value"] == "", rec
    elif entry["reason"] == "not_utf8":
        assert "value_b64" in rec and base64.b64decode(rec["value_b64"]), rec
ts = [r["timestamp_ms"] for r in raw]
assert ts == sorted(ts), "records are not in time order"
print("RESULT gen-files: %d raw records, %d deploys, %d DLQ, %d spans, identical twice"
      % (len(raw), len(deploys), truth["dlq"]["total"], counts["spans"]))
PY

# Full size (make test-long): 200,000 records, still identical twice.
if [ -n "${BC_LONG:-}" ]; then
    start=$(date +%s)
    "$BC_BIN/breadcrumb" gen --quiet --records 200000 --seed 42 --out-dir big1
    secs=$(( $(date +%s) - start ))
    "$BC_BIN/breadcrumb" gen --quiet --records 200000 --seed 42 --out-dir big2
    for f in tracking.raw.jsonl tracking.deploys.jsonl truth.json; do
        cmp "big1/$f" "big2/$f"
    done
    echo "MEASURED gen-files: 200000 records to files in ${secs} s"
    rm -rf big1 big2
fi
