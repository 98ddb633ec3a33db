#!/usr/bin/env bash
# Runs the integration tests: every tests/integration/NNNN-*.{sh,py,js} in order (or the
# ones named in $1.. by prefix), each in its own scratch directory under build/, each under
# a deadline. Prints one line per test and "N passed, N failed" at the end.
set -u
cd "$(dirname "$0")/../.."
export BC_ROOT=$PWD
export BC_BUILD=${BC_BUILD:-build/rel}
export BC_BIN=$BC_ROOT/bin
export BC_TEST_BIN=$BC_ROOT/$BC_BUILD/tests/tools
export PATH=$BC_BIN:$PATH
export NODE_PATH=$BC_ROOT/tests/node/node_modules
export PYTHONPATH=$BC_ROOT/tests/integration
export PYTHON=/usr/bin/python3
deadline=${BC_TEST_TIMEOUT:-300}
[ -n "${BC_LONG:-}" ] && deadline=${BC_TEST_TIMEOUT:-3000}

tests=()
for f in tests/integration/[0-9][0-9][0-9][0-9]-*; do
    [ -f "$f" ] || continue
    if [ $# -gt 0 ]; then
        keep=0
        for want in "$@"; do case "$(basename "$f")" in "$want"*) keep=1 ;; esac; done
        [ "$keep" = 1 ] || continue
    fi
    tests+=("$f")
done

passed=0
failed=0
failures=()
for t in "${tests[@]}"; do
    name=$(basename "$t")
    name=${name%.*}
    work=$BC_ROOT/build/itest/$name
    rm -rf "$work"
    mkdir -p "$work"
    case "$t" in
    *.sh) cmd=(bash "$BC_ROOT/$t") ;;
    *.py) cmd=("$PYTHON" "$BC_ROOT/$t") ;;
    *.js) cmd=(node "$BC_ROOT/$t") ;;
    *) continue ;;
    esac
    # A test may ask for a longer deadline with a line "# bc-deadline: SECONDS".
    limit=$(sed -n 's/^# bc-deadline: *\([0-9][0-9]*\).*/\1/p' "$t" | head -n 1)
    [ -n "$limit" ] && [ -z "${BC_TEST_TIMEOUT:-}" ] && [ "$limit" -gt "$deadline" ] || limit=$deadline
    start=$(date +%s)
    (cd "$work" && BC_WORK=$work timeout -k 10 "$limit" "${cmd[@]}") >"$work/output.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        printf 'PASS %-50s %4ds\n' "$name" "$secs"
        grep -E '^(RESULT|MEASURED)' "$work/output.log" | sed 's/^/     /'
    else
        failed=$((failed + 1))
        failures+=("$name")
        printf 'FAIL %-50s %4ds (exit %d)\n' "$name" "$secs" "$rc"
        tail -n 40 "$work/output.log" | sed 's/^/     | /'
    fi
    # Leave no process of the test behind (brokers, workers, clients).
    pkill -9 -f "$work" 2>/dev/null || true
done
echo "integration: ${failures[*]:-no failures}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
