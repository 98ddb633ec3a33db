"""breadcrumb-broker part 1: --topology FILE creates the topics of a topology (declared
under `topics:`, with ${VAR:-default} substitution, durations and sizes, and the derived
`<pipeline>.fates`), leaves existing ones alone on restart, and refuses a bad file with
every error at file:line:column, as `breadcrumb validate` reports them."""
import os
import subprocess

from confluent_kafka.admin import AdminClient, ConfigResource

import bclib
from bclib import check

TOPOLOGY = """
pipeline: t
kafka: {brokers: embedded}
topics:
  a.raw:      {partitions: "${A_PARTS:-4}", retention: 7d, retention_bytes: 1GiB}
  a.table:    {partitions: 1, cleanup: compact, delete_retention: 1d,
               configs: {segment.bytes: 1048576}}
  a.plain:
workers:
  normalizer: {input: a.raw, outputs: {normalized: a.plain, dlq: a.table}}
"""


def test():
    path = os.path.join(bclib.WORK, "topology.yaml")
    with open(path, "w") as f:
        f.write(TOPOLOGY)
    broker = bclib.Broker(args=["--topology", path]).start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    md = admin.list_topics(timeout=10)
    check(sorted(md.topics) == ["a.plain", "a.raw", "a.table", "t.fates"],
          "topics: %r" % sorted(md.topics))
    check(len(md.topics["t.fates"].partitions) == 4, "fates: the largest partition count")
    check(len(md.topics["a.raw"].partitions) == 4, "default of ${A_PARTS:-4}")
    res = admin.describe_configs([ConfigResource("topic", "a.raw"), ConfigResource("topic", "a.table")])
    raw, table = [f.result() for f in res.values()]
    check(raw["retention.ms"].value == str(7 * 86400000), "retention 7d")
    check(raw["retention.bytes"].value == str(1 << 30), "retention_bytes 1GiB")
    check(table["cleanup.policy"].value == "compact", "cleanup compact")
    check(table["delete.retention.ms"].value == "86400000", "delete_retention 1d")
    check(table["segment.bytes"].value == "1048576", "configs passed through")
    broker.stop()

    # A restart with another partition count leaves the existing topic alone (and says so).
    os.environ["A_PARTS"] = "8"
    broker.start()
    md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    check(len(md.topics["a.raw"].partitions) == 4, "existing topic unchanged")
    check("another partition count" in broker.log(), "the difference is logged")
    broker.stop()

    with open(path, "w") as f:
        f.write("pipeline: t\ntopics:\n  ok: {partitions: 1}\n  bad: {partitons: 2}\n")
    p = subprocess.run([os.path.join(bclib.BC_BIN, "breadcrumb-broker"), "--listen", "127.0.0.1:0",
                        "--data-dir", os.path.join(bclib.WORK, "bad-data"), "--topology", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    check(p.returncode == 1, "bad topology -> exit 1")
    check("topology.yaml:4:9: error: unknown key 'partitons' in topics.bad" in p.stdout, p.stdout)
    print("RESULT topology: 3 declared topics with configs from YAML and the derived fates topic, errors with file:line:column")


bclib.main(test)
