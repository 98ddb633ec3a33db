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
