#!/usr/bin/env bash
# Runs each cmocka unit-test binary given as an argument; exits non-zero if any failed.
set -u
failed=0
for t in "$@"; do
    echo "== unit: $(basename "$t")"
    if ! "$t"; then
        echo "FAILED: $t"
        failed=$((failed + 1))
    fi
done
echo "unit test binaries: $(( $# - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
