"""breadcrumb-broker part 2: committed offsets survive a broker kill -9 and restart, and the
usual tools see the groups.

- A librdkafka consumer (group g-restart) commits synchronously after each record; the broker
  is kill -9'ed right after the last OffsetCommit answer and restarted: every committed offset
  is there, the group comes back Stable with its member, and the same consumer goes on
  (heartbeats accepted, no rebalance) consuming only the records produced after the restart.
- kcat -G (balanced consumer, group g-kcat) consumes and commits on close; kcat -L lists the
  topic; python's AdminClient.list_groups() describes both groups (state, protocol, members,
  client id/host, assignment) before and after the restart.
- Deleting the topic deletes the groups' committed offsets for it.
"""
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import bclib
from bclib import check

TOPIC = "offs"
N = 300


def committed(bootstrap, group):
    """Committed offsets of group for TOPIC's 3 partitions (OffsetFetch, no join)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        res = c.committed([TopicPartition(TOPIC, p) for p in range(3)], timeout=10)
        return {tp.partition: tp.offset for tp in res}
    finally:
        c.close()


def groups_by_id(admin):
    return {g.id: g for g in admin.list_groups(timeout=10)}


def test():
    broker = bclib.Broker(args=["--topic", "%s:3" % TOPIC]).start()
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(N):
        p.produce(TOPIC, value="v%d" % i, partition=i % 3)
    check(p.flush(30) == 0, "produced")

    # kcat: metadata, then a balanced consumer that commits on close.
    md = subprocess.run(["kcat", "-b", broker.bootstrap, "-L"], capture_output=True, text=True,
                        timeout=30)
    check(md.returncode == 0 and 'topic "%s" with 3 partitions' % TOPIC in md.stdout,
          "kcat -L: %s %s" % (md.stdout, md.stderr))
    kc = subprocess.run(["kcat", "-b", broker.bootstrap, "-G", "g-kcat", "-X",
                         "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
                         "-e", "-q", "-f", "%p %o %s\\n", TOPIC],
                        capture_output=True, text=True, timeout=60)
    got = kc.stdout.split("\n")[:-1]
    check(kc.returncode == 0 and len(got) == N, "kcat -G consumed %d: %s" % (len(got), kc.stderr[-2000:]))
    check(committed(broker.bootstrap, "g-kcat") == {0: 100, 1: 100, 2: 100},
          "kcat's commits on close: %r" % committed(broker.bootstrap, "g-kcat"))
    print("RESULT kcat -L lists the topic; kcat -G consumed %d records and committed on close" % N)

    # A consumer committing synchronously after each record.
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g-restart",
                  "group.instance.id": "restart-1", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 500, "client.id": "restart-client"})
    assigns = []
    c.subscribe([TOPIC], on_assign=lambda cons, parts: assigns.append([x.partition for x in parts]))
    seen = []
    deadline = time.monotonic() + 60
    t0 = None
    while len(seen) < N and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        if t0 is None:
            t0 = time.monotonic()
        seen.append(m.value().decode())
        c.commit(message=m, asynchronous=False)
    check(len(seen) == N, "consumed %d of %d" % (len(seen), N))
    secs = time.monotonic() - t0
    print("MEASURED synchronous commit after each record (librdkafka): %d records in %.2f s "
          "(%.0f commits/s)" % (N, secs, N / secs))
    broker.kill()  # right after the last OffsetCommit answer

    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    offs = committed(broker.bootstrap, "g-restart")
    check(offs == {0: 100, 1: 100, 2: 100}, "committed offsets after kill -9: %r" % offs)
    check(committed(broker.bootstrap, "g-kcat") == {0: 100, 1: 100, 2: 100}, "g-kcat offsets kept")
    print("RESULT broker kill -9 right after the last synchronous commit: all %d committed "
          "offsets recovered" % N)

    groups = groups_by_id(admin)
    check(set(groups) >= {"g-restart", "g-kcat"}, "list_groups: %r" % sorted(groups))
    g = groups["g-restart"]
    check(g.state == "Stable" and g.protocol_type == "consumer" and g.protocol == "range",
          "g-restart: %s %s %s" % (g.state, g.protocol_type, g.protocol))
    check(len(g.members) == 1 and g.members[0].client_id == "restart-client" and
          g.members[0].client_host == "/127.0.0.1" and len(g.members[0].assignment) > 0,
          "g-restart member: %r" % [(m.id, m.client_id, m.client_host) for m in g.members])
    check(groups["g-kcat"].state == "Empty" and groups["g-kcat"].protocol_type == "consumer",
          "g-kcat: %s %s" % (groups["g-kcat"].state, groups["g-kcat"].protocol_type))

    # The same consumer carries on: its generation and member id are still valid.
    for i in range(30):
        p.produce(TOPIC, value="after%d" % i, partition=i % 3)
    check(p.flush(30) == 0, "produced after restart")
    after = []
    deadline = time.monotonic() + 60
    while len(after) < 30 and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        after.append(m.value().decode())
        c.commit(message=m, asynchronous=False)
    check(sorted(after) == sorted("after%d" % i for i in range(30)),
          "after the restart: %d records %r" % (len(after), after[:5]))
    check(len(assigns) == 1, "no rebalance across the broker restart: %r" % assigns)
    check(committed(broker.bootstrap, "g-restart") == {0: 110, 1: 110, 2: 110}, "new commits")
    print("RESULT after the restart the group is Stable with its member (list_groups), the "
          "consumer went on without a rebalance and consumed only the %d new records" % len(after))
    c.close()

    # Deleting the topic deletes its committed offsets (as Kafka does): a topic created again
    # under the same name starts without them.
    for fut in admin.delete_topics([TOPIC], operation_timeout=10).values():
        fut.result()
    for fut in admin.create_topics([NewTopic(TOPIC, 3, 1)], operation_timeout=10).values():
        fut.result()
    for g in ("g-restart", "g-kcat"):
        offs = committed(broker.bootstrap, g)
        check(all(o < 0 for o in offs.values()), "%s offsets after the topic was deleted: %r" % (g, offs))
    print("RESULT deleting the topic deleted its committed offsets in both groups")
    broker.stop()


bclib.main(test)
