"""The NumPy counterpart of the benchmark (Benchmarks/numpy_pipeline.py): its own correctness
check (vectorised coverage against the paper's set-of-tuples tracking, transform sanity), the
serve mode through which `b4b-bench --numpy` takes turns with it (one JSON object per line), and
its handling of bad input (options, --json destinations, serve requests, no NumPy, no memory).
"""
import json
import os
import shutil
import socket
import stat
import statistics
import subprocess
import sys
import tempfile
import time

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Benchmarks", "numpy_pipeline.py")

# A tiny run: one point, one single-row call, no warm-up (the machine is shared).
TINY = ["--dimension", "64", "--batches", "1", "--stages", "hash", "--repetitions", "1", "--min-rows", "1",
        "--warmup", "0", "--threads", "1"]


def run(results):
    script = os.path.normpath(SCRIPT)
    check_self_check(results, script)
    check_serve(results, script)
    check_pages(results, script)
    check_small_dimensions(results, script)
    check_options(results, script)
    check_json_destination(results, script)
    check_serve_refusals(results, script)
    check_out_of_memory(results, script)
    check_without_numpy(results, script)


def check_self_check(results, script):
    for normals in ("gaussian", "signs"):
        done = subprocess.run([sys.executable, script, "--self-check", "--dimension", "64,384", "--normals", normals],
                              capture_output=True, text=True, timeout=600)
        results.check(f"numpy_pipeline.py --self-check --normals {normals}: vectorised coverage equals the set-of-tuples reference",
                      done.returncode == 0, done.stderr.strip().splitlines()[-1] if done.returncode and done.stderr.strip() else "")
    bad = subprocess.run([sys.executable, script, "--self-check", "--normals", "binary"], capture_output=True, text=True, timeout=60)
    results.check("numpy_pipeline.py --normals refuses an unknown kind, naming the choices",
                  bad.returncode == 2 and "gaussian" in bad.stderr and "signs" in bad.stderr, bad.stderr.strip()[-200:])


def limited(resource_name, limit):
    """A command prefix that runs Python with the resource limit `resource_name` (e.g. "RLIMIT_AS")
    set to `limit` bytes, then execs the rest of its arguments as a Python script."""
    return [sys.executable, "-c",
            "import os, resource, sys\n"
            f"resource.setrlimit(resource.{resource_name}, ({limit}, {limit}))\n"
            "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"]


def script_run(script, *arguments, prefix=None, env=None, timeout=120):
    """Runs the script to its end; a run that takes longer than `timeout` seconds is killed and
    reported with exit status None."""
    command = (prefix or [sys.executable]) + [script, *arguments]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=None if env is None else {**os.environ, **env})
    except subprocess.TimeoutExpired as expired:
        def text(data):
            return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")
        return subprocess.CompletedProcess(command, None, text(expired.stdout),
                                           text(expired.stderr) + f"\n(killed after {timeout} s)")


def clean_error(done, code, *words):
    """Whether a run ended with exit status `code` and a one-line error naming all of `words`
    (no traceback)."""
    lines = done.stderr.strip().splitlines()
    return (done.returncode == code and "Traceback" not in done.stderr and bool(lines)
            and all(w in lines[-1] for w in words))


class Worker:
    """A `--serve` process driven line by line, as b4b-bench drives it."""

    def __init__(self, script, *options, prefix=None, env=None):
        self.proc = subprocess.Popen((prefix or [sys.executable]) + [script, "--serve", *options], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=None if env is None else {**os.environ, **env})

    def read(self):
        line = self.proc.stdout.readline()
        try:
            return json.loads(line) if line else None
        except ValueError:
            return {"not JSON": line}

    def send(self, message):
        try:
            if isinstance(message, bytes):
                self.proc.stdin.flush()
                self.proc.stdin.buffer.write(message + b"\n")
            else:
                self.proc.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        return self.read()

    def close(self):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:     # the worker is gone already
            pass
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
        rates, spans = [], []
        for _ in range(2):
            before = time.monotonic_ns()
            answer = w.send({"op": "repetition", "id": "p"})
            after = time.monotonic_ns()
            if answer and answer.get("ok") and answer.get("embeddings_per_second", 0) > 0:
                rates.append(answer["embeddings_per_second"])
                spans.append((before, answer.get("started_ns"), answer.get("ended_ns"), after, answer.get("rows")))
        results.check("serve: each repetition answers its throughput", len(rates) == 2, str(rates))
        # The times are on this process's monotonic clock (one clock for every process), within
        # the request's round trip, and the rows are the repetition's.
        results.check("serve: each repetition answers its rows and when its calls began and ended (the machine's monotonic clock)",
                      len(spans) == 2 and all(isinstance(s, int) and isinstance(e, int) and b <= s < e <= a and rows == 32
                                              for b, s, e, a, rows in spans), str(spans))

        # A point prepared with a fixed number of calls makes exactly that many, and a
        # repetition given a start waits for it (processes timed together start together).
        fixed = w.send({"op": "prepare", "id": "f", "stage": "hash", "dimension": 64, "batch": 4, "pool_rows": 16, "calls": 5})
        results.check("serve: prepare with 'calls' makes exactly that many calls per repetition",
                      fixed == {"ok": True, "rows_per_repetition": 20}, str(fixed))
        start_at = time.monotonic_ns() + 300_000_000
        waited = w.send({"op": "repetition", "id": "f", "start_at_ns": start_at})
        results.check("serve: a repetition given start_at_ns begins no earlier than it",
                      bool(waited) and waited.get("ok") is True and waited.get("rows") == 20
                      and isinstance(waited.get("started_ns"), int) and waited["started_ns"] >= start_at, str(waited))
        for bad, expected in [({"op": "repetition", "id": "f", "start_at_ns": -1}, "'start_at_ns' must be"),
                              ({"op": "repetition", "id": "f", "start_at_ns": time.monotonic_ns() + 5 * 10**9}, "more than a second ahead"),
                              ({"op": "prepare", "id": "g", "stage": "hash", "dimension": 64, "batch": 4, "pool_rows": 16, "calls": 0}, "'calls' must be a positive integer")]:
            answer = w.send(bad)
            results.check("serve: refuses %s" % expected, answer is not None and answer.get("ok") is False and expected in answer.get("error", ""), str(answer))
        w.send({"op": "result", "id": "f"})

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
            # Preparing an id again would drop the repetitions it has timed.
            ("an id prepared again", {"op": "prepare", "id": "p", "stage": "noise", "dimension": 64, "batch": 4, "pool_rows": 16},
             "point 'p' is already prepared"),
        ]
        for name, message, expected in refusals:
            answer = w.send(message)
            results.check("serve: refuses %s, naming the problem" % name,
                          answer is not None and answer.get("ok") is False and expected in answer.get("error", ""), str(answer))

        # The refusals changed nothing: the prepared point is still there and counts only its own repetitions.
        answer = w.send({"op": "repetition", "id": "p"})
        if answer and answer.get("ok"):
            rates.append(answer["embeddings_per_second"])
        result = w.send({"op": "result", "id": "p", "latencies": True})
        figures = (result or {}).get("result", {})
        results.check("serve: the result covers exactly the three repetitions, its rate their median",
                      len(rates) == 3 and figures.get("repetitions") == 3 and figures.get("stage") == "hash"
                      and figures.get("dimension") == 64 and figures.get("batch") == 4
                      and abs(figures.get("embeddings_per_second", 0) - statistics.median(rates)) <= 1e-9 * statistics.median(rates)
                      and 0 < figures.get("p50_us", 0) <= figures.get("p99_us", 0), str(result))
        # Asked for them, every call's latency (3 repetitions of 8 calls), sorted, with the
        # percentiles taken from them by nearest rank: p50 the 12th of 24, p99 the 24th.
        lat = figures.get("latencies_us")
        results.check("serve: a result asked with latencies lists every call's, sorted, and its percentiles are their nearest ranks",
                      isinstance(lat, list) and len(lat) == 24 and lat == sorted(lat)
                      and figures.get("p50_us") == lat[11] and figures.get("p99_us") == lat[23], str(figures)[:400])
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


def check_small_dimensions(results, script):
    """The self-check's statistics at tiny dimensions: fewer normal entries than its distinct-value
    test needs, and too few keyed-noise draws for its 0.05 tolerance, are checked as far as the
    sample allows (and said so) instead of failing."""
    for normals, dims in (("gaussian", "1,2,4,8"), ("signs", "2,8")):
        done = script_run(script, "--self-check", "--dimension", dims, "--normals", normals, "--threads", "1")
        results.check(f"numpy_pipeline.py --self-check --normals {normals} --dimension {dims}: passes at tiny dimensions, "
                      "saying what it checked instead",
                      done.returncode == 0 and "self-check passed" in done.stderr and "FAIL" not in done.stderr
                      and (normals == "signs" or "d=1: only 12 normal entries" in done.stderr)
                      and "d=2: keyed noise ~N(0,1) checked on 16384 draws" in done.stderr,
                      " | ".join(line for line in done.stderr.splitlines() if "FAIL" in line or "Traceback" in line)[-300:])


def check_options(results, script):
    """Every numeric and list option refuses zero, negative, non-finite, huge, empty and repeated
    values before measuring anything: argparse's exit status 2 and a one-line error naming it."""
    cases = [
        (["--min-seconds", "inf"], "--min-seconds", "finite"),
        (["--min-seconds", "nan"], "--min-seconds", "finite"),
        (["--max-seconds", "1e999"], "--max-seconds", "finite"),
        (["--max-seconds", "0"], "--max-seconds", "positive"),
        (["--warmup", "infs"], "--warmup", "infs"),
        (["--warmup", "nans"], "--warmup", "nans"),
        (["--warmup", "-1"], "--warmup", "-1"),
        (["--warmup", "3601s"], "--warmup", "3600"),
        (["--dimension", "100000000"], "--dimension", "65536"),
        (["--dimension", "0"], "--dimension", "out of range"),
        (["--dimension", ","], "--dimension", "empty"),
        (["--batches", "1,1"], "--batches", "more than once"),
        (["--batches", "2000000"], "--batches", "1048576"),
        (["--stages", "hash,hash"], "--stages", "more than once"),
        (["--stages", ","], "--stages", "an empty item"),
        (["--stages", ""], "--stages", "an empty list"),
        (["--batches", "1,,2"], "--batches", "an empty item"),
        (["--threads", "0"], "--threads", "1...256"),
        (["--threads", "100000"], "--threads", "1...256"),
        (["--repetitions", "0"], "--repetitions", "1...10000"),
        (["--min-rows", "-5"], "--min-rows", "1...1073741824"),
    ]
    for extra, option, word in cases:
        # The bad value last: it overrides the tiny run's own.
        done = script_run(script, *TINY, *extra, timeout=30)
        results.check(f"numpy_pipeline.py {' '.join(extra)}: refused before measuring, naming {option}",
                      clean_error(done, 2, option, word) and done.stdout == "",
                      f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] or ''}")
    # In serve mode a usage error is also the greeting b4b-bench reads first.
    done = script_run(script, "--serve", "--threads", "0")
    first = done.stdout.splitlines()[0] if done.stdout else ""
    try:
        greeting = json.loads(first)
    except ValueError:
        greeting = None
    results.check("numpy_pipeline.py --serve --threads 0: the greeting is {ok: false} naming --threads, exit status 2",
                  done.returncode == 2 and isinstance(greeting, dict) and greeting.get("ok") is False
                  and "--threads" in greeting.get("error", ""), f"exit {done.returncode}: {first[:200]}")


def check_json_destination(results, script):
    """--json: a destination that cannot be written is refused before measuring (exit status 2,
    one line, nothing created); a pipe or socket is never replaced; a symbolic link is written
    through; the file is written atomically (a failed write leaves an existing file unchanged and
    no temporary file behind)."""
    work = tempfile.mkdtemp(prefix="numpy-pipeline-json-")
    listener = None
    try:
        def listing():
            return sorted(os.listdir(work))

        before = listing()
        for name, path, words in [
            ("a missing directory", os.path.join(work, "missing", "x.json"), ["--json", "does not exist"]),
            ("a directory", work, ["--json", "is a directory"]),
            ("an empty path", "", ["--json", "empty"]),
            ("a path under a file", os.path.join(os.path.abspath(script), "x.json"), ["--json", "is not a directory"]),
        ]:
            done = script_run(script, *TINY, "--json", path)
            results.check(f"numpy_pipeline.py --json {name}: refused before measuring, nothing created",
                          clean_error(done, 2, *words) and done.stdout == "" and listing() == before,
                          f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] or ''}; files {listing()}")

        # Files that are not regular files, made here: a device such as /dev/null is not used,
        # since a script that replaced it would break the machine.
        fifo, sock = os.path.join(work, "fifo"), os.path.join(work, "socket")
        os.mkfifo(fifo)
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(sock)
        for name, path, kind in [("a fifo", fifo, stat.S_ISFIFO), ("a socket", sock, stat.S_ISSOCK)]:
            done = script_run(script, *TINY, "--json", path, timeout=60)   # opening a fifo to write would block
            results.check(f"numpy_pipeline.py --json {name}: refused (not a regular file), left as it was",
                          clean_error(done, 2, "--json", "not a regular file") and done.stdout == ""
                          and kind(os.stat(path).st_mode),
                          f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] or ''}")

        # Root may write in a directory without write permission: as root the directory is
        # /proc/self, which no one may create files in.
        if os.geteuid() == 0:
            locked, made = "/proc/self", False
        else:
            locked, made = os.path.join(work, "locked"), True
            os.mkdir(locked, 0o555)
        before_locked = sorted(os.listdir(locked))
        done = script_run(script, *TINY, "--json", os.path.join(locked, "x.json"))
        results.check(f"numpy_pipeline.py --json in a directory that is not writable ({locked}): refused, nothing created",
                      clean_error(done, 2, "--json", "not writable") and sorted(os.listdir(locked)) == before_locked,
                      f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] or ''}")
        if made:
            os.rmdir(locked)

        # Written: through a symbolic link to its target (the link stays), with nothing else left.
        real, link = os.path.join(work, "real.json"), os.path.join(work, "link.json")
        with open(real, "w") as f:
            f.write("previous results\n")
        os.symlink("real.json", link)
        done = script_run(script, *TINY, "--json", link)
        try:
            with open(real) as f:
                written = json.load(f)
        except ValueError:
            written = None
        results.check("numpy_pipeline.py --json through a symbolic link: its target is written, the link kept, "
                      "no temporary file left",
                      done.returncode == 0 and os.path.islink(link) and isinstance(written, dict)
                      and len(written.get("results", [])) == 1 and sorted(os.listdir(work)) == ["fifo", "link.json", "real.json", "socket"],
                      f"exit {done.returncode}; files {listing()}; {done.stderr.strip()[-200:]}")

        # A write that fails (the file size limit, here below the document's size) leaves the
        # existing file as it was and no temporary file; the error is one line.
        with open(real, "w") as f:
            f.write("previous results\n")
        done = script_run(script, *TINY, "--json", real, prefix=limited("RLIMIT_FSIZE", 64))
        with open(real) as f:
            kept = f.read()
        results.check("numpy_pipeline.py --json: a write that fails leaves the existing file unchanged, no temporary "
                      "file, one line naming it",
                      clean_error(done, 1, "cannot write --json file", "real.json") and kept == "previous results\n"
                      and sorted(os.listdir(work)) == ["fifo", "link.json", "real.json", "socket"],
                      f"exit {done.returncode}; kept {kept[:40]!r}; files {listing()}; {done.stderr.strip()[-200:]}")
    finally:
        if listener is not None:
            listener.close()
        shutil.rmtree(work, ignore_errors=True)


def check_serve_refusals(results, script):
    """Serve mode: every malformed request (wrong types, unknown ids, missing fields, values out
    of range, a result before any repetition, bytes that are not UTF-8, JSON nested too deeply)
    is answered {ok: false} naming the problem, and the worker then still answers good requests."""
    def start():
        # A strict UTF-8 standard input, as under a UTF-8 locale (the C locale escapes bad bytes).
        worker = Worker(script, "--threads", "1", "--min-rows", "4", "--warmup", "0", env={"PYTHONIOENCODING": "utf-8:strict"})
        return worker, worker.read()

    prepare = {"op": "prepare", "id": "q", "stage": "hash", "dimension": 64, "batch": 4, "pool_rows": 16}
    w, hello = start()
    try:
        results.check("serve (strict UTF-8 input): greets", hello is not None and hello.get("ok") is True, str(hello))
        refusals = [
            ("an id that is a list", {"op": "repetition", "id": ["x"]}, "'id' must be a non-empty string"),
            ("a missing id", {"op": "result"}, "'id' must be a non-empty string"),
            ("a missing op", {"id": "x"}, "'op' is missing"),
            ("an op that is not a string", {"op": ["prepare"]}, "'op' must be a string"),
            ("a missing stage", {k: v for k, v in prepare.items() if k != "stage"}, "'stage' is missing"),
            ("a stage that is not a string", {**prepare, "stage": ["hash"]}, "unknown stage ['hash']"),
            ("a missing dimension", {k: v for k, v in prepare.items() if k != "dimension"}, "'dimension' is missing"),
            ("a fractional dimension", {**prepare, "dimension": 64.5}, "'dimension' must be a positive integer"),
            ("a boolean batch", {**prepare, "batch": True}, "'batch' must be a positive integer"),
            ("a huge dimension", {**prepare, "dimension": 100000000}, "'dimension' must be at most 65536"),
            ("a huge batch", {**prepare, "batch": 2000000, "pool_rows": 2000000}, "'batch' must be at most 1048576"),
            ("a huge pool", {**prepare, "pool_rows": 100000000000}, "'pool_rows' must be at most 1048576"),
            ("an integer of 5000 digits", json.dumps(prepare).replace('"dimension": 64', '"dimension": ' + "9" * 5000),
             "one JSON object per line"),
            ("JSON nested 100000 deep", "[" * 100000 + "]" * 100000, "nested too deeply"),
            ("bytes that are not UTF-8", b"\xff\xfe{}", "UTF-8"),
        ]
        for n, (name, message, expected) in enumerate(refusals):
            answer = w.send(message)
            # Then a good request: a small point prepared under a new id.
            after = w.send({**prepare, "id": f"good-{n}"})
            results.check("serve: refuses %s, naming the problem, then still prepares a point" % name,
                          answer is not None and answer.get("ok") is False and expected in answer.get("error", "")
                          and after == {"ok": True, "rows_per_repetition": 4}, f"{str(answer)[:300]}; then {after}")
            if after is None:   # the worker died: a fresh one for the next case
                w.close()
                w, _ = start()
        prepared = w.send(prepare)
        early = w.send({"op": "result", "id": "q"})
        results.check("serve: refuses a result before any repetition (the point is kept)",
                      prepared == {"ok": True, "rows_per_repetition": 4} and early is not None and early.get("ok") is False
                      and "no timed repetition yet" in early.get("error", ""), f"{prepared}; {early}")
        rate = w.send({"op": "repetition", "id": "q"})
        result = w.send({"op": "result", "id": "q"})
        results.check("serve: after the refusals, the point still times a repetition and gives its result",
                      rate is not None and rate.get("ok") is True and result is not None and result.get("ok") is True
                      and (result.get("result") or {}).get("repetitions") == 1, f"{rate}; {str(result)[:200]}")
    finally:
        code = w.close()
    results.check("serve: after the refusals, end of input ends the worker cleanly", code == 0, "exit status %s" % code)


def check_out_of_memory(results, script):
    """Allocations beyond the memory the process may have (its address space limited to 768 MiB;
    the affine matrix at d = 16384 takes 1 GiB): a one-line error, no traceback, no --json file;
    in serve mode a refused request, and the worker keeps serving."""
    work = tempfile.mkdtemp(prefix="numpy-pipeline-memory-")
    limit = limited("RLIMIT_AS", 768 << 20)
    try:
        target = os.path.join(work, "out.json")
        done = script_run(script, "--dimension", "16384", "--batches", "1", "--stages", "affine", "--repetitions", "1",
                          "--min-rows", "1", "--warmup", "0", "--threads", "1", "--json", target, prefix=limit)
        results.check("numpy_pipeline.py out of memory: one line, exit status 1, no --json file",
                      clean_error(done, 1, "not enough memory", "16384") and os.listdir(work) == [],
                      f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] or ''}; files {os.listdir(work)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    w = Worker(script, "--threads", "1", "--min-rows", "4", "--warmup", "0", prefix=limit)
    try:
        hello = w.read()
        big = w.send({"op": "prepare", "id": "big", "stage": "hash", "dimension": 16384, "batch": 4, "pool_rows": 16})
        small = w.send({"op": "prepare", "id": "small", "stage": "hash", "dimension": 64, "batch": 4, "pool_rows": 16})
        gone = w.send({"op": "repetition", "id": "big"})
        results.check("serve: a point too large for the memory is refused, not kept, and the worker keeps serving",
                      hello is not None and hello.get("ok") is True and big is not None and big.get("ok") is False
                      and "not enough memory" in big.get("error", "") and small == {"ok": True, "rows_per_repetition": 4}
                      and gone is not None and "no prepared point" in gone.get("error", ""),
                      f"{str(big)[:200]}; {small}; {gone}")
    finally:
        code = w.close()
    results.check("serve: after running out of memory, end of input ends the worker cleanly", code == 0, "exit status %s" % code)


def check_without_numpy(results, script):
    """Without NumPy: a one-line error and a non-zero exit status; in serve mode the greeting is
    {ok: false} with that error, which b4b-bench reports (NumPyWorker.swift reads the greeting first)."""
    # `python3 -S` leaves site-packages out, where NumPy normally is; failing that, the import is
    # blocked through sys.modules before the script runs.
    hidden = subprocess.run([sys.executable, "-S", "-c", "import numpy"], capture_output=True, timeout=60).returncode != 0
    prefix = [sys.executable, "-S"] if hidden else [
        sys.executable, "-c",
        "import runpy, sys\nsys.modules['numpy'] = None\nsys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')"]
    how = "python3 -S" if hidden else "numpy blocked in sys.modules"
    done = script_run(script, *TINY, prefix=prefix)
    results.check(f"numpy_pipeline.py without NumPy ({how}): one line saying so, non-zero exit status",
                  done.returncode not in (0, None) and "Traceback" not in done.stderr
                  and done.stderr.strip() == "error: numpy_pipeline.py needs NumPy (pip install numpy)" and done.stdout == "",
                  f"exit {done.returncode}: {done.stderr.strip()[-300:]}")
    done = script_run(script, "--serve", "--threads", "1", prefix=prefix)
    lines = done.stdout.splitlines()
    try:
        greeting = json.loads(lines[0]) if lines else None
    except ValueError:
        greeting = None
    results.check(f"numpy_pipeline.py --serve without NumPy ({how}): the greeting is {{ok: false}} saying so, non-zero exit",
                  done.returncode not in (0, None) and "Traceback" not in done.stderr and isinstance(greeting, dict)
                  and greeting.get("ok") is False and "needs NumPy (pip install numpy)" in greeting.get("error", ""),
                  f"exit {done.returncode}: {done.stdout.strip()[:200]} {done.stderr.strip()[-200:]}")
