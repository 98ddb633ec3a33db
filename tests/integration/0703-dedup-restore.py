"""Deduplicator measurements for README (BC_LONG=1 only; skipped otherwise): bytes per
remembered key (store accounting, and the worker's resident memory with KEYS keys against
an empty store) and the time to restore KEYS keys from the `seen` changelog on start (from
the runtime's "partitions assigned" to the stage's "partition restored" log lines)."""
import datetime
import os
import re
import sys
import time

from confluent_kafka import Producer

import bclib
import deduplib
import eoslib

KEYS = int(os.environ.get("BC_DEDUP_KEYS", "1000000"))
PARTS = 1


def log_time(line):
    m = re.search(r"ts=(\S+)Z", line)
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_and_measure(broker, topology, instance, keys):
    """Starts a worker, waits for its restore, returns (restore seconds, RSS KiB)."""
    w = deduplib.Worker(broker, topology, instance).start()
    pattern = 'msg="partition restored" partition=0 store_keys=%d ' % keys
    bclib.wait_for(lambda: pattern in w.log(), 600, "the restore of %d keys" % keys,
                   interval=0.2)
    lines = w.log().splitlines()
    assigned = [log_time(x) for x in lines if 'msg="partitions assigned"' in x][-1]
    restored = [log_time(x) for x in lines if pattern in x][-1]
    time.sleep(1.0)  # let allocator and fetch queues settle before reading RSS
    rss = rss_kib(w.proc.pid)
    bclib.check(w.stop() == 0, "worker %s exits 0" % instance)
    return restored - assigned, rss


def run():
    if not os.environ.get("BC_LONG"):
        print("RESULT skipped: measurements run with BC_LONG=1", flush=True)
        sys.exit(0)
    broker = deduplib.start_broker(PARTS)
    try:
        eoslib.skip_unless_transactions(broker)
        topology = deduplib.write_topology(PARTS, window="7d", max_bytes="1GiB")
        _t0, rss_empty = start_and_measure(broker, topology, "empty", 0)
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 50,
                      "batch.num.messages": 10000, "queue.buffering.max.messages": 500000})
        base = 1795737600000
        for i in range(KEYS):
            key = i.to_bytes(8, "big") * 2
            value = (0).to_bytes(4, "big") + i.to_bytes(8, "big")
            while True:
                try:
                    p.produce("tracking.deduplicator.seen.changelog", key=key, value=value,
                              partition=0, timestamp=base + i // 100)
                    break
                except BufferError:
                    p.poll(0.05)
        bclib.check(p.flush(120) == 0, "changelog written")
        secs, rss_full = start_and_measure(broker, topology, "full", KEYS)
        per_key = (rss_full - rss_empty) * 1024.0 / KEYS
        print("MEASURED dedup store: 92 B per key accounted (16 B digest + 12 B first "
              "position + 64 B entry overhead); worker RSS %d MiB with %d keys vs %d MiB "
              "empty: %.0f B per key resident" % (rss_full // 1024, KEYS, rss_empty // 1024,
                                                  per_key), flush=True)
        print("MEASURED dedup restore: %d keys from the changelog in %.1f s (%.0f keys/s)"
              % (KEYS, secs, KEYS / secs if secs > 0 else 0), flush=True)
        print("RESULT dedup measurements: %.0f B/key resident, %d keys restored in %.1f s"
              % (per_key, KEYS, secs))
    finally:
        broker.kill()


bclib.main(run)
