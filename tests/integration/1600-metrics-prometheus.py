"""Metrics scraped by a real Prometheus: the copy stage (2 instances) and the count stage (a
state store, dead letters) serve /metrics, /healthz and /readyz; Debian's prometheus scrapes
them every second on loopback; its HTTP API must show breadcrumb_records_in_total summed per
worker equal to the input count, dead letters by reason equal to the keyless inputs,
records out equal to the input, and consumer lag 0 on every partition after the drain, one
lag series per partition across the copy instances after instance 1 joins instance 0.
`promtool check metrics` must accept every instance's exposition."""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import bclib
import eoslib

N = 3000
KEYLESS = 7
PARTS = 4


def free_port(count=1):
    """A loopback port p with p..p+count-1 all free (bound briefly to check)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        socks = []
        try:
            for i in range(count):
                t = socket.socket()
                socks.append(t)
                t.bind(("0.0.0.0", base + i))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    bclib.fail("no free port range")


def http_get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path; (0, '') when not listening."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


class Prometheus:
    def __init__(self, targets):
        self.port = free_port()
        self.dir = os.path.join(bclib.WORK, "prometheus")
        os.makedirs(self.dir, exist_ok=True)
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                    "scrape_configs:\n  - job_name: breadcrumb\n    static_configs:\n"
                    "      - targets: [%s]\n" % ", ".join("'127.0.0.1:%d'" % t for t in targets))
        self.log_path = os.path.join(bclib.WORK, "prometheus.log")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=log, stderr=log)
        log.close()
        bclib.wait_for(lambda: http_get(self.port, "/-/ready")[0] == 200, 60,
                       "prometheus to be ready", interval=0.2)

    def query(self, expr):
        """The single value of an instant vector query, or None when empty."""
        status, body = http_get(self.port, "/api/v1/query?query=" + urllib.parse.quote(expr))
        bclib.check(status == 200, "prometheus query %s: HTTP %d %s" % (expr, status, body[:200]))
        result = json.loads(body)["data"]["result"]
        if not result:
            return None
        return float(result[0]["value"][1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def run():
    if shutil.which("prometheus") is None:
        print("RESULT skipped: prometheus is not installed (make deps)", flush=True)
        return
    broker = bclib.Broker(args=["--topic", "in:%d" % PARTS, "--topic", "out:%d" % PARTS,
                                "--topic", "counts:%d" % PARTS,
                                "--topic", "p.count.counts.changelog:%d" % PARTS,
                                "--topic", "p.fates:1",
                                "--topic", "p.dlq:1"]).start()
    prom = None
    stages = []
    try:
        eoslib.skip_unless_transactions(broker)
        copy_port = free_port(2)
        count_port = free_port(1)
        for inst in ("0", "1"):
            stages.append(eoslib.Stage("copy", broker, inst, ["in"], {"out": "out"},
                                       env={"BREADCRUMB_METRICS_PORT": str(copy_port)}))
        stages.append(eoslib.Stage("count", broker, "0", ["in"], {"out": "counts"},
                                   env={"BREADCRUMB_METRICS_PORT": str(count_port)}))
        ports = [copy_port, copy_port + 1, count_port]
        # Copy instance 0 first, alone: it owns all four partitions (a lag series each), then
        # instance 1 joins and takes two; instance 0's series of those must disappear.
        stages[0].start()
        stages[2].start()

        def lag_series(port):
            return len(re.findall(r"^breadcrumb_consumer_lag_records\{", http_get(port, "/metrics")[1],
                                  re.M))
        bclib.wait_for(lambda: lag_series(copy_port) == PARTS, 60,
                       "copy instance 0 alone: lag of all %d partitions" % PARTS, interval=0.2)
        stages[1].start()
        # /readyz answers 503 until the producer is transaction-ready and stores restored.
        seen = {p: set() for p in ports}

        def all_ready():
            for p in ports:
                seen[p].add(http_get(p, "/readyz")[0])
            return all(200 in seen[p] for p in ports)
        bclib.wait_for(all_ready, 60, "every instance ready", interval=0.05)
        for p in ports:
            status, body = http_get(p, "/healthz")
            bclib.check(status == 200 and body == "ok\n", "/healthz on %d: %d %r" % (p, status, body))
            bclib.check(seen[p] <= {0, 503, 200}, "/readyz statuses %s" % seen[p])

        prom = Prometheus(ports)
        records = [(b"k%d" % (i % 97), b"v%d" % i) for i in range(N)]
        records += [(None, b"keyless%d" % i) for i in range(KEYLESS)]
        eoslib.produce(broker.bootstrap, "in", records)
        total = N + KEYLESS

        def q_equals(expr, want):
            return lambda: prom.query(expr) == want
        bclib.wait_for(q_equals('sum(breadcrumb_records_in_total{worker="copy"})', total), 90,
                       "prometheus: copy records in == %d" % total, interval=0.5)
        bclib.wait_for(q_equals('sum(breadcrumb_records_in_total{worker="count"})', total), 90,
                       "prometheus: count records in == %d" % total, interval=0.5)
        bclib.wait_for(q_equals('sum(breadcrumb_records_dead_lettered_total{worker="count",'
                                'reason="missing_field"})', KEYLESS), 30,
                       "prometheus: dead letters by reason == %d" % KEYLESS, interval=0.5)
        aborts = prom.query('sum(breadcrumb_transactions_aborted_total)')
        out = prom.query('sum(breadcrumb_records_out_total{worker="copy",topic="out"})')
        if aborts == 0:
            bclib.check(out == total, "copy records out %s == %d" % (out, total))
        else:
            bclib.check(out >= total, "copy records out %s >= %d" % (out, total))
        bclib.wait_for(q_equals('count(breadcrumb_consumer_lag_records{worker="copy"})', PARTS),
                       60, "one lag series per partition across the instances after the rebalance",
                       interval=0.5)
        bclib.check(lag_series(copy_port) == PARTS // 2 and lag_series(copy_port + 1) == PARTS // 2,
                    "each copy instance shows the lag of its own %d partitions" % (PARTS // 2))
        bclib.wait_for(q_equals('max(breadcrumb_consumer_lag_records)', 0), 60,
                       "prometheus: consumer lag 0 after the drain", interval=0.5)
        entries = prom.query('sum(breadcrumb_store_entries{worker="count",store="counts"})')
        bclib.check(entries == 97, "count store entries %s == 97 keys" % entries)
        commits = prom.query('sum(breadcrumb_commit_latency_seconds_count{worker="copy"})')
        bclib.check(commits is not None and commits >= 1, "commit latency observed")

        promtool = shutil.which("promtool")
        for p in ports:
            status, text = http_get(p, "/metrics")
            bclib.check(status == 200, "/metrics on %d" % p)
            if promtool:
                r = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                bclib.check(r.returncode == 0, "promtool check metrics on %d:\n%s" % (p, r.stdout))
        for s in stages:
            bclib.check(s.stop() == 0, "%s/%s exits 0 on SIGTERM" % (s.worker, s.instance))
        # Logs carry offsets, ids and reasons, never record payloads.
        for s in stages:
            log = s.log()
            for _k, v in records[::97] + records[-KEYLESS:]:
                bclib.check(v.decode() not in re.findall(r"[a-z]+\d+", log),
                            "%s/%s log holds a record value %r" % (s.worker, s.instance, v))
        print("RESULT prometheus: %d records in per worker, lag 0 on %d partitions, "
              "promtool %s" % (total, PARTS, "ok" if promtool else "not available"), flush=True)
    finally:
        for s in stages:
            if s.proc is not None and s.proc.poll() is None:
                s.kill9()
        if prom is not None:
            prom.stop()
        broker.kill()


bclib.main(run)
