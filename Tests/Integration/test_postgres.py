"""PostgreSQL mode: two gateway processes share one database under concurrent load and lose
no occupancy (the update is a bitwise OR done by the server); a group commit that PostgreSQL
aborts to break a deadlock is run again."""
import base64
import collections
import concurrent.futures
import json
import os
import queue
import subprocess
import threading
import time

import numpy as np

from harness import Process, free_port, request

ROWS = 4
DIM = 384
KEYS = 6
REQUESTS = 2400
CLIENTS = 16
# The server's deadlock_timeout: how long a backend waits on a lock before it checks for a
# deadlock (and, finding one, aborts its own transaction). The deadlock test's psql session
# sets a much longer one for itself, so that the gateway's transaction is the one aborted.
DEADLOCK_TIMEOUT_MS = 3000
# Rows per request in the deadlock test: enough that each request surely occupies new buckets
# (so it takes part in the next group commit at once).
DEADLOCK_ROWS = 16


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
                                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on",
                                         "-c", "deadlock_timeout=%dms" % DEADLOCK_TIMEOUT_MS], workdir)
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
    # keys list and revoke open an existing store: a database without the b4b tables (here one
    # with another application's table) is refused, and gets no table.
    psql(bindir, pg_port, "CREATE DATABASE other")
    other_sql = [os.path.join(bindir, "psql"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-d", "other", "-At", "-c"]
    subprocess.run(other_sql + ["CREATE TABLE t (x int)"], check=True, capture_output=True)
    other = "postgres://postgres@127.0.0.1:%d/other" % pg_port
    refusals = [subprocess.run([b4b, "keys", command, "--store", other] + extra, capture_output=True, text=True, timeout=60)
                for command, extra in [("list", []), ("revoke", ["0123456789ab"])]]
    tables = subprocess.run(other_sql + ["SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"],
                            check=True, capture_output=True, text=True).stdout.strip()
    results.check("keys list/revoke on a PostgreSQL database without the b4b tables: refused, no table created",
                  all(r.returncode != 0 and "is not a b4b store" in r.stderr for r in refusals) and tables == "t",
                  "; ".join("exit %d: %s" % (r.returncode, r.stderr.strip()[-160:]) for r in refusals) + "; tables: " + tables)
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
    deadlock_retry(results, b4b, workdir, bindir, pg_port, store, keys)
    pg.stop()


class Session:
    """An interactive psql session (its own connection), for holding row locks across steps."""

    def __init__(self, bindir, port):
        self.proc = subprocess.Popen([os.path.join(bindir, "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                      "-At", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line.rstrip("\n")) for line in self.proc.stdout], daemon=True).start()
        self.marks = 0

    def send(self, sql):
        """Sends `sql` and returns a mark to wait for (printed once the statement has finished)."""
        self.marks += 1
        # A statement runs when psql reads its semicolon; the mark (an echo) comes after it.
        self.proc.stdin.write("%s;\n\\echo DONE-%d\n" % (sql.rstrip().rstrip(";"), self.marks))
        self.proc.stdin.flush()
        return "DONE-%d" % self.marks

    def wait(self, mark, timeout=30):
        """The lines printed before `mark`; raises when it does not come within `timeout` s."""
        out, deadline = [], time.time() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                raise RuntimeError("psql did not finish within %d s; it printed %r" % (timeout, out))
            if line == mark:
                return out
            out.append(line)

    def run(self, sql, timeout=30):
        return self.wait(self.send(sql), timeout)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def wait_for_lock_wait(bindir, port, exclude, timeout=20):
    """Waits until a backend other than `exclude` (psql sessions' pids) is waiting on a lock
    inside the gateway's occupancy commit."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = psql(bindir, port, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                  "AND query LIKE 'INSERT INTO b4b_occupancy%'")
        if any(int(r[0]) not in exclude for r in rows):
            return
        time.sleep(0.02)
    raise RuntimeError("no gateway commit waited on a lock within %d s" % timeout)


def deadlock_retry(results, b4b, workdir, bindir, pg_port, store, keys):
    """A transaction from outside the gateway deadlocks with a group commit; PostgreSQL aborts
    the commit, which the gateway runs again, so the requests it carried still answer 200.

    The steps make the cycle certain: session `blocker` holds the row of a third account while
    that account's commit waits on it, so the next two requests queue up and go into one group
    commit; session `other` takes the second row of that group before the commit starts, and
    then asks for the first row, which the commit (locking in order) holds while it waits for
    the second. The commit waited first, so its deadlock check (after the server's 3 s) runs
    first and aborts it; `other` sets a 60 s one for itself."""
    port = free_port()
    g = Process("replica-deadlock", [b4b, "serve", "--port", str(port), "--store", store, "--dimension", str(DIM),
                                     "--transforms", "shuffle", "--max-inputs", "64"], workdir)
    g.wait_for("listening on", timeout=120)
    base = "http://127.0.0.1:%d" % port
    by_user = {k.split("-")[1]: k for k in keys}
    first, second, third = sorted(by_user)[:3]
    before = {r[0]: int(r[1]) for r in psql(bindir, pg_port, "SELECT user_id, query_count FROM b4b_occupancy")}
    rng = np.random.default_rng(11)
    answers = {}

    def send(user):
        # Fresh random rows occupy new buckets, so the default policy answers after the commit.
        batch = rng.standard_normal((DEADLOCK_ROWS, DIM)).astype(np.float32)
        body = {"input": [base64.b64encode(r.tobytes()).decode() for r in batch], "encoding_format": "base64"}
        status, answer, _ = request(base + "/v1/protect", body, key=by_user[user])
        answers[user] = (status, "" if status == 200 else str(answer)[:300])

    blocker, other = Session(bindir, pg_port), Session(bindir, pg_port)
    sessions = {int(blocker.run("SELECT pg_backend_pid()")[0]), int(other.run("SELECT pg_backend_pid()")[0])}
    try:
        blocker.run("BEGIN; SELECT 1 FROM b4b_occupancy WHERE user_id = '%s' FOR UPDATE;" % third)
        threads = [threading.Thread(target=send, args=(third,))]
        threads[0].start()
        wait_for_lock_wait(bindir, pg_port, sessions)
        for user in (first, second):
            threads.append(threading.Thread(target=send, args=(user,)))
            threads[-1].start()
        time.sleep(2.0)  # the two requests reach the commit queue behind the blocked commit
        other.run("SET deadlock_timeout = '60s'; BEGIN; SELECT 1 FROM b4b_occupancy WHERE user_id = '%s' FOR UPDATE;" % second)
        blocker.run("ROLLBACK;")
        threads[0].join(30)
        wait_for_lock_wait(bindir, pg_port, sessions)
        out = other.run("SELECT 1 FROM b4b_occupancy WHERE user_id = '%s' FOR UPDATE;" % first, timeout=60)
        other_ok = not any("deadlock" in line for line in out)
        other.run("ROLLBACK;")
        for t in threads[1:]:
            t.join(60)
    finally:
        blocker.close()
        other.close()
    g.stop()
    retries = [line for line in g.output().splitlines() if "running it again" in line and "40P01" in line]
    results.check("the test's own session was not the deadlock victim (the cycle formed as planned)", other_ok, "; ".join(out))
    results.check("a group commit aborted by a deadlock is run again: its requests answer 200",
                  all(answers.get(u, (0,))[0] == 200 for u in (first, second, third)) and retries,
                  "; ".join("%s: %s %s" % (u, *answers.get(u, ("no answer", ""))) for u in (first, second, third))
                  + ("; gateway log: " + retries[0][-160:] if retries else "; no retry after SQLSTATE 40P01 in the gateway's log"))
    after = {r[0]: int(r[1]) for r in psql(bindir, pg_port, "SELECT user_id, query_count FROM b4b_occupancy")}
    results.check("the retried commit stored each account's rows once",
                  all(after.get(u, 0) - before.get(u, 0) == DEADLOCK_ROWS for u in (first, second, third)),
                  "; ".join("%s: +%d" % (u, after.get(u, 0) - before.get(u, 0)) for u in (first, second, third)))
