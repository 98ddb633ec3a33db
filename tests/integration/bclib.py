"""Shared helpers for integration tests written in Python (imported as `bclib`).

Brokers run on a free loopback port (the broker binds port 0 and writes it to a port
file), each with its own data directory under the test's scratch directory. Every wait has
a deadline; nothing sleeps and hopes.
"""
import atexit
import os
import signal
import subprocess
import sys
import time

BC_BIN = os.environ.get("BC_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "bin"))
BC_TEST_BIN = os.environ.get("BC_TEST_BIN", "")
WORK = os.environ.get("BC_WORK", os.getcwd())


STARTED = time.monotonic()
# BC_TRACE_WAITS=1: every wait_for prints to stderr (the test's output.log) when it ended,
# how long it waited and for what: where a test spends its time.
TRACE_WAITS = bool(os.environ.get("BC_TRACE_WAITS"))


class TestFailure(Exception):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_for(cond, timeout, what, interval=0.02):
    """Polls cond() until it returns a truthy value (returned) or timeout seconds pass."""
    began = time.monotonic()
    deadline = began + timeout
    while True:
        v = cond()
        if v:
            if TRACE_WAITS:
                now = time.monotonic()
                sys.stderr.write("TRACE at %.1fs: waited %.2fs for %s\n"
                                 % (now - STARTED, now - began, what))
            return v
        if time.monotonic() > deadline:
            fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Broker:
    """A breadcrumb-broker process. start() may be called again after stop()/kill(): the
    restart keeps the data directory and the port."""

    def __init__(self, name="broker", args=(), data_dir=None):
        self.name = name
        self.args = list(args)
        self.data_dir = data_dir or os.path.join(WORK, name + "-data")
        self.port_file = os.path.join(WORK, name + ".port")
        self.log_path = os.path.join(WORK, name + ".log")
        self.port = 0
        self.proc = None

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=30, extra_args=()):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        cmd = [os.path.join(BC_BIN, "breadcrumb-broker"),
               "--listen", "127.0.0.1:%d" % self.port, "--port-file", self.port_file,
               "--data-dir", self.data_dir] + self.args + list(extra_args)
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        log.close()
        atexit.register(self.kill)  # never leave a broker behind, whatever happens

        def ready():
            if self.proc.poll() is not None:
                fail("broker exited with %s during startup; log:\n%s" % (self.proc.returncode, self.log()[-3000:]))
            try:
                with open(self.port_file) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                return 0

        self.port = wait_for(ready, timeout, "the broker to listen")
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM and wait; fails when the broker does not exit 0."""
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("broker did not stop within %ss of SIGTERM" % timeout)
        check(rc == 0, "broker exited %s after SIGTERM" % rc)

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


def stop_all(procs, timeout=30):
    """SIGTERM to every process, then waits for each; one still running after `timeout`
    seconds is killed."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()


def run_tool(name, *args, timeout=120, check_rc=True):
    """Runs a test helper program from BC_TEST_BIN; returns its stdout (text)."""
    cmd = [os.path.join(BC_TEST_BIN, name)] + [str(a) for a in args]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, text=True)
    if check_rc and p.returncode != 0:
        fail("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (name, p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


def main(fn):
    """Runs fn(); prints the failure and exits 1 on TestFailure or any exception."""
    try:
        fn()
    except TestFailure as e:
        print("FAILED:", e, flush=True)
        sys.exit(1)
    print("ok", flush=True)


# --- a minimal raw Kafka client, for requests no library sends on demand ---------------

import socket
import struct

_CRC32C_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _varint(v):
    v = (v << 1) ^ (v >> 63)
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def record_batch(values, producer_id=-1, epoch=-1, base_sequence=-1, timestamp=1_700_000_000_000,
                 attributes=0):
    """An uncompressed record batch v2 of `values` (bytes, no keys), base offset 0."""
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + _varint(0) + _varint(i) + _varint(-1) + _varint(len(v)) + v + _varint(0)
        recs += _varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", attributes, len(values) - 1, timestamp, timestamp,
                            producer_id, epoch, base_sequence, len(values)) + recs
    head = struct.pack(">ib", 0, 2) + struct.pack(">I", crc32c(after_crc))
    return struct.pack(">qi", 0, len(head) + len(after_crc)) + head + after_crc


def kstring(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class RawClient:
    """One connection speaking non-flexible request versions."""

    def __init__(self, bootstrap, timeout=10):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.corr = 0

    def send(self, api_key, version, body):
        self.corr += 1
        hdr = struct.pack(">hhi", api_key, version, self.corr) + kstring("raw")
        self.sock.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
        return self.corr

    def recv(self):
        """Returns (correlation id, body) or raises ConnectionError when closed."""
        n = struct.unpack(">i", self._read(4))[0]
        data = self._read(n)
        return struct.unpack(">i", data[:4])[0], data[4:]

    def request(self, api_key, version, body):
        corr = self.send(api_key, version, body)
        got, data = self.recv()
        check(got == corr, "correlation id %d, want %d" % (got, corr))
        return data

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            buf += chunk
        return buf

    def close(self):
        self.sock.close()

    def init_producer_id(self):
        """InitProducerId v1 without transactional id -> (producer id, epoch)."""
        data = self.request(22, 1, kstring(None) + struct.pack(">i", 60000))
        _throttle, err, pid, epoch = struct.unpack(">ihqh", data[:16])
        check(err == 0, "InitProducerId error %d" % err)
        return pid, epoch

    def produce(self, topic, partition, batch, acks=-1):
        """Produce v3 of one batch -> (error code, base offset)."""
        body = kstring(None) + struct.pack(">hii", acks, 10000, 1) + kstring(topic) + \
            struct.pack(">ii", 1, partition) + struct.pack(">i", len(batch)) + batch
        data = self.request(0, 3, body)
        # responses[1]: topic, partitions[1]: index, error, base_offset, log_append_time
        off = 4
        tlen = struct.unpack(">h", data[off:off + 2])[0]
        off += 2 + tlen + 4
        _idx, err, base = struct.unpack(">ihq", data[off:off + 14])
        return err, base


# --- Kafka message specs (tools/broker/spec/*.json): encode requests, decode responses --

import json
import re

SPEC_DIR = os.path.join(os.environ.get("BC_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")),
                        "tools", "broker", "spec")


def spec_load(name):
    """The JSON message spec `name` (e.g. "MetadataRequest"), comments stripped."""
    with open(os.path.join(SPEC_DIR, name + ".json")) as f:
        text = "\n".join(line for line in f if not line.lstrip().startswith("//"))
    return json.loads(text)


def _in(versions, v):
    if versions is None or versions == "none":
        return False
    if versions.endswith("+"):
        return v >= int(versions[:-1])
    if "-" in versions:
        lo, hi = versions.split("-")
        return int(lo) <= v <= int(hi)
    return v == int(versions)


def _uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_FIXED = {"int8": ">b", "int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "int64": ">q",
          "float64": ">d"}


class SpecCodec:
    """Encodes and decodes one message spec at one version, as the Kafka protocol lays it out
    (classic or flexible encodings, nullable fields, tagged fields)."""

    def __init__(self, spec, version):
        self.spec = spec
        self.v = version
        self.flex = _in(spec.get("flexibleVersions", "none"), version)

    # encoding
    def encode(self, value):
        return self._struct(self.spec["fields"], value or {})

    def _struct(self, fields, value):
        out = b""
        tagged = []
        for f in fields:
            if not _in(f.get("versions", "0+"), self.v):
                continue
            if "tag" in f and _in(f.get("taggedVersions"), self.v):
                if f["name"] in value:
                    tagged.append((f["tag"], self._field(f, value[f["name"]])))
                continue
            out += self._field(f, value.get(f["name"], self._default(f)))
        if self.flex:
            out += _uvarint(len(tagged))
            for tag, data in sorted(tagged):
                out += _uvarint(tag) + _uvarint(len(data)) + data
        return out

    def _default(self, f):
        t = f["type"]
        if t.startswith("[]"):
            return []
        if t in ("string",):
            return None if _in(f.get("nullableVersions"), self.v) else ""
        if t in ("bytes", "records"):
            return None if _in(f.get("nullableVersions"), self.v) else b""
        if t == "bool":
            return False
        if t == "uuid":
            return b"\0" * 16
        if "fields" in f:
            return {}
        d = f.get("default", "0")
        return int(d) if re.match(r"^-?\d+$", str(d)) else 0

    def _len(self, n, classic_fmt):
        return _uvarint(n + 1) if self.flex else struct.pack(classic_fmt, n)

    def _field(self, f, val, t=None):
        t = t or f["type"]
        if t.startswith("[]"):
            if val is None:
                return _uvarint(0) if self.flex else struct.pack(">i", -1)
            inner = t[2:]
            out = self._len(len(val), ">i")
            for item in val:
                out += self._struct(f["fields"], item) if "fields" in f else self._field(f, item, inner)
            return out
        if t in _FIXED:
            return struct.pack(_FIXED[t], val)
        if t == "bool":
            return b"\1" if val else b"\0"
        if t == "uuid":
            return val
        if t == "string":
            if val is None:
                return _uvarint(0) if self.flex else struct.pack(">h", -1)
            b = val.encode()
            return self._len(len(b), ">h") + b
        if t in ("bytes", "records"):
            if val is None:
                return _uvarint(0) if self.flex else struct.pack(">i", -1)
            return self._len(len(val), ">i") + val
        if "fields" in f:
            return self._struct(f["fields"], val)
        raise ValueError("type %s" % t)

    # decoding
    def decode(self, data):
        self.data = data
        self.pos = 0
        value = self._dstruct(self.spec["fields"])
        check(self.pos == len(data), "%s v%d: %d bytes left over after decoding" %
              (self.spec["name"], self.v, len(data) - self.pos))
        return value

    def _take(self, n):
        check(self.pos + n <= len(self.data), "%s v%d: response too short" % (self.spec["name"], self.v))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def _duvarint(self):
        n, shift = 0, 0
        while True:
            b = self._take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def _dlen(self, classic_fmt):
        if self.flex:
            return self._duvarint() - 1
        return struct.unpack(classic_fmt, self._take(struct.calcsize(classic_fmt)))[0]

    def _dstruct(self, fields):
        value = {}
        tagged = {}
        for f in fields:
            if not _in(f.get("versions", "0+"), self.v):
                continue
            if "tag" in f and _in(f.get("taggedVersions"), self.v):
                tagged[f["tag"]] = f
                continue
            value[f["name"]] = self._dfield(f)
        if self.flex:
            for _ in range(self._duvarint()):
                tag = self._duvarint()
                size = self._duvarint()
                end = self.pos + size
                if tag in tagged:
                    value[tagged[tag]["name"]] = self._dfield(tagged[tag])
                    check(self.pos == end, "tagged field %d size" % tag)
                self.pos = end
        return value

    def _dfield(self, f, t=None):
        t = t or f["type"]
        if t.startswith("[]"):
            n = self._dlen(">i")
            if n < 0:
                return None
            inner = t[2:]
            return [self._dstruct(f["fields"]) if "fields" in f else self._dfield(f, inner) for _ in range(n)]
        if t in _FIXED:
            fmt = _FIXED[t]
            return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]
        if t == "bool":
            return self._take(1) != b"\0"
        if t == "uuid":
            return self._take(16)
        if t == "string":
            n = self._dlen(">h")
            return None if n < 0 else self._take(n).decode()
        if t in ("bytes", "records"):
            n = self._dlen(">i")
            return None if n < 0 else self._take(n)
        if "fields" in f:
            return self._dstruct(f["fields"])
        raise ValueError("type %s" % t)


def spec_request(client, api, version, value):
    """Sends request `api` (e.g. "Metadata") at `version` built from `value` through a
    RawClient and returns the decoded response (every byte accounted for)."""
    req = spec_load(api + "Request")
    resp = spec_load(api + "Response")
    flex = _in(req.get("flexibleVersions", "none"), version)
    client.corr += 1
    hdr = struct.pack(">hhi", req["apiKey"], version, client.corr) + kstring("spec")
    if flex:
        hdr += b"\0"
    body = SpecCodec(req, version).encode(value)
    client.sock.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
    corr, data = client.recv()
    check(corr == client.corr, "correlation id")
    if flex and api != "ApiVersions":
        check(data[:1] == b"\0", "empty tagged fields in the response header")
        data = data[1:]
    return SpecCodec(resp, version).decode(data)
