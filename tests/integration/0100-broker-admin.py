"""breadcrumb-broker part 1: ApiVersions/Metadata/CreateTopics/DeleteTopics/DescribeConfigs
through librdkafka's admin client (python3-confluent-kafka), topics surviving a restart,
auto-create off by default."""
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic, ConfigResource

import bclib
from bclib import check


def create(admin, topics):
    out = {}
    for name, fut in admin.create_topics(topics, operation_timeout=10, request_timeout=15).items():
        try:
            fut.result()
            out[name] = None
        except KafkaException as e:
            out[name] = e.args[0].code()
    return out


def test():
    broker = bclib.Broker(args=["--partitions", "2"]).start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    md = admin.list_topics(timeout=10)
    check(list(md.brokers) == [0], "one broker with id 0: %r" % md.brokers)
    check(md.controller_id == 0, "controller is 0")
    check(md.brokers[0].port == broker.port, "advertised port")

    res = create(admin, [
        NewTopic("orders", 3, 1, config={"retention.ms": "3600000", "segment.bytes": "1048576"}),
        NewTopic("defaults", -1, -1),
        NewTopic("replicated", 1, 3),
        NewTopic("bad.config", 1, 1, config={"no.such.config": "1"}),
        NewTopic("bad.value", 1, 1, config={"retention.ms": "soon"}),
        NewTopic("bad/name", 1, 1),
    ])
    check(res["orders"] is None, "orders created: %r" % res)
    check(res["defaults"] is None, "defaults created: %r" % res)
    check(res["replicated"] == 38, "replication factor 3 -> INVALID_REPLICATION_FACTOR: %r" % res)
    check(res["bad.config"] == 40, "unknown config -> INVALID_CONFIG: %r" % res)
    check(res["bad.value"] == 40, "bad value -> INVALID_CONFIG: %r" % res)
    check(res["bad/name"] == 17, "bad name -> INVALID_TOPIC_EXCEPTION: %r" % res)
    res = create(admin, [NewTopic("orders", 3, 1)])
    check(res["orders"] == 36, "again -> TOPIC_ALREADY_EXISTS: %r" % res)

    md = admin.list_topics(timeout=10)
    check(sorted(md.topics) == ["defaults", "orders"], "topics: %r" % sorted(md.topics))
    check(len(md.topics["orders"].partitions) == 3, "orders has 3 partitions")
    check(len(md.topics["defaults"].partitions) == 2, "defaults gets --partitions 2")
    p0 = md.topics["orders"].partitions[0]
    check(p0.leader == 0 and p0.replicas == [0] and p0.isrs == [0], "leader/replicas/isr")

    md = admin.list_topics(topic="missing", timeout=10)
    check(md.topics["missing"].error is not None and md.topics["missing"].error.code() == 3,
          "unknown topic -> UNKNOWN_TOPIC_OR_PARTITION (auto-create off)")

    cfgs = admin.describe_configs([ConfigResource("topic", "orders")])
    entries = list(cfgs.values())[0].result()
    check(entries["retention.ms"].value == "3600000", "retention.ms set")
    check(not entries["retention.ms"].is_default, "retention.ms not default")
    check(entries["segment.bytes"].value == "1048576", "segment.bytes set")
    check(entries["cleanup.policy"].value == "delete" and entries["cleanup.policy"].is_default,
          "cleanup.policy default")
    print("RESULT describe_configs orders:", len(entries), "configs")

    # Everything survives a clean restart.
    broker.stop()
    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    md = admin.list_topics(timeout=10)
    check(sorted(md.topics) == ["defaults", "orders"], "topics after restart: %r" % sorted(md.topics))
    entries = list(admin.describe_configs([ConfigResource("topic", "orders")]).values())[0].result()
    check(entries["retention.ms"].value == "3600000", "configs after restart")

    for name, fut in admin.delete_topics(["defaults", "nope"], operation_timeout=10).items():
        try:
            fut.result()
            check(name == "defaults", "delete of %s should fail" % name)
        except KafkaException as e:
            check(name == "nope" and e.args[0].code() == 3, "delete nope -> 3, got %r" % e)
    md = admin.list_topics(timeout=10)
    check(sorted(md.topics) == ["orders"], "after delete: %r" % sorted(md.topics))
    broker.stop()

    # --auto-create: Metadata creates unknown topics with the default partition count.
    auto = bclib.Broker(name="auto", args=["--auto-create", "--partitions", "4"]).start()
    admin = AdminClient({"bootstrap.servers": auto.bootstrap})
    md = wait_md(admin, "fresh")
    check(len(md.topics["fresh"].partitions) == 4, "auto-created with 4 partitions")
    auto.stop()


def wait_md(admin, topic):
    def ok():
        md = admin.list_topics(topic=topic, timeout=10)
        t = md.topics.get(topic)
        return md if t is not None and t.error is None and t.partitions else None
    return bclib.wait_for(ok, 20, "topic %s to exist" % topic)


bclib.main(test)
