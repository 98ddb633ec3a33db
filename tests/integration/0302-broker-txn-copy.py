"""breadcrumb-broker part 3: exactly-once consume-transform-produce (python3-confluent-kafka,
send_offsets_to_transaction, TxnOffsetCommit v3) with the process txn_copy.py.
- kill -9: the copier is killed with a transaction open (records flushed, offsets not yet
  committed), chosen by records processed; a restarted copier with the same
  transactional.id aborts it and goes on from the committed offsets: every input record is
  on the output exactly once, in input order per partition.
- zombie: the copier is SIGSTOPped with a transaction open, past its session timeout; a
  second instance (same transactional.id) fences it and takes over the partitions; the
  first is then SIGCONTed and tries to commit: it is fenced (fatal error), and the output
  still holds every input record exactly once.
- KIP-447 on the wire: TxnOffsetCommit v3 carries the consumer's generation and member id
  and is checked against the group (raw JoinGroup/SyncGroup make a member): a stale
  generation gets ILLEGAL_GENERATION (22), an unknown member UNKNOWN_MEMBER_ID (25), the
  current ones succeed; v2 (no generation) is accepted.
- While a transactional offset commit is pending, OffsetFetch v7 with RequireStable answers
  UNSTABLE_OFFSET_COMMIT (88) (raw requests); the offsets become the group's committed ones
  only when the transaction commits, and an abort drops them."""
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

import bclib
from bclib import check, fail, wait_for

N = 2000
# A killed (or SIGSTOPped) copier holds its partitions until its session times out; the
# broker allows 2 s here (the default minimum is 6 s), the next copier waits that long.
SESSION_MS = 2000
PARTS = 2
COPY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "txn_copy.py")


def produce_input(bootstrap, topic):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i in range(N):
        p.produce(topic, key=b"k%d" % (i % 37), value=b"v%05d" % i, partition=i % PARTS)
    check(p.flush(30) == 0, "input produced")


def committed_output(bootstrap, topic, timeout=40):
    """Every read_committed record of topic once the LSO holds N records: {partition: [values]}."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "verify-" + topic,
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 100})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTS)])
    got = {p: [] for p in range(PARTS)}
    deadline = time.monotonic() + timeout
    while sum(len(v) for v in got.values()) < N:
        if time.monotonic() > deadline:
            fail("output %s: %d of %d committed records" % (topic, sum(len(v) for v in got.values()), N))
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got[m.partition()].append(m.value().decode())
    # and nothing beyond: the read_committed end (LSO) reached with exactly N records
    def settled():
        ends = [c.get_watermark_offsets(TopicPartition(topic, p), cached=False)[1] for p in range(PARTS)]
        pos = [x.offset for x in c.position([TopicPartition(topic, p) for p in range(PARTS)])]
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            fail("output %s: more than %d records (%s)" % (topic, N, m.value()))
        return all(pos[p] >= ends[p] for p in range(PARTS))
    wait_for(settled, 20, "the verifying consumer to reach the end of %s" % topic)
    c.close()
    return got


def check_exactly_once(got, what):
    for p in range(PARTS):
        want = ["V%05d" % i for i in range(N) if i % PARTS == p]
        if got[p] != want:
            dups = len(got[p]) - len(set(got[p]))
            fail("%s: partition %d has %d records (%d duplicates), want %d in order"
                 % (what, p, len(got[p]), dups, len(want)))


class Copier:
    def __init__(self, bootstrap, name, src, dst, group, txn_id, hold_after=0):
        self.progress_path = os.path.join(bclib.WORK, name + ".progress")
        self.release = os.path.join(bclib.WORK, name + ".release")
        self.log_path = os.path.join(bclib.WORK, name + ".log")
        cmd = [sys.executable, COPY, "--bootstrap", bootstrap, "--input", src, "--output", dst,
               "--group", group, "--txn-id", txn_id, "--batch", "100",
               "--progress", self.progress_path, "--release", self.release,
               "--session-timeout-ms", str(SESSION_MS)]
        if hold_after:
            cmd += ["--hold-after", str(hold_after)]
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        log.close()

    def progress(self):
        try:
            with open(self.progress_path) as f:
                return dict(kv.split("=") for kv in f.read().split())
        except (OSError, ValueError):
            return {}

    def wait_state(self, state, timeout=40):
        def ok():
            if self.proc.poll() is not None:
                fail("copier exited %s; log:\n%s" % (self.proc.returncode, open(self.log_path).read()[-2000:]))
            return self.progress().get("state") == state
        wait_for(ok, timeout, "copier state %s" % state)
        return self.progress()

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self):
        self.kill(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def kill9(b):
    produce_input(b.bootstrap, "in")
    c1 = Copier(b.bootstrap, "copier-a1", "in", "out", "copy-a", "copy-a", hold_after=750)
    pr = c1.wait_state("holding")
    c1.kill()
    c1.proc.wait(10)
    processed, committed = int(pr["processed"]), int(pr["committed"])
    check(processed > committed, "killed with records in an open transaction (%d > %d)" % (processed, committed))
    # While the transaction is open its offsets are pending: RequireStable -> 88, which
    # librdkafka's committed() retries until the restarted copier aborts the transaction.
    c2 = Copier(b.bootstrap, "copier-a2", "in", "out", "copy-a", "copy-a")
    got = committed_output(b.bootstrap, "out")
    check_exactly_once(got, "after kill -9")
    c2.stop()
    print("RESULT kill -9: copier killed after %d records processed, %d committed; restarted: "
          "%d records on the output, each exactly once, in order" % (processed, committed, N))


def zombie(b):
    produce_input(b.bootstrap, "in2")
    c1 = Copier(b.bootstrap, "copier-z1", "in2", "out2", "copy-z", "copy-z", hold_after=750)
    pr = c1.wait_state("holding")
    c1.kill(signal.SIGSTOP)
    t0 = time.monotonic()
    c2 = Copier(b.bootstrap, "copier-z2", "in2", "out2", "copy-z", "copy-z")
    got = committed_output(b.bootstrap, "out2")
    took = time.monotonic() - t0
    check_exactly_once(got, "second instance")
    open(c1.release, "w").close()
    c1.kill(signal.SIGCONT)
    try:
        rc = c1.proc.wait(40)
    except subprocess.TimeoutExpired:
        fail("the zombie neither committed nor failed")
    check(rc == 3, "the zombie ends fenced (exit 3), got %s: %s" % (rc, open(c1.log_path).read()[-1500:]))
    check(c1.progress().get("state") == "fenced", "zombie state fenced")
    got = committed_output(b.bootstrap, "out2")
    check_exactly_once(got, "after the zombie woke up")
    c2.stop()
    print("RESULT zombie: first copier SIGSTOPped after %s records with a transaction open, second "
          "took over (%.1f s to all %d committed), the woken zombie was fenced (fatal), output "
          "exactly once" % (pr["processed"], took, N))


def _uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _cstr(s):
    b = s.encode()
    return _uvarint(len(b) + 1) + b


def offset_fetch_v7(bootstrap, group, topic, partition, require_stable):
    """Raw OffsetFetch v7 (flexible) for one partition -> (error code, offset)."""
    import socket
    import struct
    body = _cstr(group) + _uvarint(2) + _cstr(topic) + _uvarint(2) + struct.pack(">i", partition) + \
        b"\x00" + struct.pack(">b", 1 if require_stable else 0) + b"\x00"
    hdr = struct.pack(">hhi", 9, 7, 1) + struct.pack(">h", 3) + b"raw" + b"\x00"
    host, port = bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
        chunk = s.recv(65536)
        check(chunk, "OffsetFetch answered")
        data += chunk
    s.close()
    # size, correlation id, header tags, throttle, topics(1), name, partitions(1)
    pos = 4 + 4 + 1 + 4 + 1
    pos += 1 + len(topic.encode())
    pos += 1
    _idx, offset, _epoch = struct.unpack(">iqi", data[pos:pos + 16])
    pos += 16
    mlen = data[pos] - 1
    pos += 1 + max(mlen, 0)
    err = struct.unpack(">h", data[pos:pos + 2])[0]
    return err, offset


def _flex_request(bootstrap, api_key, version, body):
    """One flexible request (header v2) -> the response body after its header v1."""
    import socket
    import struct
    hdr = struct.pack(">hhi", api_key, version, 7) + struct.pack(">h", 3) + b"raw" + b"\x00"
    host, port = bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
        chunk = s.recv(65536)
        check(chunk, "answered")
        data += chunk
    s.close()
    return data[4 + 4 + 1:]


def kip447(b):
    import struct
    from bclib import RawClient, kstring
    c = RawClient(b.bootstrap)
    d = c.request(22, 1, kstring("kip447") + struct.pack(">i", 10000))
    _t, err, pid, epoch = struct.unpack(">ihqh", d[:16])
    check(err == 0, "InitProducerId")
    d = c.request(25, 0, kstring("kip447") + struct.pack(">qh", pid, epoch) + kstring("g447"))
    check(struct.unpack(">h", d[4:6])[0] == 0, "AddOffsetsToTxn")
    # A member of group g447 (JoinGroup v0, SyncGroup v0).
    meta = struct.pack(">hi", 0, 1) + kstring("in") + struct.pack(">i", -1)
    d = c.request(11, 0, kstring("g447") + struct.pack(">i", 10000) + kstring("") + kstring("consumer") +
                  struct.pack(">i", 1) + kstring("range") + struct.pack(">i", len(meta)) + meta)
    err, generation = struct.unpack(">hi", d[:6])
    check(err == 0, "JoinGroup: %d" % err)
    off = 6
    for _ in range(2):  # protocol name, leader
        off += 2 + struct.unpack(">h", d[off:off + 2])[0]
    mlen = struct.unpack(">h", d[off:off + 2])[0]
    member = d[off + 2:off + 2 + mlen].decode()
    d = c.request(14, 0, kstring("g447") + struct.pack(">i", generation) + kstring(member) +
                  struct.pack(">i", 1) + kstring(member) + struct.pack(">i", 0))
    check(struct.unpack(">h", d[:2])[0] == 0, "SyncGroup")

    def commit_v3(gen, member_id, offset):
        body = _cstr("kip447") + _cstr("g447") + struct.pack(">qhi", pid, epoch, gen) + _cstr(member_id) + \
            b"\x00" + _uvarint(2) + _cstr("in") + _uvarint(2) + struct.pack(">iqi", 0, offset, -1) + \
            b"\x00" + b"\x00" + b"\x00" + b"\x00"
        r = _flex_request(b.bootstrap, 28, 3, body)
        # throttle, topics(1), name, partitions(1), index, error
        pos = 4 + 1 + 1 + len("in") + 1
        return struct.unpack(">ih", r[pos:pos + 6])[1]

    stale = commit_v3(generation - 1, member, 5)
    unknown = commit_v3(generation, "bogus-member", 5)
    current = commit_v3(generation, member, 7)
    check(stale == 22, "stale generation: ILLEGAL_GENERATION, got %d" % stale)
    check(unknown == 25, "unknown member: UNKNOWN_MEMBER_ID, got %d" % unknown)
    check(current == 0, "current generation and member: accepted, got %d" % current)
    # v2: no generation, accepted as Kafka does for old clients
    body = kstring("kip447") + kstring("g447") + struct.pack(">qh", pid, epoch) + struct.pack(">i", 1) + \
        kstring("in") + struct.pack(">i", 1) + struct.pack(">iqi", 1, 9, -1) + kstring(None)
    d = c.request(28, 2, body)
    check(struct.unpack(">h", d[4 + 4 + 2 + 2 + 4 + 4:][:2])[0] == 0, "TxnOffsetCommit v2 accepted")
    check(offset_fetch_v7(b.bootstrap, "g447", "in", 0, True)[0] == 88, "pending: 88")
    d = c.request(26, 0, kstring("kip447") + struct.pack(">qhb", pid, epoch, 1))
    check(struct.unpack(">h", d[4:6])[0] == 0, "EndTxn commit")
    check(offset_fetch_v7(b.bootstrap, "g447", "in", 0, True) == (0, 7), "committed offset 7")
    check(offset_fetch_v7(b.bootstrap, "g447", "in", 1, True) == (0, 9), "committed offset 9")
    c.close()
    print("RESULT KIP-447: TxnOffsetCommit v3 with a stale generation 22, an unknown member 25, "
          "the current member 0; committed with the transaction")


def require_stable(b):
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "stable"})
    p.init_transactions(15)
    meta = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "stable-g"}).consumer_group_metadata()
    p.begin_transaction()
    p.produce("stable", value=b"x", partition=0)
    p.send_offsets_to_transaction([TopicPartition("in", 0, 42)], meta, 10)
    pending = offset_fetch_v7(b.bootstrap, "stable-g", "in", 0, True)
    plain = offset_fetch_v7(b.bootstrap, "stable-g", "in", 0, False)
    check(pending == (88, -1), "RequireStable while pending: UNSTABLE_OFFSET_COMMIT, got %s" % (pending,))
    check(plain == (0, -1), "without RequireStable: nothing committed yet, got %s" % (plain,))
    p.commit_transaction(10)
    done = offset_fetch_v7(b.bootstrap, "stable-g", "in", 0, True)
    check(done == (0, 42), "after the commit: offset 42, got %s" % (done,))
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition("in", 0, 99)], meta, 10)
    p.abort_transaction(10)
    after_abort = offset_fetch_v7(b.bootstrap, "stable-g", "in", 0, True)
    check(after_abort == (0, 42), "an aborted offset commit is dropped, got %s" % (after_abort,))
    print("RESULT RequireStable: 88 while a transactional offset commit is pending, 42 after its "
          "commit, still 42 after an aborted one")


def run():
    b = bclib.Broker(args=["--group-min-session-timeout-ms", "1000", "--topic", "stable:1", "--topic", "in:%d" % PARTS, "--topic", "out:%d" % PARTS,
                           "--topic", "in2:%d" % PARTS, "--topic", "out2:%d" % PARTS])
    with b:
        require_stable(b)
        kip447(b)
        kill9(b)
        zombie(b)


bclib.main(run)
