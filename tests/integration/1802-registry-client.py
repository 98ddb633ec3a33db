"""The schema registry client (common/bc_registry_http.c) against tests/integration/
fake_registry.py: register under <topic>-value (ids cached: one request per schema), look up
ids, compatibility per subject, an incompatible schema rejected (409), unknown ids and
subjects, basic auth, and downtime: 503s and a closed port are retried with backoff, and a
call that never got through returns no id."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_registry import FakeRegistry  # noqa: E402

TOOL = os.path.join(os.environ["BC_TEST_BIN"], "registry_client")
SCHEMAS = os.path.join(os.environ["BC_ROOT"], "schemas")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def client(url, *steps, opts=(), env=None):
    p = subprocess.run([TOOL, url, *opts, *steps], capture_output=True, text=True, timeout=60,
                       env=env)
    return p.returncode, p.stdout.splitlines()


def write(name, text):
    with open(name, "w") as f:
        f.write(text)
    return name


v1 = write("v1.avsc", '{"type": "record", "name": "T", "fields": [{"name": "a", "type": "long"}]}')
v2 = write("v2.avsc", '{"type": "record", "name": "T", "fields": [{"name": "a", "type": "long"},'
                      ' {"name": "b", "type": "string", "default": ""}]}')
bad = write("bad.avsc", '{"type": "record", "name": "T", "fields": [{"name": "a", "type": "string"}]}')
event = os.path.join(SCHEMAS, "TrackingEvent.v1.avsc")

reg = FakeRegistry()
url = reg.url
# Register (twice: the second from the cache), the real TrackingEvent schema too.
rc, out = client(url, "register:tracking.normalized-value:" + event,
                 "register:tracking.normalized-value:" + event, "requests",
                 "register:tracking.unique-value:" + v1, "schema:2", "requests")
if rc != 0 or out[0] != "id 1" or out[1] != "id 1" or out[2] != "requests 1":
    fail("register/cache: %s" % out)
if out[3] != "id 2" or out[4] != "schema " + open(v1).read() or out[5] != "requests 2":
    fail("second subject / id lookup from the cache: %s" % out)
# A new process looks the id up once (GET /schemas/ids/2), then from its cache.
rc, out = client(url, "schema:2", "schema:2", "requests")
if rc != 0 or out[0] != out[1] or not out[0].startswith('schema {"fields"') or out[2] != "requests 1":
    fail("id lookup: %s" % out)
if sorted(reg.subjects) != ["tracking.normalized-value", "tracking.unique-value"]:
    fail("subjects %s" % reg.subjects)
# Compatibility per subject; an evolution with a default is accepted, a type change rejected.
rc, out = client(url, "check:tracking.unique-value:" + v2, "check:tracking.unique-value:" + bad,
                 "check:tracking.new-value:" + bad, "register:tracking.unique-value:" + v2)
if rc != 0 or out != ["compatible 1", "compatible 0", "compatible 1", "id 3"]:
    fail("compatibility: %s" % out)
rc, out = client(url, "register:tracking.unique-value:" + bad)
if rc != 1 or not out[0].startswith("error: schema registry: register tracking.unique-value: "
                                    "HTTP 409, error 409: Schema being registered is incompatible"):
    fail("incompatible schema: %s" % out)
if reg.subjects["tracking.unique-value"] != [2, 3]:
    fail("incompatible schema was registered: %s" % reg.subjects)
# Unknown id and unparsable schema: the registry's error codes, no retry.
before = reg.requests
rc, out = client(url, "schema:99")
if rc != 1 or "HTTP 404, error 40403" not in out[0] or reg.requests != before + 1:
    fail("unknown id: %s" % out)
rc, out = client(url, "register:x-value:" + write("junk.avsc", "{not json"))
if rc != 1 or "HTTP 422, error 42201" not in out[0]:
    fail("invalid schema: %s" % out)
print("RESULT registry: register, cache, ids, compatibility, 409 and 404/422 errors")

# Downtime: three 503s are retried with backoff, then the id comes back.
reg.down = 3
before = reg.requests
t0 = time.monotonic()
rc, out = client(url, "register:tracking.dlq-value:" + v1, opts=("--attempts", "5", "--backoff-ms", "50"))
took = time.monotonic() - t0
if rc != 0 or out != ["id 2"] or reg.requests != before + 4:
    fail("retry after 503s: %s, %d requests" % (out, reg.requests - before))
if took < 0.05 + 0.1 + 0.2:
    fail("no backoff: %.3f s" % took)
# Down for longer than the attempts: no id, and nothing registered.
reg.down = 10
rc, out = client(url, "register:tracking.fates-value:" + v1, opts=("--attempts", "3", "--backoff-ms", "10"))
if rc != 1 or not out[0].startswith("error: ") or "HTTP 503 (attempt 3 of 3)" not in out[0]:
    fail("lasting downtime: %s" % out)
if "tracking.fates-value" in reg.subjects:
    fail("registered while down")
reg.down = 0
# No registry at all (closed port): connection errors, retried, no id.
s = socket.socket()
s.bind(("127.0.0.1", 0))
closed = "http://127.0.0.1:%d" % s.getsockname()[1]
s.close()
rc, out = client(closed, "register:a-value:" + v1, opts=("--attempts", "3", "--backoff-ms", "10"))
if rc != 1 or "(attempt 3 of 3)" not in out[0] or "id" in out[0].split(":")[0]:
    fail("closed port: %s" % out)
print("RESULT downtime: 503s retried with backoff (%.2f s), lasting downtime and a closed port give no id" % took)
reg.close()

# Basic auth: the right password works, a wrong one is a 401; the password is never printed.
secret = "reg-pw-%d" % os.getpid()
reg = FakeRegistry(auth=("breadcrumb", secret))
env = dict(os.environ, BC_REG_PW=secret, BC_WRONG_PW=secret + "x")
rc, out = client(reg.url, "register:t-value:" + v1,
                 opts=("--user", "breadcrumb", "--password-env", "BC_REG_PW"), env=env)
if rc != 0 or out != ["id 1"]:
    fail("basic auth: %s" % out)
rc, out = client(reg.url, "register:t-value:" + v1,
                 opts=("--user", "breadcrumb", "--password-env", "BC_WRONG_PW"), env=env)
if rc != 1 or "HTTP 401" not in out[0] or secret in "\n".join(out):
    fail("wrong password: %s" % out)
reg.close()
print("RESULT basic auth: accepted, 401 on a wrong password, never printed")
