"""PostgreSQL mode: two gateway processes share one database under concurrent load and lose
no occupancy (the update is a bitwise OR done by the server)."""
import base64
import collections
import concurrent.futures
import json
import os
import subprocess
import threading

import numpy as np

from harness import Process, free_port, request

ROWS = 4
DIM = 384
KEYS = 6
REQUESTS = 2400
CLIENTS = 16


def start_postgres(workdir, bindir, as_user):
    """A throw-away cluster in `workdir/pg` on a free loopback port, trust authentication."""
    data = os.path.join(workdir, "pg")
    os.makedirs(data, exist_ok=True)
    prefix = ["runuser", "-u", as_user, "--"] if as_user else []
    if as_user:
        subprocess.run(["chown", "-R", as_user, workdir], check=True)
    subprocess.run(prefix + [os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    port = free_port()
    proc = Process("postgres", prefix + [os.path.join(bindir, "postgres"), "-D", data, "-p", str(port), "-k", data,
                                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on"], workdir)
    proc.wait_for("ready to accept connections", timeout=60)
    return proc, port


def psql(bindir, port, sql):
    out = subprocess.run([os.path.join(bindir, "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-At", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("|") for line in out.strip().splitlines() if line]


def run(results, b4b, workdir, bindir, as_user):
    os.makedirs(workdir, exist_ok=True)
    pg, pg_port = start_postgres(workdir, bindir, as_user)
    store = "postgres://postgres@127.0.0.1:%d/postgres" % pg_port
    keys = [subprocess.run([b4b, "keys", "add", "--quiet", "--name", "replica-test-%d" % i, "--store", store],
                           check=True, capture_output=True, text=True).stdout.strip() for i in range(KEYS)]
    gateways = []
    for name in ("replica-1", "replica-2"):
        port = free_port()
        g = Process(name, [b4b, "serve", "--port", str(port), "--store", store, "--dimension", str(DIM),
                           "--transforms", "shuffle", "--max-inputs", "64"], workdir)
        gateways.append((g, "http://127.0.0.1:%d" % port))
    for g, _ in gateways:
        g.wait_for("listening on", timeout=120)

    # Concurrent load: many small requests of several accounts, each to a random replica, so
    # that both replicas' group commits often hold the same accounts at the same moment (the
    # pattern that deadlocks when replicas lock rows in different orders).
    rng = np.random.default_rng(7)
    sent = {k: [] for k in keys}
    lock = threading.Lock()
    jobs = []
    for i in range(REQUESTS):
        batch = rng.standard_normal((ROWS, DIM)).astype(np.float32)
        jobs.append((keys[rng.integers(KEYS)], gateways[rng.integers(2)][1], batch))

    def send(job):
        key, base, batch = job
        body = {"input": [base64.b64encode(r.tobytes()).decode() for r in batch], "encoding_format": "base64"}
        status, answer, headers = request(base + "/v1/protect", body, key=key)
        with lock:
            sent[key].append(batch)
        return status, "" if status == 200 else str(answer)[:300]

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = list(pool.map(send, jobs))
    failures = collections.Counter(o for o in outcomes if o[0] != 200)
    results.check("two replicas answered %d concurrent requests of %d accounts" % (REQUESTS, KEYS), not failures,
                  "; ".join("%d x %d: %s" % (n, status, message) for (status, message), n in failures.items()) or "all 200")
    for g, _ in gateways:
        g.stop()

    rows = {r[0]: (int(r[1]), int(r[2])) for r in psql(bindir, pg_port, "SELECT user_id, query_count, length(replace(bits::text, '0', '')) FROM b4b_occupancy")}
    counts_ok = all(rows.get(k.split("-")[1], (0, 0))[0] == ROWS * len(sent[k]) for k in keys)
    results.check("the database counts every row either replica served", counts_ok,
                  "; ".join("%s: %d stored, %d sent" % (k.split("-")[1], rows.get(k.split("-")[1], (0, 0))[0], ROWS * len(sent[k])) for k in keys))

    # No bucket lost: a fresh gateway on the same database replays every vector; if any
    # bucket either replica recorded were missing, the replay would raise the coverage.
    port = free_port()
    g3 = Process("replica-3", [b4b, "serve", "--port", str(port), "--store", store, "--dimension", str(DIM),
                               "--transforms", "shuffle", "--max-inputs", "64"], workdir)
    g3.wait_for("listening on", timeout=120)
    base3 = "http://127.0.0.1:%d" % port
    for k in keys:
        stored_coverage = rows[k.split("-")[1]][1] / 4096
        seen = []
        for batch in sent[k]:
            body = {"input": [base64.b64encode(r.tobytes()).decode() for r in batch]}
            status, _, headers = request(base3 + "/v1/protect", body, key=k)
            seen.append(float(headers.get("x-b4b-coverage", headers.get("X-B4B-Coverage", "nan"))))
        results.check("replaying account %s's vectors adds no bucket (no occupancy lost)" % k.split("-")[1],
                      stored_coverage > 0 and max(seen) == stored_coverage,
                      "stored coverage %.5f, after replay %.5f" % (stored_coverage, max(seen)))
    g3.stop()
    pg.stop()
