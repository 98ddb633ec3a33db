#!/bin/sh
# breadcrumb-worker WORKER [ARGS...]: runs worker WORKER of /etc/breadcrumb/config/topology.yaml.
# The instance id must be stable across restarts (it names the transactional id that fences
# a zombie): BREADCRUMB_INSTANCE when set, else N-1 from the container name
# <project>_<service>_<N> that Docker Compose gives replica N (found by reverse DNS).
set -eu
worker=${1:?usage: breadcrumb-worker WORKER [ARGS...]}
shift
instance=${BREADCRUMB_INSTANCE:-}
if [ -z "$instance" ]; then
    name=$(getent hosts "$(hostname -i | cut -d' ' -f1)" | awk '{print $2}' | cut -d. -f1)
    n=${name##*[_-]}
    case "$n" in
    '' | *[!0-9]*) instance=$(hostname) ;;
    *) instance=$((n - 1)) ;;
    esac
fi
# Every replica serves /metrics on port 9464 (see topology.yaml).
var=BREADCRUMB_METRICS_PORT_$(echo "$worker" | tr 'a-z-' 'A-Z_')
case "$instance" in
*[!0-9]*) ;;
*) export "$var=$((9464 - instance))" ;;
esac
exec "/usr/local/bin/$worker" --config "${BREADCRUMB_TOPOLOGY:-/etc/breadcrumb/config/topology.yaml}" \
    --worker "$worker" --instance "$instance" "$@"
