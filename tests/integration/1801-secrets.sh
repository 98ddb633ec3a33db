#!/usr/bin/env bash
# Secrets: SASL settings from the environment reach librdkafka, and the password appears in
# no output of validate, topics or a worker (every line of stdout and stderr is searched);
# a literal password is rejected by validate, without printing it.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
unset BREADCRUMB_KAFKA BREADCRUMB_PROFILE BREADCRUMB_REGISTRY BREADCRUMB_LOG_LEVEL || true

secret="s3cr3t-$RANDOM$RANDOM-pw"
export BC_SASL_USER=svc-breadcrumb BC_SASL_PASSWORD=$secret BREADCRUMB_LOG_LEVEL=debug
sed -e 's/^    protocol: plaintext$/    protocol: sasl_ssl\n    sasl_mechanism: SCRAM-SHA-512\n    username: ${BC_SASL_USER}\n    password: ${BC_SASL_PASSWORD}\n    ca_file: \/etc\/ssl\/certs\/ca-certificates.crt/' \
    -e "s|dir: ../schemas|dir: $BC_ROOT/schemas|" -e "s|config/services.yaml|$BC_ROOT/config/services.yaml|" \
    "$BC_ROOT/config/topology.yaml" >sasl.yaml
grep -q 'password: ${BC_SASL_PASSWORD}' sasl.yaml || fail "topology not rewritten"

# Closed loopback port: every client fails to connect (and would need SASL if it did).
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
: >all.txt
run() { # run CMD...: appends its stdout and stderr to all.txt, whatever its exit code
    local rc=0
    timeout -k 2 -s INT 4 "$@" >>all.txt 2>&1 || rc=$?
    echo "rc=$rc: $*" >>runs.txt
}
run breadcrumb validate sasl.yaml
run breadcrumb validate --verbose sasl.yaml
run breadcrumb topics create sasl.yaml --brokers "127.0.0.1:$port" --timeout-ms 2000
run "$BC_BIN/normalizer" --config sasl.yaml --worker normalizer --instance 0 --brokers "127.0.0.1:$port"
run "$BC_BIN/router" --config sasl.yaml --worker router --instance 1 --brokers "127.0.0.1:$port"
grep -q "sasl.yaml: ok" all.txt || fail "validate did not pass: $(head -5 all.txt)"
[ "$(wc -l <all.txt)" -ge 2 ] || fail "no output to search"
if grep -nF -- "$secret" all.txt; then fail "the password appears in the output above"; fi
echo "RESULT secrets: $(wc -l <all.txt) output lines of $(wc -l <runs.txt) runs, no password"

# A literal password: rejected at its line, the value never printed.
sed "s|password: \${BC_SASL_PASSWORD}|password: $secret|" sasl.yaml >literal.yaml
rc=0
breadcrumb validate literal.yaml >lit.out 2>lit.err || rc=$?
[ "$rc" = 1 ] || fail "literal password: exit $rc"
line=$(grep -n "password: $secret" literal.yaml | cut -d: -f1)
grep -q "^literal.yaml:$line:[0-9]*: .*a literal password is not allowed" lit.err ||
    fail "literal password error: $(cat lit.err)"
if grep -F -- "$secret" lit.out lit.err; then fail "validate printed the literal password"; fi
# A quoted reference with a default counts as a reference; a password with text around one not.
sed "s|password: \${BC_SASL_PASSWORD}|password: x\${BC_SASL_PASSWORD}|" sasl.yaml >mixed.yaml
breadcrumb validate mixed.yaml >/dev/null 2>mixed.err && fail "password with a literal part accepted"
if grep -F -- "$secret" mixed.err; then fail "validate printed the password"; fi
echo "RESULT literal password rejected without printing it"

# The schema registry's password (schemas.password) follows the same rule.
sed "s|^  dir: $BC_ROOT/schemas|  dir: $BC_ROOT/schemas\n  username: svc\n  password: $secret|" \
    sasl.yaml >reglit.yaml
grep -q "^  password: $secret" reglit.yaml || fail "registry topology not rewritten"
rc=0
breadcrumb validate reglit.yaml >reg.out 2>reg.err || rc=$?
line=$(grep -n "^  password: $secret" reglit.yaml | cut -d: -f1)
[ "$rc" = 1 ] && grep -q "^reglit.yaml:$line:[0-9]*: error: schemas.password: a literal password" reg.err ||
    fail "literal registry password: exit $rc, $(cat reg.err)"
if grep -F -- "$secret" reg.out reg.err; then fail "validate printed the registry password"; fi
sed "s|^  password: $secret|  password: \${BC_SASL_PASSWORD}|" reglit.yaml >regenv.yaml
breadcrumb validate regenv.yaml >regenv.out 2>&1 || fail "registry password reference: $(cat regenv.out)"
if grep -F -- "$secret" regenv.out; then fail "validate printed the registry password"; fi
echo "RESULT registry password: a literal rejected at its line, a \${VAR} accepted, never printed"
