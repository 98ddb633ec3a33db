"""`make bench` end to end at tiny sizes (tools/bench/run.sh --smoke): every phase runs (the
six workers and their baselines, the whole pipeline with its latency feed, the tail-sampler's
buffer and the deduplicator's store and restore, the broker against librdkafka's mock, the
Avro codec and the router's rules) and build/bench/results.json-style output is
complete: every field present, counts as the sizes imply. No timing assertion: performance
is what `make bench` measures, never a timed test."""
import json
import os
import subprocess

import bclib

WORKERS = ["normalizer", "deduplicator", "enricher", "tail-sampler", "router",
           "lineage-builder"]
NUMBERS = ["records", "seconds", "records_per_s", "cpu_s", "cpu_s_per_million", "peak_rss_mib"]


def number(v, what):
    bclib.check(isinstance(v, (int, float)) and not isinstance(v, bool), "%s is a number (%r)"
                % (what, v))
    return v


def run():
    out = os.path.join(bclib.WORK, "results.json")
    p = subprocess.run([os.path.join(os.environ["BC_ROOT"], "tools", "bench", "run.sh"),
                        "--smoke", "--out", out, "--work", os.path.join(bclib.WORK, "bench")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=240)
    bclib.check(p.returncode == 0, "run.sh --smoke exits 0 (%d)\nstdout:\n%s\nstderr:\n%s"
                % (p.returncode, p.stdout[-2000:], p.stderr[-4000:]))
    with open(out) as f:
        res = json.load(f)
    bclib.check(res["format"] == "breadcrumb-bench/1" and res["mode"] == "smoke", "format, mode")
    m = res["machine"]
    bclib.check(number(m["cores"], "cores") >= 1 and m["cpu_model"], "machine description")
    bclib.check(len(m["git_commit"]) == 40, "git commit %r" % m["git_commit"])

    chain = res["chain"]
    bclib.check([w["worker"] for w in chain["workers"]] == WORKERS, "six workers in order")
    for w in chain["workers"]:
        bclib.check(w["input_records"] > 0, "%s has input" % w["worker"])
        for side in ("baseline", "worker_numbers"):
            for k in NUMBERS:
                number(w[side][k], "%s %s %s" % (w["worker"], side, k))
            bclib.check(w[side]["records"] >= w["input_records"],
                        "%s %s consumed its whole input" % (w["worker"], side))
            bclib.check(w[side]["aborted"] == 0, "%s %s: no aborted transaction"
                        % (w["worker"], side))
        bclib.check(number(w["ratio"], "ratio") > 0, "%s ratio" % w["worker"])
    norm = chain["workers"][0]
    bclib.check(norm["input_records"] == chain["raw_records"], "the normalizer reads every raw "
                "record (%d of %d)" % (norm["input_records"], chain["raw_records"]))

    pipe = res["pipeline"]
    for k in ("raw_records", "raw_spans", "seconds", "raw_records_per_s", "raw_spans_per_s"):
        bclib.check(number(pipe[k], k) > 0, "pipeline %s" % k)
    bclib.check(sorted(pipe["cpu_s"]) == sorted(WORKERS), "pipeline CPU per worker")
    lat = pipe["latency"]
    bclib.check(lat["sink_records"] > 0, "sink records in the latency feed")
    # config/topology.yaml: decision_wait 20s + allowed_lateness 30s
    bclib.check(lat["decision_window_event_s"] == 50, "decision window %s" % lat)
    bclib.check(number(lat["event_time_speed"], "speed") > 0 and
                number(lat["decision_window_wall_s"], "window") > 0 and
                number(lat["cooldown_s"], "cooldown") >= 0, "latency feed numbers %s" % lat)
    bclib.check(number(lat["p50_ms"], "p50") <= number(lat["p99_ms"], "p99")
                <= number(lat["max_ms"], "max"), "p50 <= p99 <= max")

    mem = res["memory"]
    points = mem["tail_sampler"]
    bclib.check([pt["buffered_spans"] for pt in points] == [3000], "sampler points %s" % points)
    for pt in points:
        for k in ("avg_span_bytes", "logical_bytes_per_span", "logical_overhead_per_span",
                  "rss_bytes_per_span", "rss_overhead_per_span", "rss_mib"):
            number(pt[k], "sampler " + k)
        bclib.check(pt["logical_bytes_per_span"] >= pt["avg_span_bytes"],
                    "every buffered span counted with at least its own bytes (%s)" % pt)
    d = mem["deduplicator"]
    bclib.check(d["store_entries"] == d["keys"] == 5000, "5000 keys remembered (%s)" % d)
    bclib.check(d["restored_records"] == 5000, "5000 changelog records restored (%s)" % d)
    for k in ("logical_bytes_per_key", "rss_bytes_per_key", "restore_seconds",
              "start_to_ready_seconds"):
        number(d[k], "dedup " + k)
    comp = res["components"]
    for side in ("breadcrumb_broker", "librdkafka_mock"):
        for k in ("produce_msgs_s", "consume_msgs_s"):
            bclib.check(number(comp["broker"][side][k], k) > 0, "broker %s %s" % (side, k))
    for k in ("bc_avro_encode_per_s", "bc_avro_decode_per_s", "avro_c_write_per_s",
              "avro_c_read_per_s"):
        bclib.check(number(comp["avro"][k], k) > 0, "avro " + k)
    for k in ("routed_per_s", "decode_route_encode_per_s"):
        bclib.check(number(comp["router_rules"][k], k) > 0, "router " + k)
    bclib.check("| normalizer |" in p.stdout and "raw spans/s" in p.stdout, "table printed")
    print("RESULT bench smoke: %d phases, JSON complete (%d workers, pipeline %d raw records, "
          "%d sampler point, %d dedup keys)" % (4, len(chain["workers"]), pipe["raw_records"],
                                                len(points), d["keys"]))


bclib.main(run)
