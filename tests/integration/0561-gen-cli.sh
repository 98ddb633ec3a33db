#!/usr/bin/env bash
# `breadcrumb gen` as a command: --rate paces on the wall clock, --duration bounds the run,
# the progress line appears (and --quiet hides it), usage errors exit 2.
set -euo pipefail
bc=$BC_BIN/breadcrumb

# Usage errors.
for args in "--bogus" "--out-dir x --error-rate 2" "--out-dir x --services 9" "--records 5"; do
    set +e
    env -u BREADCRUMB_BROKERS "$bc" gen $args 2>err.txt
    rc=$?
    set -e
    if [ "$rc" -ne 2 ]; then
        echo "gen $args: exit $rc, want 2" >&2
        cat err.txt >&2
        exit 1
    fi
done

# --rate 400 --duration 2: at least ~2 s of wall clock, never faster than the rate allows
# (a burst of rate/20 records at most), and a progress line on stderr.
start=$(date +%s%N)
"$bc" gen --out-dir paced --rate 400 --duration 2 --seed 9 2>progress.txt
end=$(date +%s%N)
grep -q '^gen: .* raw records' progress.txt
grep -q '^gen: done:' progress.txt
"$PYTHON" - "$start" "$end" <<'PY'
import json, sys
elapsed = (int(sys.argv[2]) - int(sys.argv[1])) / 1e9
n = sum(1 for _ in open("paced/tracking.raw.jsonl"))
truth = json.load(open("paced/truth.json"))
assert truth["counts"]["raw_records"] == n, (truth["counts"]["raw_records"], n)
assert elapsed >= 1.9, elapsed
assert n <= 400 * elapsed + 20 + 1, (n, elapsed)
assert n >= 100, n
print("RESULT gen-cli: %d records in %.2f s at --rate 400" % (n, elapsed))
PY

# --quiet: nothing on stderr.
"$bc" gen --out-dir quiet --traces 50 --quiet 2>quiet.txt
[ ! -s quiet.txt ]
