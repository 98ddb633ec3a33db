"""Shared helpers for integration tests written in Python (imported as `bclib`).

Brokers run on a free loopback port (the broker binds port 0 and writes it to a port
file), each with its own data directory under the test's scratch directory. Every wait has
a deadline; nothing sleeps and hopes.
"""
import os
import signal
import subprocess
import sys
import time

BC_BIN = os.environ.get("BC_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "bin"))
BC_TEST_BIN = os.environ.get("BC_TEST_BIN", "")
WORK = os.environ.get("BC_WORK", os.getcwd())


class TestFailure(Exception):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_for(cond, timeout, what, interval=0.02):
    """Polls cond() until it returns a truthy value (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
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
