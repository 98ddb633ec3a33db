#!/usr/bin/env bash
# `breadcrumb validate` on router rules: the router's own compiler runs, every problem is
# reported as FILE:LINE:COL (unknown field, type mismatch, undeclared target, unreachable
# rule after a catch-all, bad regex), exit 1; the fixed file validates clean.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }

cat >rules.yaml <<'YAML'
pipeline: shop
topics:
  shop.sampled: {}
  shop.dlq: {}
  sink.security: {}
  sink.default: {}
workers:
  router:
    input: shop.sampled
    options:
      rules:
        - name: security
          when: {attributes.security.event: {exists: true}, nmae: x}
          to: [sink.security, sink.siem]
        - name: slow
          when: {name: {gt: 2s}, service: {regex: "a(b"}}
          to: sink.security
        - name: everything
          to: sink.default
        - name: spans
          when: {kind: span}
          to: sink.default
      default: sink.default
YAML
set +e
breadcrumb validate rules.yaml >out.txt 2>err.txt
rc=$?
set -e
[ "$rc" = 1 ] || fail "exit $rc, want 1"
[ ! -s out.txt ] || fail "stdout: $(cat out.txt)"
cat >want.txt <<'TXT'
rules.yaml:13:61: error: workers.router.options.rules: unknown field 'nmae' (a TrackingEvent field such as name, service, kind, status, duration, severity, tier, or attributes.<key>, resource.<key>)
rules.yaml:14:31: error: workers.router.options.rules: topic 'sink.siem' is not declared in topics
rules.yaml:16:29: error: workers.router.options.rules: name: gt compares numbers, but name is a string field
rules.yaml:16:51: error: workers.router.options.rules: service: bad regex 'a(b': Unmatched ( or \(
rules.yaml:20:17: error: workers.router.options.rules: rule 'spans' is unreachable: rule 'everything' (line 18) matches everything before it
rules.yaml: 5 errors
TXT
diff -u want.txt err.txt || fail "errors differ"

# Fixed: clean.
sed -i -e 's/, nmae: x//' -e 's/, sink.siem//' -e 's/{gt: 2s}/{prefix: GET}/' \
    -e 's/"a(b"/"^a(b)?$"/' -e '/name: everything/,/to: sink.default/d' rules.yaml
out=$(breadcrumb validate rules.yaml) || fail "fixed file: $out"
[ "$out" = "rules.yaml: ok: pipeline shop, 4 topics, 1 workers" ] || fail "summary: $out"
echo "RESULT router validate: 5 rule errors at file:line:column, clean once fixed"
