"""breadcrumb-broker part 1: every advertised version of every part-1 API, on the wire.
Requests are encoded and responses decoded from Kafka's own message specs
(tools/broker/spec/*.json, by bclib.SpecCodec), so each version's layout (classic or
flexible, nullable and tagged fields) is checked byte for byte, including versions no
client library in the tests sends. A version above the advertised range closes the
connection; ApiVersions answers an unknown version with UNSUPPORTED_VERSION (35)."""
import struct

import bclib
from bclib import check, RawClient, record_batch, spec_request

EXPECTED = {  # api key: (name, min, max) advertised for part 1
    0: ("Produce", 3, 7), 1: ("Fetch", 4, 11), 2: ("ListOffsets", 1, 4), 3: ("Metadata", 0, 8),
    18: ("ApiVersions", 0, 3), 19: ("CreateTopics", 0, 4), 20: ("DeleteTopics", 0, 3),
    22: ("InitProducerId", 0, 4), 32: ("DescribeConfigs", 0, 2),
}


def test():
    broker = bclib.Broker(args=["--topic", "wire:2"]).start()
    c = RawClient(broker.bootstrap)
    calls = 0

    for v in range(0, 4):
        r = spec_request(c, "ApiVersions", v, {"ClientSoftwareName": "wire", "ClientSoftwareVersion": "1"})
        check(r["ErrorCode"] == 0, "ApiVersions v%d" % v)
        got = {k["ApiKey"]: (k["MinVersion"], k["MaxVersion"]) for k in r["ApiKeys"]}
        for key, (name, lo, hi) in EXPECTED.items():
            check(got.get(key) == (lo, hi), "%s advertised %r, want %r" % (name, got.get(key), (lo, hi)))
        calls += 1

    offset = 0
    for v in range(3, 8):
        r = spec_request(c, "Produce", v, {"Acks": -1, "TimeoutMs": 5000, "TopicData": [
            {"Name": "wire", "PartitionData": [{"Index": 0, "Records": record_batch([b"v%d" % v, b"x"])}]}]})
        p = r["Responses"][0]["PartitionResponses"][0]
        check(p["ErrorCode"] == 0 and p["BaseOffset"] == offset, "Produce v%d: %r" % (v, p))
        offset += 2
        calls += 1

    for v in range(4, 12):
        r = spec_request(c, "Fetch", v, {
            "ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 0, "MaxBytes": 1 << 20, "SessionEpoch": -1,
            "Topics": [{"Topic": "wire", "Partitions": [{"Partition": 0, "FetchOffset": 2, "LogStartOffset": -1,
                                                         "CurrentLeaderEpoch": -1, "PartitionMaxBytes": 1 << 20}]}]})
        p = r["Responses"][0]["Partitions"][0]
        check(p["ErrorCode"] == 0 and p["HighWatermark"] == offset, "Fetch v%d: %r" % (v, p))
        check(b"v4" in p["Records"] and b"v3" not in p["Records"], "Fetch v%d records from offset 2" % v)
        if v >= 11:
            check(p["PreferredReadReplica"] == -1, "preferred_read_replica -1")
        calls += 1

    for v in range(1, 5):
        for ts, want in ((-1, offset), (-2, 0)):
            r = spec_request(c, "ListOffsets", v, {"ReplicaId": -1, "Topics": [
                {"Name": "wire", "Partitions": [{"PartitionIndex": 0, "Timestamp": ts, "CurrentLeaderEpoch": -1}]}]})
            p = r["Topics"][0]["Partitions"][0]
            check(p["ErrorCode"] == 0 and p["Offset"] == want, "ListOffsets v%d ts %d: %r" % (v, ts, p))
            calls += 1

    for v in range(0, 9):
        r = spec_request(c, "Metadata", v, {"Topics": [{"Name": "wire"}, {"Name": "nope"}],
                                            "AllowAutoTopicCreation": False})
        check(r["Brokers"][0]["Port"] == broker.port and r["Brokers"][0]["NodeId"] == 0, "Metadata v%d brokers" % v)
        t = {x["Name"]: x for x in r["Topics"]}
        check(t["wire"]["ErrorCode"] == 0 and len(t["wire"]["Partitions"]) == 2, "Metadata v%d wire" % v)
        check(t["nope"]["ErrorCode"] == 3, "Metadata v%d unknown topic" % v)
        calls += 1

    for v in range(0, 5):
        name = "made-%d" % v
        r = spec_request(c, "CreateTopics", v, {"Topics": [{"Name": name, "NumPartitions": 3, "ReplicationFactor": 1,
                                                            "Configs": [{"Name": "retention.ms", "Value": "60000"}]}],
                                                "timeoutMs": 5000})
        check(r["Topics"][0]["ErrorCode"] == 0, "CreateTopics v%d: %r" % (v, r))
        calls += 1
    for v in range(0, 3):
        r = spec_request(c, "DescribeConfigs", v, {"Resources": [
            {"ResourceType": 2, "ResourceName": "made-%d" % v, "ConfigurationKeys": None}]})
        res = r["Results"][0]
        cfg = {x["Name"]: x for x in res["Configs"]}
        check(res["ErrorCode"] == 0 and cfg["retention.ms"]["Value"] == "60000", "DescribeConfigs v%d" % v)
        calls += 1
    for v in range(0, 4):
        r = spec_request(c, "DeleteTopics", v, {"TopicNames": ["made-%d" % v], "TimeoutMs": 5000})
        check(r["Responses"][0]["ErrorCode"] == 0, "DeleteTopics v%d: %r" % (v, r))
        calls += 1

    pids = set()
    for v in range(0, 5):
        r = spec_request(c, "InitProducerId", v, {"TransactionalId": None, "TransactionTimeoutMs": 1000,
                                                  "ProducerId": -1, "ProducerEpoch": -1})
        check(r["ErrorCode"] == 0 and r["ProducerId"] >= 0 and r["ProducerEpoch"] == 0, "InitProducerId v%d" % v)
        pids.add(r["ProducerId"])
        calls += 1
    check(len(pids) == 5, "a fresh producer id each time")

    # Above the range: ApiVersions says so with a v0 body; anything else closes.
    c.corr += 1
    c.sock.sendall(struct.pack(">ihhi", 10, 18, 9, c.corr) + struct.pack(">h", -1))
    corr, data = c.recv()
    check(corr == c.corr and struct.unpack(">h", data[:2])[0] == 35, "ApiVersions v9 -> 35")
    c.send(3, 9, b"\x00")
    try:
        c.recv()
        bclib.fail("Metadata v9 should close the connection")
    except ConnectionError:
        pass
    print("RESULT wire versions: %d requests over every advertised version, decoded from Kafka's message specs" % calls)
    broker.stop()


bclib.main(test)
