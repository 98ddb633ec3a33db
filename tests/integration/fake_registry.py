"""A small fake of Confluent Schema Registry's REST API (v1), for tests.

Endpoints: POST /subjects/{s}/versions, GET /subjects, GET /subjects/{s}/versions,
GET /subjects/{s}/versions/{v|latest}, GET /schemas/ids/{id},
POST /compatibility/subjects/{s}/versions/{v|latest}. Errors as the real one answers them:
{"error_code": N, "message": "..."} with 40401 subject not found, 40402 version not found,
40403 schema not found, 409 incompatible, 42201 invalid schema, 401 unauthorized.
Compatibility is BACKWARD for records: every field the new schema adds needs a default,
and fields both have keep their type. `down` > 0 answers that many requests with 503.
"""
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


def _backward(new, old):
    if new.get("type") != "record" or old.get("type") != "record":
        return new == old
    old_fields = {f["name"]: f for f in old.get("fields", [])}
    for f in new.get("fields", []):
        o = old_fields.get(f["name"])
        if o is None and "default" not in f:
            return False
        if o is not None and o["type"] != f["type"]:
            return False
    return True


class FakeRegistry:
    def __init__(self, auth=None):
        self.subjects = {}   # subject -> [id, ...] (version = index + 1)
        self.schemas = {}    # id -> canonical text
        self.auth = auth     # (user, password) or None
        self.down = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        reg = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _err(self, code, ec, msg):
                self._send(code, {"error_code": ec, "message": msg})

            def _route(self, method):
                with reg.lock:
                    reg.requests += 1
                    if reg.down > 0:
                        reg.down -= 1
                        return self._err(503, 50301, "Service unavailable")
                    if reg.auth is not None:
                        want = "Basic " + base64.b64encode(("%s:%s" % reg.auth).encode()).decode()
                        if self.headers.get("Authorization") != want:
                            return self._err(401, 401, "Unauthorized")
                    body = None
                    if method == "POST":
                        n = int(self.headers.get("Content-Length", "0"))
                        try:
                            body = json.loads(self.rfile.read(n) or b"null")
                            schema = json.loads(body["schema"])
                        except (ValueError, KeyError, TypeError):
                            return self._err(422, 42201, "Invalid schema")
                    parts = [unquote(p) for p in self.path.split("?")[0].strip("/").split("/")]
                    return self._dispatch(method, parts, body and body["schema"],
                                          body and schema)

            def _version(self, subject, v):
                ids = reg.subjects.get(subject)
                if ids is None:
                    return None, (404, 40401, "Subject '%s' not found." % subject)
                if v == "latest" or v == "-1":
                    return len(ids), None
                if v.isdigit() and 1 <= int(v) <= len(ids):
                    return int(v), None
                return None, (404, 40402, "Version %s not found." % v)

            def _dispatch(self, method, p, text, schema):
                if method == "GET" and p == ["subjects"]:
                    return self._send(200, sorted(reg.subjects))
                if method == "GET" and len(p) == 3 and p[:2] == ["schemas", "ids"]:
                    sid = int(p[2]) if p[2].isdigit() else -1
                    if sid not in reg.schemas:
                        return self._err(404, 40403, "Schema %s not found" % p[2])
                    return self._send(200, {"schema": reg.schemas[sid]})
                if len(p) == 3 and p[0] == "subjects" and p[2] == "versions":
                    subject = p[1]
                    if method == "GET":
                        if subject not in reg.subjects:
                            return self._err(404, 40401, "Subject '%s' not found." % subject)
                        return self._send(200, list(range(1, len(reg.subjects[subject]) + 1)))
                    canon = json.dumps(schema, separators=(",", ":"), sort_keys=True)
                    ids = reg.subjects.setdefault(subject, [])
                    for i in ids:
                        if reg.schemas[i] == canon:
                            return self._send(200, {"id": i})
                    if ids and not _backward(schema, json.loads(reg.schemas[ids[-1]])):
                        return self._err(409, 409, "Schema being registered is incompatible "
                                         "with an earlier schema for subject \"%s\"" % subject)
                    sid = next((i for i, t in reg.schemas.items() if t == canon),
                               len(reg.schemas) + 1)
                    reg.schemas[sid] = canon
                    ids.append(sid)
                    return self._send(200, {"id": sid})
                if method == "GET" and len(p) == 4 and p[0] == "subjects" and p[2] == "versions":
                    v, e = self._version(p[1], p[3])
                    if e:
                        return self._err(*e)
                    sid = reg.subjects[p[1]][v - 1]
                    return self._send(200, {"subject": p[1], "version": v, "id": sid,
                                            "schema": reg.schemas[sid]})
                if (method == "POST" and len(p) == 5 and p[0] == "compatibility"
                        and p[1] == "subjects" and p[3] == "versions"):
                    v, e = self._version(p[2], p[4])
                    if e:
                        return self._err(*e)
                    old = json.loads(reg.schemas[reg.subjects[p[2]][v - 1]])
                    return self._send(200, {"is_compatible": _backward(schema, old)})
                return self._err(404, 404, "HTTP 404 Not Found")

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

        return H
