"""breadcrumb-broker part 2: every advertised version of every group API, on the wire.
Requests are encoded and responses decoded from Kafka's own message specs
(tools/broker/spec/*.json, by bclib.SpecCodec), so each version's layout is checked byte
for byte, including versions no client library in the tests sends: FindCoordinator 0-2,
JoinGroup 0-5 (v4+: MEMBER_ID_REQUIRED first; v5: group.instance.id), SyncGroup,
Heartbeat and LeaveGroup 0-3, OffsetCommit and OffsetFetch 0-7, ListGroups 0-4,
DescribeGroups 0-4, DeleteGroups 0-1. A version above the advertised range closes the
connection."""
import bclib
from bclib import check, RawClient, spec_request

TOPIC = "gw"
EXPECTED = {  # api key: (name, min, max)
    8: ("OffsetCommit", 0, 7), 9: ("OffsetFetch", 0, 7), 10: ("FindCoordinator", 0, 2),
    11: ("JoinGroup", 0, 5), 12: ("Heartbeat", 0, 3), 13: ("LeaveGroup", 0, 3),
    14: ("SyncGroup", 0, 3), 15: ("DescribeGroups", 0, 4), 16: ("ListGroups", 0, 4),
    42: ("DeleteGroups", 0, 1),
}


def join(c, group, v, instance=None, metadata=b"sub"):
    """JoinGroup at version v until joined; returns the response."""
    req = {"GroupId": group, "SessionTimeoutMs": 6000, "RebalanceTimeoutMs": 10000,
           "MemberId": "", "GroupInstanceId": instance, "ProtocolType": "consumer",
           "Protocols": [{"Name": "range", "Metadata": metadata}]}
    r = spec_request(c, "JoinGroup", v, req)
    if v >= 4 and instance is None:
        check(r["ErrorCode"] == 79 and r["MemberId"], "JoinGroup v%d: MEMBER_ID_REQUIRED first: %r" % (v, r))
        req["MemberId"] = r["MemberId"]
        r = spec_request(c, "JoinGroup", v, req)
    check(r["ErrorCode"] == 0 and r["GenerationId"] == 1, "JoinGroup v%d: %r" % (v, r))
    check(r["Leader"] == r["MemberId"] and len(r["Members"]) == 1, "JoinGroup v%d leader" % v)
    m = r["Members"][0]
    check(m["MemberId"] == r["MemberId"] and m["Metadata"] == metadata, "JoinGroup v%d member" % v)
    if v >= 5:
        check(m["GroupInstanceId"] == instance, "JoinGroup v%d instance id" % v)
    check(r["ProtocolName"] == "range", "JoinGroup v%d protocol" % v)
    return r


def test():
    broker = bclib.Broker(args=["--topic", "%s:2" % TOPIC, "--group-initial-rebalance-delay-ms", "0"]).start()
    c = RawClient(broker.bootstrap)
    calls = 0

    r = spec_request(c, "ApiVersions", 3, {"ClientSoftwareName": "wire", "ClientSoftwareVersion": "1"})
    got = {k["ApiKey"]: (k["MinVersion"], k["MaxVersion"]) for k in r["ApiKeys"]}
    for key, (name, lo, hi) in EXPECTED.items():
        check(got.get(key) == (lo, hi), "%s advertised %r, want %r" % (name, got.get(key), (lo, hi)))

    for v in range(0, 3):
        r = spec_request(c, "FindCoordinator", v, {"Key": "g", "KeyType": 0})
        check(r["ErrorCode"] == 0 and r["NodeId"] == 0 and r["Port"] == broker.port and
              r["Host"] == "127.0.0.1", "FindCoordinator v%d: %r" % (v, r))
        calls += 1

    # JoinGroup v0-5, each in its own group, then SyncGroup/Heartbeat/LeaveGroup at v0-3.
    for v in range(0, 6):
        group = "j%d" % v
        instance = "inst-%d" % v if v >= 5 else None
        r = join(c, group, v, instance)
        member, gen = r["MemberId"], r["GenerationId"]
        sv = min(v, 3)
        s = spec_request(c, "SyncGroup", sv, {"GroupId": group, "GenerationId": gen, "MemberId": member,
                                              "GroupInstanceId": instance,
                                              "Assignments": [{"MemberId": member, "Assignment": b"A%d" % v}]})
        check(s["ErrorCode"] == 0 and s["Assignment"] == b"A%d" % v, "SyncGroup v%d: %r" % (sv, s))
        h = spec_request(c, "Heartbeat", sv, {"GroupId": group, "GenerationId": gen, "MemberId": member,
                                              "GroupInstanceId": instance})
        check(h["ErrorCode"] == 0, "Heartbeat v%d: %r" % (sv, h))
        h = spec_request(c, "Heartbeat", sv, {"GroupId": group, "GenerationId": gen + 1, "MemberId": member,
                                              "GroupInstanceId": instance})
        check(h["ErrorCode"] == 22, "Heartbeat v%d, wrong generation: ILLEGAL_GENERATION" % sv)
        if sv < 3:
            l = spec_request(c, "LeaveGroup", sv, {"GroupId": group, "MemberId": member})
            check(l["ErrorCode"] == 0, "LeaveGroup v%d: %r" % (sv, l))
        else:
            l = spec_request(c, "LeaveGroup", sv, {"GroupId": group, "Members": [
                {"MemberId": member, "GroupInstanceId": instance}, {"MemberId": "nobody", "GroupInstanceId": None}]})
            check(l["ErrorCode"] == 0 and [m["ErrorCode"] for m in l["Members"]] == [0, 25],
                  "LeaveGroup v%d: %r" % (sv, l))
        calls += 5 if v < 4 or instance else 6

    # OffsetCommit v0-7 into a group without members (generation -1), OffsetFetch v0-7.
    for v in range(0, 8):
        r = spec_request(c, "OffsetCommit", v, {
            "GroupId": "oc", "GenerationIdOrMemberEpoch": -1, "MemberId": "", "GroupInstanceId": None,
            "RetentionTimeMs": -1, "Topics": [{"Name": TOPIC, "Partitions": [
                {"PartitionIndex": 0, "CommittedOffset": 10 + v, "CommittedLeaderEpoch": 1,
                 "CommitTimestamp": -1, "CommittedMetadata": "m%d" % v},
                {"PartitionIndex": 7, "CommittedOffset": 1, "CommittedLeaderEpoch": -1,
                 "CommitTimestamp": -1, "CommittedMetadata": None}]}]})
        errs = [p["ErrorCode"] for p in r["Topics"][0]["Partitions"]]
        check(errs == [0, 3], "OffsetCommit v%d: %r" % (v, r))
        calls += 1
    for v in range(0, 8):
        topics = None if v >= 2 and v % 2 else [{"Name": TOPIC, "PartitionIndexes": [0, 1]}]
        r = spec_request(c, "OffsetFetch", v, {"GroupId": "oc", "Topics": topics, "RequireStable": True})
        parts = {p["PartitionIndex"]: p for p in r["Topics"][0]["Partitions"]}
        check(parts[0]["CommittedOffset"] == 17 and parts[0]["Metadata"] == "m7" and
              parts[0]["ErrorCode"] == 0, "OffsetFetch v%d: %r" % (v, r))
        if v >= 5:
            check(parts[0]["CommittedLeaderEpoch"] == 1, "OffsetFetch v%d epoch" % v)
        if topics is None:
            check(list(parts) == [0], "OffsetFetch v%d, all topics: only committed partitions" % v)
        else:
            check(parts[1]["CommittedOffset"] == -1 and parts[1]["ErrorCode"] == 0, "OffsetFetch v%d p1" % v)
        if v >= 2:
            check(r["ErrorCode"] == 0, "OffsetFetch v%d group error" % v)
        calls += 1

    # A live group for the listings: one static member, Stable.
    r = join(c, "live", 5, "live-1", b"LIVE")
    member = r["MemberId"]
    spec_request(c, "SyncGroup", 3, {"GroupId": "live", "GenerationId": 1, "MemberId": member,
                                     "GroupInstanceId": "live-1",
                                     "Assignments": [{"MemberId": member, "Assignment": b"ASG"}]})
    for v in range(0, 5):
        r = spec_request(c, "ListGroups", v, {"StatesFilter": ["stable"] if v >= 4 else []})
        groups = {g["GroupId"]: g for g in r["Groups"]}
        check(r["ErrorCode"] == 0 and groups["live"]["ProtocolType"] == "consumer", "ListGroups v%d: %r" % (v, r))
        if v >= 4:
            check(list(groups) == ["live"] and groups["live"]["GroupState"] == "Stable", "ListGroups v4 filter")
        else:
            check({"oc", "j0", "live"} <= set(groups), "ListGroups v%d: %r" % (v, sorted(groups)))
        calls += 1
    for v in range(0, 5):
        r = spec_request(c, "DescribeGroups", v, {"Groups": ["live", "oc", "nope"],
                                                  "IncludeAuthorizedOperations": False})
        d = {g["GroupId"]: g for g in r["Groups"]}
        live = d["live"]
        check(live["ErrorCode"] == 0 and live["GroupState"] == "Stable" and live["ProtocolData"] == "range",
              "DescribeGroups v%d: %r" % (v, live))
        m = live["Members"][0]
        check(m["MemberId"] == member and m["ClientId"] == "spec" and m["ClientHost"] == "/127.0.0.1" and
              m["MemberMetadata"] == b"LIVE" and m["MemberAssignment"] == b"ASG", "DescribeGroups v%d member" % v)
        if v >= 4:
            check(m["GroupInstanceId"] == "live-1", "DescribeGroups v4 instance id")
        check(d["oc"]["GroupState"] == "Empty" and d["oc"]["Members"] == [], "DescribeGroups v%d oc" % v)
        check(d["nope"]["ErrorCode"] == 0 and d["nope"]["GroupState"] == "Dead", "DescribeGroups v%d nope" % v)
        calls += 1
    for v, name in ((0, "oc"), (1, "j0")):
        r = spec_request(c, "DeleteGroups", v, {"GroupsNames": [name, "live", "nope"]})
        res = {x["GroupId"]: x["ErrorCode"] for x in r["Results"]}
        check(res == {name: 0, "live": 68, "nope": 69}, "DeleteGroups v%d: %r" % (v, res))
        calls += 1

    # Above the range: closes the connection.
    try:
        spec_request(c, "JoinGroup", 6, {"GroupId": "x", "SessionTimeoutMs": 6000, "RebalanceTimeoutMs": 1,
                                         "MemberId": "", "ProtocolType": "consumer", "Protocols": []})
        bclib.fail("JoinGroup v6 should close the connection")
    except ConnectionError:
        pass
    print("RESULT group wire versions: %d requests over every advertised version of 10 group APIs, "
          "decoded from Kafka's message specs" % calls)
    broker.stop()


bclib.main(test)
