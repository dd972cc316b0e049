"""Load test (loopback only, bounded in time): requests/s and latency percentiles of
  - the upstream called directly (a fast fake OpenAI-compatible server),
  - the gateway's /v1/embeddings in front of it (16 texts per request),
  - the gateway's /v1/protect (16 vectors of 384 floats, base64): the gateway's own cost,
  - the gateway's GET /health (the HTTP floor of this machine),
measured with wrk. Every answered /v1/protect request includes its durable occupancy commit."""
import base64
import json
import os
import re
import subprocess
import sys

import numpy as np

from harness import Process, free_port, request

DURATION = 6  # seconds per measurement


def wrk(url, workdir, name, connections, body=None, key=None):
    script = os.path.join(workdir, name + ".lua")
    with open(script, "w") as f:
        if body is not None:
            f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
            f.write("wrk.body = [==[%s]==]\n" % body)
        if key:
            f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % key)
        f.write("done = function(summary, latency, requests)\n"
                "  io.write(string.format('RESULT %d %d %d %d %d %f %f %f %f\\n', summary.requests, summary.duration,"
                " summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,"
                " 0, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))\nend\n")
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % DURATION, "--timeout", "5s", "-s", script, url],
                         check=True, capture_output=True, text=True, timeout=DURATION + 30).stdout
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) \d+ ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if not m:
        raise RuntimeError("cannot read wrk's output:\n" + out)
    n, duration_us, status_errors, socket_errors = (int(m.group(i)) for i in range(1, 5))
    p50, p90, p99, pmax = (float(m.group(i)) / 1000 for i in range(5, 9))  # microseconds -> ms
    return {"requests": n, "rps": n / (duration_us / 1e6), "p50": p50, "p90": p90, "p99": p99, "max": pmax,
            "errors": status_errors + socket_errors}


def run(results, b4b, workdir):
    dim = 384
    here = os.path.dirname(os.path.abspath(__file__))
    fake_port = free_port()
    fake = Process("load-upstream", [sys.executable, os.path.join(here, "fake_upstream.py"), "--port", str(fake_port), "--dim", str(dim)], workdir)
    fake.wait_for("fake upstream on")
    store = "sqlite:" + os.path.join(workdir, "load.sqlite")
    key = subprocess.run([b4b, "keys", "add", "--quiet", "--store", store], check=True, capture_output=True, text=True).stdout.strip()
    port = free_port()
    gateway = Process("load-gateway", [b4b, "serve", "--port", str(port), "--store", store, "--dimension", str(dim),
                                       "--upstream", "http://127.0.0.1:%d/v1" % fake_port, "--transforms", "affine",
                                       "--log-level", "warning"], workdir)
    gateway.wait_for("listening on", timeout=120)
    base = "http://127.0.0.1:%d" % port

    texts = json.dumps({"input": ["load test sentence number %d about embeddings" % i for i in range(16)],
                        "model": "fake", "encoding_format": "base64"})
    vectors = np.random.default_rng(1).standard_normal((16, dim)).astype(np.float32)
    protect = json.dumps({"input": [base64.b64encode(v.tobytes()).decode() for v in vectors], "encoding_format": "base64"})
    # Warm up (the account's transform is derived on first use).
    assert request(base + "/v1/protect", raw=protect.encode(), key=key)[0] == 200
    assert request(base + "/v1/embeddings", raw=texts.encode(), key=key)[0] == 200

    rows = []
    for connections in (1, 8):
        measured = [
            ("upstream direct /v1/embeddings", wrk("http://127.0.0.1:%d/v1/embeddings" % fake_port, workdir, "direct", connections, texts)),
            ("gateway /v1/embeddings", wrk(base + "/v1/embeddings", workdir, "embeddings", connections, texts, key)),
            ("gateway /v1/protect", wrk(base + "/v1/protect", workdir, "protect", connections, protect, key)),
            ("gateway GET /health", wrk(base + "/health", workdir, "health", connections)),
        ]
        for name, r in measured:
            rows.append((connections, name, r))
    print("\nLoad test (wrk, 1 thread, %d s per row, 16 inputs per request, loopback):" % DURATION)
    print("| clients | target | requests/s | p50 ms | p90 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for connections, name, r in rows:
        print("| %d | %s | %.0f | %.3f | %.3f | %.3f | %d |" % (connections, name, r["rps"], r["p50"], r["p90"], r["p99"], r["errors"]))
    with open(os.path.join(workdir, "load-test.json"), "w") as f:
        json.dump([{"clients": c, "target": n, **r} for c, n, r in rows], f, indent=1)
    by = {(c, n): r for c, n, r in rows}
    results.check("load test ran without errors", all(r["errors"] == 0 and r["requests"] > 0 for _, _, r in rows))
    # Timings are reported, not asserted (as the quick benchmark): a shared 2-core machine's
    # tail latency says more about its neighbours than about the gateway.
    single = by[(1, "gateway /v1/protect")]
    print("TARGET %s: gateway's own cost, /v1/protect p99 %.3f ms (target < 1 ms; p50 %.3f ms, %.0f requests/s, one client, "
          "16 inputs, each answer after its fsync'ed commit)" % ("met" if single["p99"] < 1.0 else "MISSED", single["p99"], single["p50"], single["rps"]))
    added = by[(1, "gateway /v1/embeddings")]["p99"] - by[(1, "upstream direct /v1/embeddings")]["p99"]
    added50 = by[(1, "gateway /v1/embeddings")]["p50"] - by[(1, "upstream direct /v1/embeddings")]["p50"]
    print("gateway /v1/embeddings minus the upstream called directly (one client): p50 %+.3f ms, p99 %+.3f ms" % (added50, added))
    gateway.stop()
    fake.stop()
