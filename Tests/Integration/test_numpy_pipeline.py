"""The NumPy counterpart of the benchmark (Benchmarks/numpy_pipeline.py): its own correctness
check (vectorised coverage against the paper's set-of-tuples tracking, transform sanity), and
the serve mode through which `b4b-bench --numpy` takes turns with it (one JSON object per line).
"""
import json
import os
import statistics
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Benchmarks", "numpy_pipeline.py")


def run(results):
    script = os.path.normpath(SCRIPT)
    check_self_check(results, script)
    check_serve(results, script)
    check_pages(results, script)


def check_self_check(results, script):
    for normals in ("gaussian", "signs"):
        done = subprocess.run([sys.executable, script, "--self-check", "--dimension", "64,384", "--normals", normals],
                              capture_output=True, text=True, timeout=600)
        results.check(f"numpy_pipeline.py --self-check --normals {normals}: vectorised coverage equals the set-of-tuples reference",
                      done.returncode == 0, done.stderr.strip().splitlines()[-1] if done.returncode and done.stderr.strip() else "")
    bad = subprocess.run([sys.executable, script, "--self-check", "--normals", "binary"], capture_output=True, text=True, timeout=60)
    results.check("numpy_pipeline.py --normals refuses an unknown kind, naming the choices",
                  bad.returncode == 2 and "gaussian" in bad.stderr and "signs" in bad.stderr, bad.stderr.strip()[-200:])


class Worker:
    """A `--serve` process driven line by line, as b4b-bench drives it."""

    def __init__(self, script, *options):
        self.proc = subprocess.Popen([sys.executable, script, "--serve", *options], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def read(self):
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def send(self, message):
        self.proc.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self):
        self.proc.stdin.close()
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def check_serve(results, script):
    w = Worker(script, "--threads", "1", "--min-rows", "32", "--warmup", "1")
    try:
        hello = w.read()
        results.check("serve: the greeting names NumPy, its BLAS and 1 thread",
                      hello is not None and hello.get("ok") is True and isinstance(hello.get("numpy_version"), str)
                      and isinstance(hello.get("blas"), str) and hello.get("threads") == 1, str(hello))

        prepared = w.send({"op": "prepare", "id": "p", "stage": "hash", "dimension": 64, "batch": 4, "pool_rows": 16})
        # 32 rows at least per repetition, in batches of 4: 8 calls, no time limits given.
        results.check("serve: prepare sizes a repetition from --min-rows",
                      prepared == {"ok": True, "rows_per_repetition": 32}, str(prepared))
        rates = []
        for _ in range(2):
            answer = w.send({"op": "repetition", "id": "p"})
            if answer and answer.get("ok") and answer.get("embeddings_per_second", 0) > 0:
                rates.append(answer["embeddings_per_second"])
        results.check("serve: each repetition answers its throughput", len(rates) == 2, str(rates))

        refusals = [
            ("not JSON", "this is not json", "one JSON object per line"),
            ("not an object", "[1, 2]", "must be a JSON object"),
            ("unknown op", {"op": "fly"}, "unknown op 'fly'"),
            ("unknown stage", {"op": "prepare", "id": "q", "stage": "teleport", "dimension": 64, "batch": 4, "pool_rows": 16},
             "unknown stage 'teleport'"),
            ("zero dimension", {"op": "prepare", "id": "q", "stage": "hash", "dimension": 0, "batch": 4, "pool_rows": 16},
             "'dimension' must be a positive integer"),
            ("batch over the pool", {"op": "prepare", "id": "q", "stage": "hash", "dimension": 64, "batch": 32, "pool_rows": 16},
             "batch 32 is larger than the pool of 16 rows"),
            ("empty id", {"op": "prepare", "id": "", "stage": "hash", "dimension": 64, "batch": 4, "pool_rows": 16},
             "'id' must be a non-empty string"),
            ("unknown point", {"op": "repetition", "id": "nope"}, "no prepared point with id 'nope'"),
        ]
        for name, message, expected in refusals:
            answer = w.send(message)
            results.check("serve: refuses %s, naming the problem" % name,
                          answer is not None and answer.get("ok") is False and expected in answer.get("error", ""), str(answer))

        # The refusals changed nothing: the prepared point is still there and counts only its own repetitions.
        answer = w.send({"op": "repetition", "id": "p"})
        if answer and answer.get("ok"):
            rates.append(answer["embeddings_per_second"])
        result = w.send({"op": "result", "id": "p"})
        figures = (result or {}).get("result", {})
        results.check("serve: the result covers exactly the three repetitions, its rate their median",
                      len(rates) == 3 and figures.get("repetitions") == 3 and figures.get("stage") == "hash"
                      and figures.get("dimension") == 64 and figures.get("batch") == 4
                      and abs(figures.get("embeddings_per_second", 0) - statistics.median(rates)) <= 1e-9 * statistics.median(rates)
                      and 0 < figures.get("p50_us", 0) <= figures.get("p99_us", 0), str(result))
        again = w.send({"op": "result", "id": "p"})
        results.check("serve: a point is forgotten once its result is taken",
                      again is not None and again.get("ok") is False and "no prepared point" in again.get("error", ""), str(again))
    finally:
        code = w.close()
    results.check("serve: end of input ends the worker cleanly", code == 0, "exit status %s" % code)


def anon_huge_bytes(pid):
    """AnonHugePages of process `pid` in bytes, or None where the kernel does not say."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_pages(results, script):
    """--pages: the greeting says whether NumPy advises huge pages, and where the kernel grants
    them only on advice (transparent huge pages in "madvise" mode) a 16 MiB pool lands on huge
    pages with --pages huge and on none with --pages base."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            mode = f.read()
    except OSError:
        mode = ""
    for pages in ("huge", "base"):
        w = Worker(script, "--threads", "1", "--min-rows", "32", "--warmup", "1", "--pages", pages)
        try:
            hello = w.read()
            results.check(f"serve --pages {pages}: the greeting says NumPy advises huge pages: {pages == 'huge'}",
                          hello is not None and hello.get("madvise_hugepage") is (pages == "huge"), str(hello))
            prepared = w.send({"op": "prepare", "id": "p", "stage": "hash", "dimension": 2048, "batch": 256, "pool_rows": 2048})
            huge = anon_huge_bytes(w.proc.pid)
            name = f"serve --pages {pages}: its 16 MiB pool of rows is {'on' if pages == 'huge' else 'off'} huge pages"
            if "[madvise]" not in mode or huge is None:
                results.skip(name, f"transparent huge pages are not in madvise mode here ({mode.strip() or 'unknown'})")
            else:
                ok = prepared is not None and prepared.get("ok") is True and (
                    huge >= 16 << 20 if pages == "huge" else huge < 2 << 20)
                results.check(name, ok, f"AnonHugePages {huge} bytes; {prepared}")
        finally:
            w.close()
    bad = subprocess.run([sys.executable, script, "--serve", "--pages", "giant"], capture_output=True, text=True, timeout=60)
    results.check("numpy_pipeline.py --pages refuses an unknown kind, naming the choices",
                  bad.returncode == 2 and "huge" in bad.stderr and "base" in bad.stderr, bad.stderr.strip()[-200:])

