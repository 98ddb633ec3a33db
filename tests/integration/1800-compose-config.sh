#!/usr/bin/env bash
# compose/: the Compose file passes Debian's `docker-compose config` (no engine needed), runs
# the six workers with the topology's replicas, Prometheus scrapes each of them; the
# Dockerfile installs only packages of the Makefile's DEB_PACKAGES (and, at run time, the
# libraries those depend on); compose/topology.yaml is config/topology.yaml plus metrics ports;
# the workers use the schema registry; the systemd unit starts every worker with a drop-in.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
C=$BC_ROOT/compose

command -v docker-compose >/dev/null || fail "docker-compose missing (make deps)"
docker-compose -f "$C/docker-compose.yml" config >resolved.yml || fail "docker-compose config"

# Replicas and scrape targets agree with the topology.
"$PYTHON" - "$C" resolved.yml <<'PY' || exit 1
import sys, yaml
c, resolved = sys.argv[1], sys.argv[2]
topo = yaml.safe_load(open(c + "/topology.yaml"))
comp = yaml.safe_load(open(resolved))["services"]
for s in ("kafka", "schema-registry", "topics", "prometheus", "grafana", *topo["workers"]):
    assert s in comp, ("no service", s)
prom = yaml.safe_load(open(c + "/prometheus.yml"))
names = prom["scrape_configs"][0]["dns_sd_configs"][0]["names"]
assert prom["scrape_configs"][0]["dns_sd_configs"][0]["port"] == 9464
for w, spec in topo["workers"].items():
    s = comp[w]
    assert s["image"] == "breadcrumb:latest", w
    assert s["command"] == [w], (w, s["command"])
    assert s["deploy"]["replicas"] == spec.get("replicas", 1), (w, s["deploy"])
    assert s["environment"]["BREADCRUMB_KAFKA"] == "kafka:9092", w
    assert s["environment"]["BREADCRUMB_REGISTRY"] == "http://schema-registry:8081", w
    assert w in names, ("not scraped", w)
assert sorted(names) == sorted(topo["workers"]), names
assert comp["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
assert comp["kafka"]["image"].startswith("apache/kafka:")
print("RESULT compose: %d workers, %d replicas, all scraped" %
      (len(names), sum(v.get("replicas", 1) for v in topo["workers"].values())))
PY
if command -v promtool >/dev/null; then
    promtool check config "$C/prometheus.yml" >/dev/null || fail "promtool check config"
fi
sh -n "$C/entrypoint.sh" || fail "entrypoint.sh syntax"
dash=$C/grafana/breadcrumb-pipeline.json
if [ -f "$dash" ]; then
    "$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1]))' "$dash" || fail "dashboard JSON"
fi

# compose/topology.yaml = config/topology.yaml + one metrics_port line per worker.
grep -v '^#' "$C/topology.yaml" | grep -v '^    metrics_port: ${BREADCRUMB_METRICS_PORT_' >stripped.yaml
diff -u <(grep -v '^#' "$BC_ROOT/config/topology.yaml") stripped.yaml ||
    fail "compose/topology.yaml drifted from config/topology.yaml (run compose/sync-topology.sh)"
cp -r "$BC_ROOT/compose" "$BC_ROOT/config" . && sh compose/sync-topology.sh &&
    cmp -s compose/topology.yaml "$C/topology.yaml" || fail "run compose/sync-topology.sh"
[ "$(grep -c '^    metrics_port: ' "$C/topology.yaml")" = 6 ] || fail "six metrics ports"
breadcrumb validate --quiet "$C/topology.yaml" || fail "compose/topology.yaml invalid"
BREADCRUMB_METRICS_PORT_ROUTER=9463 breadcrumb validate --quiet "$C/topology.yaml" ||
    fail "compose/topology.yaml invalid with a replica's port"

# The Dockerfile's packages against the Makefile's list.
deb=" $(make -s -C "$BC_ROOT" -f Makefile -f - print-deb-packages <<<'print-deb-packages: ; @echo $(DEB_PACKAGES)') "
arg() { sed -n "/^ARG $1=\"/,/\"\$/p" "$C/Dockerfile" | sed -e "s/^ARG $1=\"//" -e 's/[\\"]//g' | tr '\n' ' '; }
build=$(arg BUILD_PACKAGES)
run=$(arg RUN_PACKAGES)
[ -n "$build" ] && [ -n "$run" ] || fail "no BUILD_PACKAGES/RUN_PACKAGES in the Dockerfile"
for p in $build; do
    case "$deb" in *" $p "*) ;; *) fail "Dockerfile builds with $p, not in DEB_PACKAGES" ;; esac
done
for p in $deb; do
    case $p in libcmocka-dev) ;; # unit tests only
    lib*-dev)
        case " $build " in *" $p "*) ;; *) fail "DEB_PACKAGES has $p, the Dockerfile not" ;; esac ;;
    esac
done
# One apt-cache call for every package (each call reads the whole cache: seconds apiece).
if command -v apt-cache >/dev/null && tree=$(apt-cache depends $build 2>/dev/null) &&
    grep -q '^librdkafka-dev$' <<<"$tree"; then
    deps=" ca-certificates $(awk '$1 == "Depends:" {print $2}' <<<"$tree" | tr '\n' ' ') "
    for p in $run; do
        case "$deps" in *" $p "*) ;; *) fail "run stage installs $p, no dependency of the build packages" ;; esac
    done
    # "PACKAGE LIB" for every runtime library a -dev package depends on.
    awk '/^[^ ]/ {pkg = $1} $1 == "Depends:" && pkg ~ /^lib.*-dev$/ && $2 ~ /^(lib|zlib)/ &&
         $2 !~ /-dev$/ && $2 !~ /\+\+/ {print pkg, $2}' <<<"$tree" >libs.txt
    while read -r d l; do
        case " $run " in *" $l "*) ;; *) fail "run stage lacks $l (for $d)" ;; esac
    done <libs.txt
    [ -s libs.txt ] || fail "apt-cache listed no runtime library of the build packages"
fi
echo "RESULT dockerfile: $(wc -w <<<"$build") build packages in DEB_PACKAGES, $(wc -w <<<"$run") run packages"

# systemd: the unit's instance name WORKER-ID splits into the worker and the id, and every
# worker has a drop-in with its memory bound.
script=$(sed -n "s|^ExecStart=/bin/sh -c '\(.*\)'\$|\1|p" "$C/systemd/breadcrumb@.service")
[ -n "$script" ] || fail "systemd ExecStart is not /bin/sh -c '...'"
for w in $("$PYTHON" -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["workers"]))' "$C/topology.yaml"); do
    # systemd turns %i into the instance, %% into % and $$ into $ before /bin/sh runs it.
    cmd=$(printf '%s' "$script" | sed -e "s/%i/$w-1/g" -e 's/%%/%/g' -e 's/\$\$/$/g' \
        -e 's|exec "/usr/local/bin/|echo "|')
    got=$(sh -c "$cmd")
    [ "$got" = "$w --config /etc/breadcrumb/config/topology.yaml --worker $w --instance 1" ] ||
        fail "systemd ExecStart for $w-1 runs: $got"
    grep -q '^MemoryMax=[0-9]*[MG]$' "$C/systemd/breadcrumb@$w-.service.d/$w.conf" ||
        fail "no systemd drop-in with MemoryMax for $w"
done
echo "RESULT systemd: breadcrumb@WORKER-ID starts each of the six workers, each with a MemoryMax drop-in"
