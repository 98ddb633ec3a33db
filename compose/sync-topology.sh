#!/bin/sh
# Writes compose/topology.yaml from config/topology.yaml: the same pipeline plus a
# metrics_port per worker (after its replicas line). Run it after changing the topology;
# tests/integration/1800-compose-config.sh fails while the two differ otherwise.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
{
    cat <<'HEAD'
# config/topology.yaml for compose/ (a test keeps them in sync): the same pipeline, with
# metrics_port on every worker. In a container, entrypoint.sh sets its worker's variable to
# 9464 - instance, so that every replica serves /metrics on port 9464 (instance i listens on
# metrics_port + i) and Prometheus finds them all by DNS.
HEAD
    awk 'BEGIN { p = 9100 }
        /^  [a-z-]+:$/ { w = $1; sub(":", "", w) }
        { print }
        /^    replicas: [0-9]+/ {
            v = toupper(w); gsub("-", "_", v)
            print "    metrics_port: ${BREADCRUMB_METRICS_PORT_" v ":-" p "}   # compose: see entrypoint.sh"
            p += 10
        }' "$root/config/topology.yaml"
} >"$root/compose/topology.yaml.new"
mv "$root/compose/topology.yaml.new" "$root/compose/topology.yaml"
