"""`breadcrumb gen --brokers` against breadcrumb-broker: every record of the file output of
the same seed arrives on the topics, with its key, value (empty values stay empty) and
timestamp; oversized records pass because tracking.raw allows 2 MiB records.
Skipped (exit 0, RESULT line) while bin/breadcrumb-broker is not part of the build."""
import base64
import json
import os
import subprocess
import sys
import time

from confluent_kafka import Consumer, TopicPartition

BIN = os.environ["BC_BIN"]
broker_bin = os.path.join(BIN, "breadcrumb-broker")
if not os.path.exists(broker_bin):
    print("RESULT gen-kafka: skipped, no breadcrumb-broker in this build")
    sys.exit(0)

work = os.environ["BC_WORK"]
port_file = os.path.join(work, "broker.port")
broker = subprocess.Popen(
    [broker_bin, "--listen", "127.0.0.1:0", "--port-file", port_file,
     "--data-dir", os.path.join(work, "broker-data"),
     "--topic", "tracking.raw:3:max.message.bytes=2097152", "--topic", "tracking.deploys:1",
     "--log-level", "warn"])
try:
    deadline = time.time() + 30
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        if time.time() > deadline or broker.poll() is not None:
            sys.exit("broker did not start")
        time.sleep(0.05)
    brokers = "127.0.0.1:" + open(port_file).read().strip()

    args = ["--seed", "77", "--records", "5000", "--bad-rate", "0.05", "--quiet"]
    subprocess.run([os.path.join(BIN, "breadcrumb"), "gen", "--brokers", brokers,
                    "--truth", "truth-kafka.json"] + args, check=True, timeout=120)
    subprocess.run([os.path.join(BIN, "breadcrumb"), "gen", "--out-dir", "files"] + args,
                   check=True, timeout=120)

    def expected(path):
        out = []
        for line in open(path):
            r = json.loads(line)
            value = (r["value"].encode() if "value" in r
                     else base64.b64decode(r["value_b64"]))
            key = r["key"].encode() if r["key"] is not None else None
            out.append((key, value, r["timestamp_ms"]))
        return sorted(out, key=repr)

    def consume(topic, partitions, n):
        c = Consumer({"bootstrap.servers": brokers, "group.id": "gen-check",
                      "enable.auto.commit": False})
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got = []
        deadline = time.time() + 60
        while len(got) < n and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got.append((m.key(), m.value(), m.timestamp()[1]))
        c.close()
        return sorted(got, key=repr)

    for topic, partitions in (("tracking.raw", 3), ("tracking.deploys", 1)):
        want = expected(os.path.join("files", topic + ".jsonl"))
        got = consume(topic, partitions, len(want))
        assert len(got) == len(want), (topic, len(got), len(want))
        assert got == want, topic + ": records differ from the file output"
    truth_files = json.load(open("files/truth.json"))
    truth_kafka = json.load(open("truth-kafka.json"))
    assert truth_files == truth_kafka
    print("RESULT gen-kafka: %d raw records (%d oversized) and %d deploys delivered as written"
          % (truth_kafka["counts"]["raw_records"], truth_kafka["dlq"]["by_reason"]["oversized"],
             truth_kafka["counts"]["deploy_records"]))
finally:
    broker.terminate()
    broker.wait(timeout=30)
