"""PostgreSQL mode: two gateway processes share one database under concurrent load and lose
no occupancy (the update is a bitwise OR done by the server); a group commit that PostgreSQL
aborts to break a deadlock is run again; a server that stops or freezes mid-run turns requests
into 503 answers within the store's bound, and after it is back nothing answered is lost."""
import base64
import collections
import concurrent.futures
import json
import os
import queue
import signal
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
# Rows per request in the outage test (fresh random rows of this many surely occupy new
# buckets, so the answer waits for its commit).
OUTAGE_ROWS = 16
# The gateway's bound on one store operation (PostgresStore.operationTimeoutSeconds).
STORE_BOUND_SECONDS = 10
# The client's timeout in the outage test: a request may wait for the transaction in flight and
# then its own (twice the bound), so this is well above that; and below the minute after which
# the connection pool's circuit breaker fails requests queued for a stopped server, so that
# without the bound the request counts as hanging.
OUTAGE_CLIENT_TIMEOUT = 45


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
    return postgres_server("postgres", workdir, bindir, as_user, port), port


def postgres_server(name, workdir, bindir, as_user, port):
    """Starts the server of the cluster in `workdir/pg` on `port` (again, after a stop); its log
    is `name`.log (a name of its own per start, since readiness is read from the log)."""
    data = os.path.join(workdir, "pg")
    prefix = ["runuser", "-u", as_user, "--"] if as_user else []
    proc = Process(name, prefix + [os.path.join(bindir, "postgres"), "-D", data, "-p", str(port), "-k", data,
                                   "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on",
                                   "-c", "deadlock_timeout=%dms" % DEADLOCK_TIMEOUT_MS], workdir)
    proc.wait_for("ready to accept connections", timeout=60)
    return proc


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
    pg = server_outage(results, b4b, workdir, bindir, as_user, pg, pg_port, store)
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


def outage_request(base, key, batch):
    """(status, parsed answer or a description of the failure, seconds) of one /v1/protect call
    with the outage test's client timeout; a call that gets no answer has status None."""
    body = {"input": [base64.b64encode(r.tobytes()).decode() for r in batch], "encoding_format": "base64"}
    started = time.monotonic()
    try:
        status, answer, _ = request(base + "/v1/protect", body, key=key, timeout=OUTAGE_CLIENT_TIMEOUT)
    except OSError as e:  # urllib's timeouts and connection errors
        status, answer = None, "no answer within %d s (%s)" % (OUTAGE_CLIENT_TIMEOUT, e)
    return status, answer, time.monotonic() - started


def store_unavailable(outcome):
    """Whether an outage_request outcome is the gateway's 503 in the OpenAI error shape."""
    status, answer, _ = outcome
    return (status == 503 and isinstance(answer, dict) and isinstance(answer.get("error"), dict)
            and isinstance(answer["error"].get("message"), str) and answer["error"].get("type") == "server_error"
            and answer["error"].get("code") == "state_store_unavailable")


def describe(outcome):
    status, answer, seconds = outcome
    if status == 200:
        return "200 after %.1f s" % seconds
    text = json.dumps(answer) if isinstance(answer, dict) else str(answer)
    return "%s after %.1f s: %s" % (status, seconds, text[:240])


def signal_server(workdir, sig):
    """Sends `sig` to the server of the cluster in `workdir/pg`: the postmaster, then every
    process it forked (each backend leads a session of its own, so a signal to the postmaster's
    process group would not reach them)."""
    with open(os.path.join(workdir, "pg", "postmaster.pid")) as f:
        master = int(f.readline())
    children = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.isdigit() and int(fields[1]) == master:
            children.append(int(entry))
    for pid in [master] + children:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return len(children)


def stored_count(bindir, port, user):
    rows = psql(bindir, port, "SELECT query_count FROM b4b_occupancy WHERE user_id = '%s'" % user)
    return int(rows[0][0]) if rows else 0


def server_outage(results, b4b, workdir, bindir, as_user, pg, pg_port, store):
    """The server goes away while a gateway serves on it, twice, and comes back each time.

    1. Stopped (`SIGQUIT` to the server's processes: PostgreSQL's immediate shutdown, what a
       crash leaves): a request that needs the store (new buckets to commit; or a key not in
       the gateway's key cache) is answered 503 in the OpenAI error shape before the client's
       timeout, instead of hanging. A request that needs no store (repeated rows of a cached
       key) is answered 200 and its count kept. The server is started again on the same port
       and data directory: the kept count reaches the database while the gateway runs, and a
       request is answered 200.
    2. Frozen (`SIGSTOP`, as a hung machine or a network cut looks to the gateway: connections
       stay open, nothing answers): a request is answered 503 likewise, though its statement
       was sent on an open connection; after `SIGCONT` a request is answered 200.

    Counts asserted for the account (A = rows of its requests answered 200, T = rows of its
    requests answered 503): after phase 1, the stored count is exactly A (a stopped server
    received nothing of the 503 request); phase 1 and 2 together store between A and A + T: a
    frozen server holds the statement the gateway gave up on and may run it when it resumes,
    so the frozen phase adds either A2 or A2 + T2, nothing else."""
    keys = [subprocess.run([b4b, "keys", "add", "--quiet", "--name", "outage-%d" % i, "--store", store],
                           check=True, capture_output=True, text=True).stdout.strip() for i in range(2)]
    key, uncached = keys
    user = key.split("-")[1]
    port = free_port()
    # A key cache far longer than the test, so that only the requests of `uncached` read keys.
    g = Process("replica-outage", [b4b, "serve", "--port", str(port), "--store", store, "--dimension", str(DIM),
                                   "--transforms", "shuffle", "--max-inputs", "64", "--key-cache-seconds", "3600"], workdir)
    g.wait_for("listening on", timeout=120)
    base = "http://127.0.0.1:%d" % port
    rng = np.random.default_rng(13)

    def fresh():
        return rng.standard_normal((OUTAGE_ROWS, DIM)).astype(np.float32)

    answered, failed = 0, 0  # rows of `key`'s requests answered 200 / 503

    def tally(outcome):
        nonlocal answered, failed
        if outcome[0] == 200:
            answered += OUTAGE_ROWS
        elif outcome[0] == 503:
            failed += OUTAGE_ROWS

    seen = fresh()
    before = [outage_request(base, key, seen) for _ in range(2)]  # the second repeats the first: no new bucket
    for o in before:
        tally(o)
    results.check("outage test: requests before the outage answer 200", all(o[0] == 200 for o in before),
                  "; ".join(describe(o) for o in before))
    time.sleep(1.0)  # the repeated request's count (committed within 100 ms) is stored

    # 1. Stopped.
    pg.stop(sig=signal.SIGQUIT)
    repeat = outage_request(base, key, seen)
    tally(repeat)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        commit_needed = pool.submit(outage_request, base, key, fresh())
        key_needed = pool.submit(outage_request, base, uncached, fresh())
        commit_needed, key_needed = commit_needed.result(), key_needed.result()
    tally(commit_needed)
    results.check("stopped server: a request needing no store (repeated rows, cached key) answers 200", repeat[0] == 200,
                  describe(repeat))
    results.check("stopped server: a request whose new buckets must be committed answers 503 (OpenAI error shape), no hang",
                  store_unavailable(commit_needed), describe(commit_needed))
    results.check("stopped server: a request whose key must be read answers 503 (OpenAI error shape), no hang",
                  store_unavailable(key_needed), describe(key_needed))
    pg = postgres_server("postgres-restarted", workdir, bindir, as_user, pg_port)
    # The repeated request's count, kept after its failed transactions, is retried by the
    # running gateway once the pool reconnects (after its back-off, a few seconds here).
    restarted, count = time.monotonic(), -1
    while time.monotonic() < restarted + 90:
        count = stored_count(bindir, pg_port, user)
        if count >= 3 * OUTAGE_ROWS:
            break
        time.sleep(0.2)
    results.check("restarted server: the count of the request answered during the outage is stored while the gateway runs",
                  count == 3 * OUTAGE_ROWS, "stored %d, answered %d; %.1f s after the restart"
                  % (count, 3 * OUTAGE_ROWS, time.monotonic() - restarted))
    after = outage_request(base, key, fresh())
    tally(after)
    results.check("restarted server: a request with new buckets answers 200", after[0] == 200, describe(after))
    time.sleep(1.0)
    count = stored_count(bindir, pg_port, user)
    results.check("stopped server: the stored count is exactly the rows answered 200 (%d; the 503 request sent %d)"
                  % (answered, failed), count == answered, "stored %d" % count)
    answered_1, failed_1 = answered, failed

    # 2. Frozen.
    try:
        signal_server(workdir, signal.SIGSTOP)
        frozen = outage_request(base, key, fresh())
    finally:
        signal_server(workdir, signal.SIGCONT)
    tally(frozen)
    results.check("frozen server: a request whose statement was sent answers 503 (OpenAI error shape), no hang",
                  store_unavailable(frozen), describe(frozen))
    thawed = outage_request(base, key, fresh())
    tally(thawed)
    results.check("resumed server: a request with new buckets answers 200", thawed[0] == 200, describe(thawed))
    g.stop()
    count = stored_count(bindir, pg_port, user)
    added_2, answered_2, failed_2 = count - answered_1, answered - answered_1, failed - failed_1
    results.check("after both outages the database counts every row answered 200, and at most the rows answered 503 besides",
                  answered <= count <= answered + failed and added_2 in (answered_2, answered_2 + failed_2),
                  "stored %d; answered 200: %d rows, 503: %d rows; the frozen phase added %d, its requests answered 200 "
                  "%d rows, 503 %d rows" % (count, answered, failed, added_2, answered_2, failed_2))
    return pg
