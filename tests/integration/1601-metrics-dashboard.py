"""The Grafana dashboard (compose/grafana/breadcrumb-pipeline.json) is valid JSON and every
panel query is valid PromQL (`promtool check rules` on the queries as recording rules, with
Grafana's variables substituted) that uses only metric names documented in README's
"Metrics, health and logs" section."""
import json
import os
import re
import shutil
import subprocess

import bclib


def run():
    root = os.environ["BC_ROOT"]
    with open(os.path.join(root, "compose/grafana/breadcrumb-pipeline.json")) as f:
        dash = json.load(f)
    with open(os.path.join(root, "README.md")) as f:
        readme = f.read()
    section = readme.split("<!-- section: metrics -->", 1)[1].split("<!-- section:", 1)[0]
    documented = set(re.findall(r"`(breadcrumb_[a-z_]+)`", section))
    rules = []
    for i, panel in enumerate(dash["panels"]):
        for j, target in enumerate(panel["targets"]):
            expr = target["expr"].replace("$__rate_interval", "1m").replace("$worker", ".*")
            for name in re.findall(r"\b(breadcrumb_[a-z_]+)", expr):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                bclib.check(name in documented or base in documented,
                            "panel %r uses undocumented metric %s" % (panel["title"], name))
            rules.append({"record": "dashboard:panel%d_%d" % (i, j), "expr": expr})
    bclib.check(len(rules) >= 10, "dashboard has its panels (%d queries)" % len(rules))
    promtool = shutil.which("promtool")
    if promtool is None:
        print("RESULT dashboard: %d queries use documented metrics; promtool not available"
              % len(rules), flush=True)
        return
    path = os.path.join(bclib.WORK, "dashboard-rules.json")  # YAML is a superset of JSON
    with open(path, "w") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    r = subprocess.run([promtool, "check", "rules", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    bclib.check(r.returncode == 0, "promtool check rules:\n%s" % r.stdout)
    print("RESULT dashboard: %d panel queries valid PromQL on documented metrics" % len(rules),
          flush=True)


bclib.main(run)
