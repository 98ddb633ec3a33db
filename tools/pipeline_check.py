#!/usr/bin/python3
"""The end-to-end check of a pipeline run against `breadcrumb gen`'s ground truth, shared by
`make run` (tools/run-demo.sh) and the chaos test (tests/integration/1400-chaos.py).

It reads every topic of the chain read_committed, from the start to the end (tracking.raw,
written without transactions by the generator, only by its watermarks: its offsets are
contiguous), and checks:
  - per stage (normalizer, deduplicator, enricher, tail-sampler, router): every input record
    is accounted for by an output, a Fate or a dead letter of that worker (the bc.src lineage
    header names the input), none twice (the same input, item and event id written twice);
  - DLQ: one dead letter per bad record, by reason, as the truth says;
  - tracking.unique: every distinct item exactly once (the truth's event ids, plus the items
    without an id field by count);
  - sinks: nothing that is not in tracking.unique, nothing twice, every must-keep (error or
    slow) trace whole in sink.traces, every kept trace whole;
  - no PII value of the truth anywhere downstream of the enricher: each exact string (card
    numbers with any spacing) searched as a substring of every record's bytes.
A stage whose worker did not run (its outputs are empty, its group has no offsets) is
SKIPPED, and the verdict is then INCOMPLETE (not PASS).

    /usr/bin/python3 tools/pipeline_check.py --brokers HOST:PORT --truth truth.json [--json OUT]

Exit: 0 PASS, 1 FAIL or INCOMPLETE, 2 usage or I/O errors.
"""
import argparse
import collections
import io
import json
import os
import re
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition

try:
    import avro.io
    import avro.schema
except ImportError:  # the report then has no sampling policies
    avro = None

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# The chain of the default pipeline (SHARED-CONTRACTS): worker -> (inputs, outputs).
STAGES = [
    ("normalizer", ["raw"], ["normalized"]),
    ("deduplicator", ["normalized"], ["unique"]),
    ("enricher", ["unique"], ["enriched"]),
    ("tail-sampler", ["enriched"], ["sampled", "cold"]),
    ("router", ["sampled"], ["@sinks"]),
]
SINKS = ["sink.security", "sink.billing", "sink.traces", "sink.logs", "sink.default"]
DOWNSTREAM_OF_ENRICHER = ["enriched", "sampled", "cold"]
# Every topic the check reads (short names: "raw" is <pipeline>.raw; sinks in full).
CHECKED_TOPICS = ["raw", "normalized", "unique", "enriched", "sampled", "cold", "dlq",
                  "fates"] + SINKS


NO_HEADERS = {}


def _table(keep, fill):
    """A bytes.translate table mapping every byte not in keep to fill."""
    return bytes(b if b in keep else fill for b in range(256))


_DIGITS = b"0123456789"
_CARD_TABLE = _table(set(_DIGITS + b" -"), 0)
# The middle ".b.c." of a dotted quad: a literal first byte, so the scan is a fast search.
_IP_MIDDLE = re.compile(rb"\.[0-9]{1,3}\.[0-9]{1,3}\.")
_CARD_RUN = re.compile(rb"[0-9 -]{12,}")  # on _CARD_TABLE-translated bytes
_LOCAL_CHARS = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


class PiiScanner:
    """Finds the truth's PII values (exact strings) in record values, wherever they occur as
    substrings, in time linear in the bytes: candidates come from C-speed primitives (a
    literal-prefix regex for "@domain" and "eyJ", bytes.translate + split for digit runs),
    then set lookups. Card numbers match whatever their spacing."""

    def __init__(self, pii):
        self.emails = set()
        self.local_lens = set()
        domains = set()
        for e in pii.get("email", []):
            local, _, domain = e.encode().rpartition(b"@")
            self.emails.add(e.encode())
            self.local_lens.add(len(local))
            domains.add(domain)
        self.email_rx = re.compile(b"@(?:" + b"|".join(re.escape(d) for d in
                                                        sorted(domains, key=len, reverse=True))
                                   + b")") if domains else None
        self.cards = {c.encode().replace(b" ", b"").replace(b"-", b"") for c in pii.get("card", [])}
        self.card_lens = sorted({len(c) for c in self.cards})
        self.ips = {i.encode() for i in pii.get("ip", [])}
        self.tokens = collections.defaultdict(list)
        for t in pii.get("bearer_token", []):
            self.tokens[t.encode()[:60]].append(t.encode())
        self.token_rx = re.compile(rb"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]+")

    def count(self, values):
        """Number of PII occurrences found in values (a list of bytes), scanned as one buffer
        (a separator no pattern crosses between them)."""
        v = b"\n\0\n".join(values)
        n = 0
        if self.email_rx is not None:
            for m in self.email_rx.finditer(v):
                at, end = m.start(), m.end()
                start = at
                while start > 0 and at - start < 64 and v[start - 1] in _LOCAL_CHARS:
                    start -= 1
                for ll in self.local_lens:
                    if at - ll >= start and v[at - ll:end] in self.emails:
                        n += 1
                        break
        if self.tokens:
            for m in self.token_rx.finditer(v):
                t = m.group()
                n += any(t.startswith(c) for c in self.tokens.get(t[:60], ()))
        if self.ips:
            pos = 0
            while True:
                m = _IP_MIDDLE.search(v, pos)
                if m is None:
                    break
                s, e = m.start(), m.end()
                pos = e - 1  # overlapping: "1.2.3.4.5" holds two quads
                n += any(v[s - i:e + j] in self.ips for i in range(1, 4) for j in range(1, 4)
                         if s - i >= 0)
        if self.cards:
            for m in _CARD_RUN.finditer(v.translate(_CARD_TABLE)):
                run = m.group().replace(b" ", b"").replace(b"-", b"")
                if len(run) < self.card_lens[0]:
                    continue
                n += any(run[i:i + L] in self.cards
                         for L in self.card_lens for i in range(len(run) - L + 1))
        return n


class Pos:
    """A record known by its position only."""
    __slots__ = ("topic", "partition", "offset")
    key = timestamp = None
    value = b""
    headers = NO_HEADERS

    def __init__(self, topic, partition, offset):
        self.topic, self.partition, self.offset = topic, partition, offset

    def prefix(self):
        return None


def topic_positions(bootstrap, topic):
    """Every position of a topic written without transactions (tracking.raw: the generator
    and exporters), from its watermarks: its offsets are contiguous (no control records), so
    nothing needs fetching. None when the topic does not exist."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "breadcrumb-check",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        t = c.list_topics(topic, timeout=30).topics.get(topic)
        if t is None or t.error is not None:
            return None
        out = []
        for p in t.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            out += [Pos(topic, p, o) for o in range(lo, hi)]
        return out
    finally:
        c.close()


class Rec:
    __slots__ = ("topic", "partition", "offset", "key", "value", "headers", "timestamp",
                 "_prefix")

    def __init__(self, m):
        self.topic, self.partition, self.offset = m.topic(), m.partition(), m.offset()
        self._prefix = False
        self.key, self.value = m.key(), m.value() or b""
        h = m.headers()
        self.headers = dict(h) if h else NO_HEADERS
        self.timestamp = m.timestamp()[1]

    def prefix(self):
        """event_prefix(self.value), computed once."""
        if self._prefix is False:
            self._prefix = event_prefix(self.value)
        return self._prefix


def read_topic(bootstrap, topic, timeout=120):
    """Every record of topic, read_committed, from the start to the end (the end as of the
    start of the read)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "breadcrumb-check",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed", "fetch.max.bytes": 52428800,
                  "fetch.wait.max.ms": 10})  # a partition's end at once, not after 0.5 s
    try:
        md = c.list_topics(topic, timeout=30)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return None
        parts = []
        for p in t.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            if hi > lo:
                parts.append(p)
        if not parts:
            return []
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        out, left = [], set(parts)
        deadline = time.monotonic() + timeout
        while left:
            if time.monotonic() > deadline:
                raise RuntimeError("reading %s: no end after %ds" % (topic, timeout))
            for m in c.consume(10000, 0.5):
                err = m.error()
                if err is None:
                    out.append(Rec(m))
                elif err.code() == KafkaError._PARTITION_EOF:
                    left.discard(m.partition())
                else:
                    raise RuntimeError("reading %s: %s" % (topic, err))
        return out
    finally:
        c.close()


def _varint(buf, pos):
    """Avro's zigzag varint at pos: (value, next pos)."""
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
    return (result >> 1) ^ -(result & 1), pos


def event_prefix(value):
    """(event_id, kind, trace_id, span_id) of a TrackingEvent in the Confluent wire format:
    the schema's first four fields, read in order (string, enum, [null,string] x2)."""
    if len(value) < 6 or value[0] != 0:
        return None
    # Fast path: a 32-char event id, a one-byte kind and one-byte union branches and lengths.
    if value[5] == 64 and len(value) > 39:
        try:
            kind = value[38] >> 1
            pos = 39
            ids = []
            for _ in range(2):
                if value[pos] == 2 and value[pos + 1] < 0x80:
                    n = value[pos + 1] >> 1
                    ids.append(value[pos + 2:pos + 2 + n].decode())
                    pos += 2 + n
                elif value[pos] == 0:
                    ids.append(None)
                    pos += 1
                else:
                    break
            else:
                return value[6:38].decode(), ("SPAN", "LOG", "EVENT")[kind], ids[0], ids[1]
        except (IndexError, UnicodeDecodeError):
            pass
    try:
        pos = 5
        n, pos = _varint(value, pos)
        event_id = value[pos:pos + n].decode()
        pos += n
        kind, pos = _varint(value, pos)
        ids = []
        for _ in range(2):
            branch, pos = _varint(value, pos)
            if branch == 1:
                n, pos = _varint(value, pos)
                ids.append(value[pos:pos + n].decode())
                pos += n
            else:
                ids.append(None)
        return event_id, ("SPAN", "LOG", "EVENT")[kind], ids[0], ids[1]
    except (IndexError, UnicodeDecodeError):
        return None


def _avro_string(buf, pos):
    n, pos = _varint(buf, pos)
    return buf[pos:pos + n].decode(), pos + n


FATE_KINDS = ("deduplicated", "sampled_out", "dropped", "dead_lettered", "routed")


def fate_prefix(value):
    """(source "topic:partition:offset", "fate[/reason]") of a Fate (schemas/Fate.v1.avsc) in
    the Confluent wire format: its first fields read in order (event_id [null,string], source
    {topic, partition, offset, index}, worker, fate enum, reason [null,string]), without a
    full Avro decode (a sampler writes a Fate for most spans). None when unreadable."""
    if len(value) < 6 or value[0] != 0:
        return None
    try:
        pos = 5
        branch, pos = _varint(value, pos)
        if branch == 1:
            _eid, pos = _avro_string(value, pos)
        topic, pos = _avro_string(value, pos)
        partition, pos = _varint(value, pos)
        offset, pos = _varint(value, pos)
        _index, pos = _varint(value, pos)
        _worker, pos = _avro_string(value, pos)
        kind, pos = _varint(value, pos)
        branch, pos = _varint(value, pos)
        reason = None
        if branch == 1:
            reason, pos = _avro_string(value, pos)
        return ("%s:%d:%d" % (topic, partition, offset),
                FATE_KINDS[kind] + ("/" + reason if reason else ""))
    except (IndexError, UnicodeDecodeError):
        return None


class Decoder:
    """Full TrackingEvent decoding with python3-avro (only where a field beyond the prefix
    is needed: the sampling decision)."""

    def __init__(self):
        self.readers = {}
        if avro is None:
            return
        with open(os.path.join(ROOT, "schemas", "manifest.json")) as f:
            for s in json.load(f)["schemas"]:
                with open(os.path.join(ROOT, "schemas", s["file"])) as sf:
                    schema = avro.schema.parse(sf.read())
                self.readers[s["id"]] = avro.io.DatumReader(schema)

    def decode(self, value):
        if len(value) < 5 or value[0] != 0:
            return None
        reader = self.readers.get(int.from_bytes(value[1:5], "big"))
        if reader is None:
            return None
        return reader.read(avro.io.BinaryDecoder(io.BytesIO(value[5:])))


def src_of(rec):
    """The input a record came from: (topic:partition:offset, item index or None)."""
    s = rec.headers.get("bc.src")
    if s is None:
        return None, None
    s = s.decode()
    parts = s.split(":")
    if len(parts) == 4:
        return ":".join(parts[:3]), parts[3]
    idx = rec.headers.get("bc.dlq.index")
    return s, idx.decode() if idx else None


class Check:
    def __init__(self, bootstrap, truth, pipeline="tracking"):
        self.bootstrap = bootstrap
        self.truth = truth
        self.pipeline = pipeline
        self.results = []  # (name, status PASS|FAIL|SKIP, detail)
        self.figures = collections.OrderedDict()
        self.stages = collections.OrderedDict()
        self.topics = {}
        self.lineage_example = None
        self.decoder = None
        self.arrivals = None

    def fate(self, rec):
        """(source "topic:partition:offset", reason) of a Fate record: Avro
        (schemas/Fate.v1.avsc) or the runtime's earlier JSON."""
        try:
            if rec.value[:1] == b"{":
                j = json.loads(rec.value)
                return "%s:%s:%s" % (j["topic"], j["partition"], j["offset"]), j.get("reason", "?")
            fast = fate_prefix(rec.value)
            if fast is not None:
                return fast
            if self.decoder is None:
                self.decoder = Decoder()
            f = self.decoder.decode(rec.value)
            src = f["source"]
            reason = f["fate"] + ("/" + f["reason"] if f.get("reason") else "")
            return "%s:%d:%d" % (src["topic"], src["partition"], src["offset"]), reason
        except Exception:  # noqa: BLE001 - an unreadable Fate covers nothing
            return None, "unreadable"

    def topic(self, short):
        return short if short.startswith("sink.") else "%s.%s" % (self.pipeline, short)

    def read(self, short):
        name = self.topic(short)
        if name not in self.topics:
            if short == "raw":
                self.topics[name] = topic_positions(self.bootstrap, name) or []
            else:
                self.topics[name] = read_topic(self.bootstrap, name) or []
        return self.topics[name]

    def result(self, name, ok, detail):
        status = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
        self.results.append((name, status, detail))

    # -- checks --------------------------------------------------------------------------

    def run(self):
        for short in CHECKED_TOPICS:
            self.read(short)
        self.figures["records checked"] = sum(len(v) for v in self.topics.values())
        fates = self.read("fates")
        dlq = self.read("dlq")
        lost_total = dup_total = 0
        for worker, inputs, outputs in STAGES:
            wid = ("%s.%s" % (self.pipeline, worker)).encode()
            ins = [r for t in inputs for r in self.read(t)]
            outs = []
            for t in outputs:
                outs += [r for s in SINKS for r in self.read(s)] if t == "@sinks" else self.read(t)
            mine = [r for r in outs if r.headers.get("bc.worker") == wid]
            my_fates = [r for r in fates if r.headers.get("bc.worker") == wid]
            my_dlq = [r for r in dlq if r.headers.get("bc.worker") == wid]
            fate_info = [self.fate(r) for r in my_fates]
            st = {"in": len(ins), "out": len(mine), "fates": len(my_fates), "dlq": len(my_dlq),
                  "fate_reasons": collections.Counter(reason for _src, reason in fate_info)}
            self.stages[worker] = st
            if not mine and not my_fates and not my_dlq:
                self.result("%s: every input accounted for, none twice" % worker, None,
                            "no output from this worker (not run?)")
                continue
            covered = set()
            seen = collections.Counter()
            for is_out, group in ((True, mine), (False, my_fates + my_dlq)):
                for r in group:
                    src, idx = src_of(r)
                    if src is None and not is_out:
                        src = self.fate(r)[0]
                    covered.add(src)
                    ident = r.prefix() if is_out else None
                    seen[(r.topic, src, idx, ident[0] if ident else r.value)] += 1
            lost = sum(1 for r in ins if "%s:%d:%d" % (r.topic, r.partition, r.offset) not in covered)
            dups = sum(n - 1 for n in seen.values() if n > 1)
            st["lost"], st["duplicated"] = lost, dups
            lost_total += lost
            dup_total += dups
            self.result("%s: every input accounted for, none twice" % worker,
                        lost == 0 and dups == 0,
                        "%d inputs, %d outputs, %d fates, %d dead letters; lost %d, duplicated %d"
                        % (len(ins), len(mine), len(my_fates), len(my_dlq), lost, dups))
        self.figures["lost"] = lost_total
        self.figures["duplicated"] = dup_total
        self.check_dlq(dlq)
        self.check_unique()
        self.check_sinks()
        self.check_pii()
        self.find_lineage()
        return self

    def check_dlq(self, dlq):
        want = self.truth["dlq"]
        nid = ("%s.normalizer" % self.pipeline).encode()
        norm = [r for r in dlq if r.headers.get("bc.worker") == nid]
        later = [r for r in dlq if r.headers.get("bc.worker") != nid]
        got = collections.Counter(r.headers.get("bc.dlq.reason", b"?").decode() for r in norm)
        want_by = {k: v for k, v in want["by_reason"].items() if v}
        self.figures["dead letters"] = len(dlq)
        if not dlq and not self.read("normalized"):
            self.result("DLQ: every bad record, by reason", None, "normalizer not run")
            return
        diff = {k: (got.get(k, 0), want_by.get(k, 0)) for k in set(got) | set(want_by)
                if got.get(k, 0) != want_by.get(k, 0)}
        self.result("DLQ: every bad record, by reason", len(norm) == want["total"] and not diff,
                    "%d dead letters from the normalizer (truth %d)%s"
                    % (len(norm), want["total"], "; got/want %s" % diff if diff else ""))
        by = collections.Counter("%s %s" % (r.headers.get("bc.worker", b"?").decode(),
                                            r.headers.get("bc.dlq.reason", b"?").decode())
                                 for r in later)
        self.result("DLQ: no good record dead-lettered after the normalizer", not later,
                    "%d%s" % (len(later), " (%s)" % ", ".join("%s: %d" % kv for kv in sorted(by.items()))
                              if later else ""))

    def check_unique(self):
        recs = self.read("unique")
        if not recs:
            self.result("tracking.unique: every item exactly once", None, "deduplicator not run")
            return
        ids = collections.Counter()
        kinds = {}
        for r in recs:
            p = r.prefix()
            ids[p[0] if p else None] += 1
            if p:
                kinds[p[0]] = p[1]
        dup_kinds = collections.Counter(kinds.get(i) for i, n in ids.items() if n > 1)
        truth_ids = set()
        for kind in ("span", "log", "event"):
            truth_ids.update(self.truth["unique_event_ids"].get(kind, []))
        without = sum(self.truth["without_id"][k]["unique"] for k in ("log", "event"))
        missing = len(truth_ids - set(ids))
        dups = sum(n - 1 for n in ids.values() if n > 1)
        extra = len(set(ids) - truth_ids) - without
        self.figures["unique items"] = len(ids)
        normalized = len(self.read("normalized"))
        if normalized:
            self.figures["dedupe rate"] = "%.2f%%" % (100.0 * (normalized - len(recs)) / normalized)
        self.result("tracking.unique: every item exactly once",
                    missing == 0 and dups == 0 and extra == 0,
                    "%d records: %d missing, %d duplicated%s, %d unexpected (truth: %d ids + %d "
                    "without an id)" % (len(recs), missing, dups,
                                        " (%s)" % ", ".join("%s %d" % kv for kv in sorted(dup_kinds.items()))
                                        if dups else "", extra, len(truth_ids), without))

    def check_sinks(self):
        per = {s: len(self.read(s)) for s in SINKS}
        self.figures["sinks"] = per
        if not any(per.values()):
            self.result("sinks: must-keep traces whole, nothing twice", None, "router not run")
            return
        unique_ids = {r.prefix()[0] for r in self.read("unique") if r.prefix()}
        seen = collections.Counter()
        traces = collections.defaultdict(set)
        for s in SINKS:
            for r in self.read(s):
                p = r.prefix()
                if p is None:  # a sink in another format (e.g. JSON): by value
                    try:
                        j = json.loads(r.value)
                        p = (j.get("event_id"), j.get("kind"), j.get("trace_id"), j.get("span_id"))
                    except ValueError:
                        p = (r.value, None, None, None)
                seen[p[0]] += 1
                if s == "sink.traces" and p[2]:
                    traces[p[2]].add(p[3])
        dups = sum(n - 1 for n in seen.values() if n > 1)
        invented = len(set(seen) - unique_ids) if unique_ids else 0
        incomplete_must = 0
        for t in self.truth["must_keep"]["error_traces"] + self.truth["must_keep"]["slow_traces"]:
            if not set(t["span_ids"]) <= traces.get(t["trace_id"], set()):
                incomplete_must += 1
        want_spans = self.truth["trace_spans"]
        partial = sum(1 for t, spans in traces.items() if len(spans) != want_spans.get(t, -1))
        n_must = len(self.truth["must_keep"]["error_traces"]) + len(self.truth["must_keep"]["slow_traces"])
        self.figures["kept traces"] = len(traces)
        self.result("sinks: must-keep traces whole, nothing twice",
                    dups == 0 and invented == 0 and incomplete_must == 0 and partial == 0,
                    "%d records; %d duplicated, %d not in tracking.unique; must-keep traces "
                    "incomplete %d of %d; kept traces partial %d of %d"
                    % (sum(per.values()), dups, invented, incomplete_must, n_must, partial,
                       len(traces)))

    def check_pii(self):
        topics = DOWNSTREAM_OF_ENRICHER + SINKS
        recs = [r for t in topics for r in self.read(t)]
        if not recs:
            self.result("no PII downstream of the enricher", None, "enricher not run")
            return
        scanner = PiiScanner(self.truth["pii"])
        found = collections.Counter()
        for t in topics:
            rs = self.read(t)
            for i in range(0, len(rs), 20000):
                n = scanner.count([r.value for r in rs[i:i + 20000]])
                if n:
                    found[self.topic(t)] += n
        self.figures["PII values found downstream"] = sum(found.values())
        self.result("no PII downstream of the enricher", not found,
                    "%d records scanned%s" % (len(recs), "; found in %s" % dict(found) if found else ""))

    def sampling(self):
        """Kept spans by sampling policy (tracking.sampled, decoded)."""
        dec = Decoder()
        by = collections.Counter()
        for r in self.read("sampled"):
            try:
                ev = dec.decode(r.value)
            except Exception:  # noqa: BLE001 - a report line, not a check
                ev = None
            s = ev.get("sampling") if isinstance(ev, dict) else None
            by[s["policy"] if s else "(none)"] += 1
        return by

    def find_lineage(self):
        """One sink record's path back to tracking.raw through bc.src headers (and, with
        arrival times, the raw -> sink latency of every sink record)."""
        if self.arrivals:
            index = {}
            for recs in self.topics.values():
                for r in recs:
                    index["%s:%d:%d" % (r.topic, r.partition, r.offset)] = r
            find = index.get
        else:  # one path: look its few records up by scanning their topics
            def lookup(src):
                topic, _, rest = src.partition(":")
                part, _, off = rest.partition(":")
                part, off = int(part), int(off)
                for r in self.topics.get(topic, ()):
                    if r.offset == off and r.partition == part:
                        return r
                return None
            find = lookup
        if self.arrivals:
            lat = []
            for s in SINKS:
                for r in self.read(s):
                    t_sink = self.arrivals.get("%s:%d:%d" % (r.topic, r.partition, r.offset))
                    cur, src = r, None
                    while cur is not None:
                        src, _idx = src_of(cur)
                        if src is None or src.startswith(self.topic("raw") + ":"):
                            break
                        cur = find(src)
                    t_raw = self.arrivals.get(src) if src else None
                    if t_sink is not None and t_raw is not None:
                        lat.append(t_sink - t_raw)
            if lat:
                lat.sort()
                pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000.0  # noqa: E731
                self.figures["raw -> sink latency"] = (
                    "p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (%d sink records)"
                    % (pct(0.5), pct(0.9), pct(0.99), lat[-1] * 1000.0, len(lat)))
        for s in ("sink.traces", "sink.billing") + tuple(SINKS):
            for r in self.read(s)[:1]:
                path = ["%s:%d:%d" % (r.topic, r.partition, r.offset)]
                cur = r
                while cur is not None:
                    src, _idx = src_of(cur)
                    if src is None:
                        break
                    path.append(src)
                    cur = find(src)
                self.lineage_example = path
                return

    # -- report --------------------------------------------------------------------------

    def verdict(self):
        statuses = {s for _n, s, _d in self.results}
        if "FAIL" in statuses:
            return "FAIL"
        return "INCOMPLETE" if "SKIP" in statuses else "PASS"

    def report(self, out=sys.stdout, policies=True):
        w = out.write
        w("\nper stage               in        out      fates        dlq\n")
        for name, st in self.stages.items():
            w("  %-14s %10d %10d %10d %10d" % (name, st["in"], st["out"], st["fates"], st["dlq"]))
            if st["fate_reasons"]:
                w("   fates: %s" % ", ".join("%s %d" % kv for kv in sorted(st["fate_reasons"].items())))
            w("\n")
        for k, v in self.figures.items():
            if k == "sinks":
                w("  per sink: %s\n" % ", ".join("%s %d" % kv for kv in v.items()))
            else:
                w("  %s: %s\n" % (k, v))
        # Kept spans by policy need a full Avro decode of tracking.sampled (slow in Python).
        by = self.sampling() if policies and self.read("sampled") else {}
        enriched = len(self.read("enriched"))
        if by and enriched:
            w("  sampling: %d of %d kept (%.1f%%); by policy: %s\n" % (
                sum(by.values()), enriched, 100.0 * sum(by.values()) / enriched,
                ", ".join("%s %d" % kv for kv in sorted(by.items()))))
        if self.lineage_example:
            w("  lineage of one sink record:\n    %s\n" % "\n    <- ".join(self.lineage_example))
        w("\nchecks against the ground truth:\n")
        for name, status, detail in self.results:
            w("  %-4s %s: %s\n" % (status, name, detail))
        w("\n%s\n" % self.verdict())

    def as_json(self):
        return {"verdict": self.verdict(), "figures": self.figures,
                "stages": {k: {kk: vv for kk, vv in v.items() if kk != "fate_reasons"}
                           for k, v in self.stages.items()},
                "checks": [{"name": n, "status": s, "detail": d} for n, s, d in self.results],
                "lineage_example": self.lineage_example}


def observe(bootstrap, topics, out_path, stop):
    """Records the wall-clock time at which each record of topics becomes readable
    (read_committed), as {"topic:partition:offset": unix seconds}, until stop() is true;
    then writes out_path. For the raw -> sink latency of `make run`."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "breadcrumb-observe",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 50})
    tps = []
    for t in topics:
        md = c.list_topics(t, timeout=30).topics.get(t)
        tps += [TopicPartition(t, p, 0) for p in (md.partitions if md and not md.error else [])]
    c.assign(tps)
    seen = {}
    try:
        while not stop():
            for m in c.consume(10000, 0.2):
                if m.error() is None:
                    seen["%s:%d:%d" % (m.topic(), m.partition(), m.offset())] = time.time()
    finally:
        c.close()
    with open(out_path, "w") as f:
        json.dump(seen, f)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brokers", default=os.environ.get("BREADCRUMB_BROKERS"))
    ap.add_argument("--truth")
    ap.add_argument("--pipeline", default="tracking")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    ap.add_argument("--arrivals", help="arrival times written by --observe: raw -> sink latency")
    ap.add_argument("--observe", metavar="OUT", help="record arrival times of tracking.raw and "
                    "the sinks into OUT until SIGTERM/SIGINT, instead of checking")
    a = ap.parse_args(argv)
    if not a.brokers:
        ap.error("--brokers or BREADCRUMB_BROKERS")
    if a.observe:
        import signal
        stopping = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.append(1))
        observe(a.brokers, ["%s.raw" % a.pipeline] + SINKS, a.observe, lambda: bool(stopping))
        return 0
    if not a.truth:
        ap.error("--truth")
    with open(a.truth) as f:
        truth = json.load(f)
    c = Check(a.brokers, truth, a.pipeline)
    if a.arrivals:
        with open(a.arrivals) as f:
            c.arrivals = json.load(f)
    c.run()
    c.report()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(c.as_json(), f, indent=1, default=str)
    return 0 if c.verdict() == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
