#!/usr/bin/env bash
# Runs the cmocka unit-test binaries given as arguments, BC_UNIT_JOBS (default 2) at a time:
# they share nothing (each mock-cluster test starts its own cluster on a free port). Each
# binary's output is kept apart and printed whole when it ends, under its name and duration.
# The slow ones (mock-cluster tests, mostly waiting on the mock's timers) start first.
# Exits non-zero if any failed.
set -u
jobs=${BC_UNIT_JOBS:-2}
slow_first="test_runtime test_tail_sampler_stage test_router_stage test_gen test_gen_out"
ordered=()
for s in $slow_first; do
    for t in "$@"; do [ "$(basename "$t")" = "$s" ] && ordered+=("$t"); done
done
for t in "$@"; do
    case " $slow_first " in *" $(basename "$t") "*) ;; *) ordered+=("$t") ;; esac
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
declare -A name_of
failed=0

# Prints the output of the binary whose job `pid` ended with status `rc`.
report() {
    local pid=$1 rc=$2 t=${name_of[$1]}
    local n
    n=$(basename "$t")
    echo "== unit: $n ($(( $(date +%s) - $(cat "$out/$n.start") ))s)"
    cat "$out/$n.log"
    if [ "$rc" -ne 0 ]; then
        echo "FAILED: $t"
        failed=$((failed + 1))
    fi
}

running=0
for t in "${ordered[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n -p done_pid
        report "$done_pid" $?
        running=$((running - 1))
    fi
    n=$(basename "$t")
    date +%s >"$out/$n.start"
    "$t" >"$out/$n.log" 2>&1 &
    name_of[$!]=$t
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n -p done_pid
    report "$done_pid" $?
    running=$((running - 1))
done
echo "unit test binaries: $(( $# - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
