#!/usr/bin/env python3
"""NumPy counterpart of the b4b Swift benchmark: the B4B defense pipeline in NumPy.

What a competent engineer would write in NumPy for the same per-batch pipeline, timed
the same way as the Swift benchmark, so that one run can print speed ratios
(Swift / NumPy) measured on the same machine. Only NumPy and the standard library.

Pipeline for one batch ``X`` (``B x d`` float32) of one user:

* ``hash``           ``proj = X @ P`` (``P``: ``d x 12``), ``bits = proj > t``, bucket
                     ids with bit ``j`` = hyperplane ``j``; the user's occupancy (a bool
                     array of 4096 buckets) is updated and each row's coverage *includes*
                     that row, every earlier row of the batch and all earlier batches;
                     ``sigma = lam * (exp(ln(alpha / lam) * c / beta) - 1)`` per row.
* ``hash-reference`` the paper's research-code way: one product ``X @ P``, then row by
                     row in Python a tuple of sign bits added to a Python set.
* ``noise``          ``hash`` + ``X + sigma[:, None] * N(0, 1)``, one batch draw from a
                     ``np.random.Generator`` (SFC64) written straight into the output.
* ``noise-keyed``    ``hash`` + noise whose stream is keyed by the exact clean row and a
                     per-user key (HMAC-SHA256 of the row bytes -> PCG64 state), one row
                     at a time: what repeated-query resistance requires.
* ``affine``         ``noise`` + ``out @ A + b`` (``A``: ``d x d``).
* ``scale-shift``    ``noise`` + ``out * s + b``.
* ``pad-shuffle``    ``noise`` + 64 constant columns appended, then a fixed permutation of
                     all ``d + 64`` columns.
* ``binary``         ``noise`` + ``(out @ H > th)`` as float32 (``H``: ``d x 4096``).
* ``full``           ``hash`` + ``noise`` + ``affine`` (the default configuration).
* ``full-keyed``     ``hash`` + ``noise-keyed`` + ``affine`` (not run by default).

Usage::

    python3 Benchmarks/numpy_pipeline.py --quick
    python3 Benchmarks/numpy_pipeline.py --dimension 2048 --batches 1,256 --threads 1 --json numpy.json
    python3 Benchmarks/numpy_pipeline.py --self-check
    python3 Benchmarks/numpy_pipeline.py --serve --threads 2   # b4b-bench --numpy's helper (see serve())

``--threads N`` sets ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS``
before NumPy is imported (NumPy is imported in ``main`` after the arguments are parsed).
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are left as inherited on purpose.

Timing: every point (stage, dimension, batch) gets a fresh user; each repetition
processes at least ``--min-rows`` rows by looping over batch calls (for batch 1 that is
``--min-rows`` single-row calls: the single-query serving cost), more when that would take
less than ``--min-seconds``, fewer when it would take longer than ``--max-seconds`` (the
Swift benchmark passes its own limits). Throughput is
the median over repetitions; latency percentiles are over every batch call of every repetition.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import hmac
import json
import math
import os
import stat
import sys
import tempfile
import time
import traceback

# Bound by `_import_numpy` once the BLAS thread variables are in the environment.
np = None

# Rows in the pool that batches are cut from (at least the largest batch): the Swift
# benchmark's per-worker pool (RowPools in BenchmarkRunner.swift).
POOL_ROWS = 2048

ALL_STAGES = (
    "hash", "hash-reference", "noise", "noise-keyed",
    "affine", "scale-shift", "pad-shuffle", "binary", "full",
)
EXTRA_STAGES = ("full-keyed",)
TRANSFORM_OF_STAGE = {
    "affine": "affine", "scale-shift": "scale-shift", "pad-shuffle": "pad-shuffle",
    "binary": "binary", "full": "affine", "full-keyed": "affine",
}

HASH_BITS = 12
BUCKETS = 1 << HASH_BITS          # 4096
LAMBDA, ALPHA, BETA = 1e-6, 1.0, 0.8
PAD_COUNT = 64
BINARY_DIMENSION = 4096
PARAMETER_SEED = 20231210         # the transform parameters are fixed per run
DATA_SEED = 7
# Rows per np.take call in pad-shuffle: a column gather over a whole 4096-row batch
# thrashes the cache (about 2x slower than gathering 32 rows at a time here).
GATHER_CHUNK_ROWS = 32

# The largest values the options and the serve requests take: b4b-bench's own (Limits in
# BenchCommand.swift), so that whatever it passes is accepted; beyond them a run would not fit
# a machine's memory or a working day. A serve request's pool is at most its largest batch
# (or POOL_ROWS), so at most MAX_BATCH rows.
MAX_DIMENSION = 65_536
MAX_BATCH = 1 << 20
MAX_CALLS = 1 << 30      # calls per repetition a serve 'prepare' may fix
MAX_THREADS = 256
MAX_MIN_ROWS = 1 << 30
MAX_REPETITIONS = 10_000
MAX_SECONDS = 3600.0
MAX_WARMUP_REPETITIONS = MAX_REPETITIONS


# MARK: - Parameters


class Parameters:
    """Everything fixed per run for one dimension ``d`` (fixed seed; built lazily per stage)."""

    def __init__(self, d: int, stages: list[str], normals: str = "gaussian"):
        def rng(part: int):
            # One stream per component, so a component does not depend on which stages run.
            return np.random.default_rng([PARAMETER_SEED, d, part])

        self.d = d
        # LSH: k hyperplanes through the origin (zero thresholds), normals Gaussian or +-1.
        if normals == "signs":
            self.P = np.where(rng(0).integers(0, 2, (d, HASH_BITS)) == 1, 1.0, -1.0).astype(np.float32)
        else:
            self.P = rng(0).standard_normal((d, HASH_BITS), dtype=np.float32)
        self.thresholds = np.zeros(HASH_BITS, dtype=np.float32)
        transforms = {TRANSFORM_OF_STAGE[s] for s in stages if s in TRANSFORM_OF_STAGE}
        if "affine" in transforms:
            # Dense d x d; its structure (the Swift side uses Q diag(s)) does not change the cost.
            g = rng(1)
            self.A = g.standard_normal((d, d), dtype=np.float32)
            self.A *= np.float32(1.0 / math.sqrt(d))
            self.affine_shift = g.uniform(-1, 1, d).astype(np.float32)
        if "scale-shift" in transforms:
            g = rng(2)
            self.scales = np.exp(g.uniform(math.log(0.5), math.log(2.0), d)).astype(np.float32)
            self.shifts = g.uniform(-1, 1, d).astype(np.float32)
        if "pad-shuffle" in transforms:
            g = rng(3)
            self.pad_constants = g.uniform(-1, 1, PAD_COUNT).astype(np.float32)
            self.permutation = g.permutation(d + PAD_COUNT).astype(np.intp)
        if "binary" in transforms:
            self.H = rng(4).standard_normal((d, BINARY_DIMENSION), dtype=np.float32)
            self.binary_thresholds = np.zeros(BINARY_DIMENSION, dtype=np.float32)


def cost_sigma(coverage):
    """Exponential cost: ``lam * (exp(ln(alpha/lam) * c / beta) - 1)``, float64 in, float64 out,
    rounded down to the engine's noise ladder (rungs ``alpha * 2**(k/2)``: see the engine's
    ``NoiseLadder``), so that both pipelines draw the same sigmas."""
    sigma = LAMBDA * np.expm1((math.log(ALPHA / LAMBDA) / BETA) * coverage)
    with np.errstate(divide="ignore"):
        k = np.floor(2 * np.log2(sigma / ALPHA))
    rung = np.where(sigma > 0, ALPHA * np.exp2(k / 2), 0.0)
    # Correct the logarithm's rounding against the rungs themselves, as the engine does.
    rung = np.where(rung > sigma, rung / math.sqrt(2), rung)
    rung = np.where((sigma > 0) & (rung * math.sqrt(2) <= sigma), rung * math.sqrt(2), rung)
    return rung


# MARK: - One user's pipeline


class Pipeline:
    """One user's state (occupancy, noise generator, key) and preallocated buffers for
    batches of up to ``max_batch`` rows. ``run(X)`` executes the configured stage."""

    def __init__(self, params: Parameters, stage: str, max_batch: int, user: int = 0):
        self.p = params
        self.stage = stage
        d = params.d
        n = max_batch
        # Occupancy of one user: a bool per bucket, plus its count.
        self.occupied = np.zeros(BUCKETS, dtype=bool)
        self.occupied_count = 0
        self.reference_buckets: set = set()
        # Hash scratch.
        self.proj = np.empty((n, HASH_BITS), dtype=np.float32)
        self.bits = np.empty((n, HASH_BITS), dtype=bool)
        self.bit_weights = (1 << np.arange(HASH_BITS)).astype(np.intp)
        self.rows = np.arange(n, dtype=np.intp)
        self.first_row = np.empty(BUCKETS, dtype=np.intp)
        self.new_bucket = np.empty(n, dtype=bool)
        # Coverage is count / 4096 with an integer count, so sigma is a 4097-entry table
        # lookup (the same float64 formula as `cost_sigma`, rounded to float32 once).
        self.sigma_table = cost_sigma(np.arange(BUCKETS + 1) * (1.0 / BUCKETS)).astype(np.float32)
        self.sigma = np.empty((n, 1), dtype=np.float32)
        self.counts = np.empty((n, 1), dtype=np.int64)
        # Noise.
        self.noise_out = np.empty((n, d), dtype=np.float32)
        # SFC64: about 10% faster than PCG64 for float32 normals here.
        self.rng = np.random.Generator(np.random.SFC64([DATA_SEED, user, 1]))
        self.user_key = hashlib.sha256(b"b4b-numpy-benchmark/noise-key/%d" % user).digest()
        self.keyed_bitgen = np.random.PCG64(0)
        self.keyed_generator = np.random.Generator(self.keyed_bitgen)
        self.keyed_state = {
            "bit_generator": "PCG64",
            "state": {"state": 0, "inc": 1},
            "has_uint32": 0,
            "uinteger": 0,
        }
        # Transforms.
        transform = TRANSFORM_OF_STAGE.get(stage)
        if transform == "affine":
            self.affine_out = np.empty((n, d), dtype=np.float32)
        elif transform == "pad-shuffle":
            # Padded input with the constant columns written once; only [:, :d] changes.
            self.padded = np.empty((n, d + PAD_COUNT), dtype=np.float32)
            self.padded[:, d:] = params.pad_constants
            self.shuffled = np.empty((n, d + PAD_COUNT), dtype=np.float32)
        elif transform == "binary":
            self.binary_proj = np.empty((n, BINARY_DIMENSION), dtype=np.float32)
            self.binary_out = np.empty((n, BINARY_DIMENSION), dtype=np.float32)

        noise = self.noise_keyed if stage in ("noise-keyed", "full-keyed") else self.noise
        runners = {
            "hash": self.track,
            "hash-reference": self.hash_reference,
            "noise": lambda X: self.noise(X, self.priced(X)),
            "noise-keyed": lambda X: self.noise_keyed(X, self.priced(X)),
            "affine": lambda X: self.affine(noise(X, self.priced(X))),
            "scale-shift": lambda X: self.scale_shift(noise(X, self.priced(X))),
            "pad-shuffle": lambda X: self.pad_shuffle(noise(X, self.priced(X))),
            "binary": lambda X: self.binary(noise(X, self.priced(X))),
            "full": lambda X: self.affine(noise(X, self.priced(X))),
            "full-keyed": lambda X: self.affine(noise(X, self.priced(X))),
        }
        self.run = runners[stage]

    # -- Block 1: coverage ------------------------------------------------------------

    def bucket_ids(self, X):
        """Bucket id per row (bit ``j`` = ``proj[:, j] > t[j]``), ``B`` intp."""
        B = X.shape[0]
        proj = np.matmul(X, self.p.P, out=self.proj[:B])
        bits = np.greater(proj, self.p.thresholds, out=self.bits[:B])
        return bits.astype(np.intp) @ self.bit_weights

    def coverage_counts(self, ids):
        """Occupied-bucket count after each row (that row included); updates the occupancy."""
        occupied = self.occupied
        B = ids.shape[0]
        if B == 1:
            i = int(ids[0])
            if not occupied[i]:
                occupied[i] = True
                self.occupied_count += 1
            return np.array([self.occupied_count], dtype=np.int64)
        # A row adds a bucket iff it is the bucket's first row in the batch and the bucket
        # was empty before the batch. First rows: a scatter-min of row indices per bucket
        # (O(B + buckets), cheaper than np.unique's sort for large B).
        first = self.first_row
        first.fill(B)
        rows = self.rows[:B]
        np.minimum.at(first, ids, rows)
        new = self.new_bucket[:B]
        np.logical_and(first[ids] == rows, ~occupied[ids], out=new)
        counts = np.cumsum(new, dtype=np.int64)
        counts += self.occupied_count
        occupied[ids] = True
        self.occupied_count = int(counts[-1])
        return counts

    def track(self, X):
        """``hash`` stage: the occupied-bucket count after each row (that row included), a
        ``B x 1`` int64 column (a scratch view); updates the user's occupancy. No price: the
        paper's reference computes none, and the Swift benchmark's hash stage runs without a cost."""
        B = X.shape[0]
        counts = self.counts[:B]
        if B == 1:
            # Single-query path: the batched code's bookkeeping costs more than the work.
            proj = np.matmul(X, self.p.P, out=self.proj[:1])
            bits = np.greater(proj[0], self.p.thresholds, out=self.bits[0])
            i = int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")
            if not self.occupied[i]:
                self.occupied[i] = True
                self.occupied_count += 1
            counts[0, 0] = self.occupied_count
            return counts
        counts[:, 0] = self.coverage_counts(self.bucket_ids(X))
        return counts

    def priced(self, X):
        """Tracking, then each row's sigma as a ``B x 1`` float32 column (a scratch view): what
        the noise stages start from."""
        counts = self.track(X)
        B = X.shape[0]
        sigma = self.sigma[:B]
        if B == 1:
            # One row: a scalar lookup (np.take through views costs about 2 us more).
            sigma[0, 0] = self.sigma_table[counts[0, 0]]
        else:
            np.take(self.sigma_table, counts[:, 0], out=sigma[:, 0])
        return sigma

    def hash_reference(self, X):
        """``hash-reference`` stage: the research code's per-row tuple-in-a-set tracking (each
        row's occupied-bucket count, no price, as ``hash``)."""
        proj = X @ self.p.P
        t = self.p.thresholds
        seen = self.reference_buckets
        counts = []
        for i in range(proj.shape[0]):
            seen.add(tuple(proj[i] > t))
            counts.append(len(seen))
        return np.array(counts)[:, None]

    # -- Block 2: noise ---------------------------------------------------------------

    def noise(self, X, sigma):
        """``X + sigma * N(0, 1)``, one batch draw (SFC64) written straight into the output buffer."""
        out = self.noise_out[: X.shape[0]]
        self.rng.standard_normal(out=out, dtype=np.float32)
        out *= sigma
        out += X
        return out

    def noise_keyed(self, X, sigma):
        """Like ``noise``, but row ``i``'s stream is keyed by its exact bytes, its sigma (a rung
        of the noise ladder) and the user key.

        HMAC-SHA256 (OpenSSL, SHA-NI here: about 2x faster than keyed BLAKE2b) gives 256
        bits: 128 for the PCG64 state and 128 for its (odd) increment. One bit generator is
        re-seeded by setting its state: constructing a new ``PCG64``/``Generator`` per row
        costs about 25 us here (it goes through ``SeedSequence``), setting state about 3 us.
        """
        B = X.shape[0]
        out = self.noise_out[:B]
        key = self.user_key
        state = self.keyed_state
        inner = state["state"]
        bitgen = self.keyed_bitgen
        gen = self.keyed_generator
        for i in range(B):
            digest = hmac.digest(key, X[i].tobytes() + sigma[i].tobytes(), "sha256")
            inner["state"] = int.from_bytes(digest[:16], "little")
            inner["inc"] = int.from_bytes(digest[16:], "little") | 1
            bitgen.state = state
            gen.standard_normal(out=out[i], dtype=np.float32)
        out *= sigma
        out += X
        return out

    # -- Block 3: transforms ----------------------------------------------------------

    def affine(self, Y):
        out = np.matmul(Y, self.p.A, out=self.affine_out[: Y.shape[0]])
        out += self.p.affine_shift
        return out

    def scale_shift(self, Y):
        Y *= self.p.scales      # in place: Y is this pipeline's own noise buffer
        Y += self.p.shifts
        return Y

    def pad_shuffle(self, Y):
        B, d = Y.shape
        padded = self.padded[:B]
        padded[:, :d] = Y
        out = self.shuffled[:B]
        perm = self.p.permutation
        for s in range(0, B, GATHER_CHUNK_ROWS):
            e = min(B, s + GATHER_CHUNK_ROWS)
            np.take(padded[s:e], perm, axis=1, out=out[s:e])
        return out

    def binary(self, Y):
        B = Y.shape[0]
        proj = np.matmul(Y, self.p.H, out=self.binary_proj[:B])
        # A comparison ufunc writes its booleans straight into the float32 output.
        return np.greater(proj, self.p.binary_thresholds, out=self.binary_out[:B])


# MARK: - Measurement


def parse_warmup(text: str):
    """``"0.25s"`` or ``"0.25"`` -> seconds (float); ``"2"`` -> 2 untimed repetitions (int).

    Seconds must be finite and in 0...MAX_SECONDS, a count in 0...MAX_WARMUP_REPETITIONS."""
    t = text.strip().lower()
    problem = (f"expected seconds (e.g. 0.5s, at most {MAX_SECONDS:g}) or a count of repetitions "
               f"(e.g. 2, at most {MAX_WARMUP_REPETITIONS}), got {text!r}")
    try:
        if t.endswith("s") or "." in t:
            value = float(t[:-1] if t.endswith("s") else t)
            if not (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
                raise ValueError
            return value
        value = int(t)
        if not 0 <= value <= MAX_WARMUP_REPETITIONS:
            raise ValueError
        return value
    except ValueError:
        raise argparse.ArgumentTypeError(problem) from None


class PointTimer:
    """One (stage, dimension, batch) point for a fresh user, timed one repetition at a time.

    Creating it runs the warm-up and sizes the repetitions (rows per repetition); each
    ``repetition()`` then times one pass and returns its embeddings/s; ``result()`` gives the
    point's figures over the repetitions so far. ``measure_point`` runs the repetitions back to
    back; the serve mode lets the Swift benchmark take turns with its own measurement.
    """

    def __init__(self, params, stage, batch, pool, args, calls=None):
        fixed_calls = calls
        calls = max(1, -(-args.min_rows // batch))
        n_pool = pool.shape[0]
        batches = []
        start = 0
        for _ in range(calls):
            if start + batch > n_pool:
                start = 0
            batches.append(pool[start : start + batch])
            start += batch

        pipe = Pipeline(params, stage, batch)
        run = pipe.run
        clock = time.perf_counter_ns
        sink = None

        # Warm-up: a number of untimed repetitions (int) or seconds (float, at least one call).
        if isinstance(args.warmup, int):
            for _ in range(args.warmup):
                for X in batches:
                    sink = run(X)
        elif args.warmup > 0:
            deadline = clock() + int(args.warmup * 1e9)
            i = 0
            while True:
                sink = run(batches[i % calls])
                i += 1
                if clock() >= deadline:
                    break
        if fixed_calls is not None:
            # Sized by the caller (the same number of calls in every process timed together).
            batches = [batches[i % calls] for i in range(fixed_calls)]
            calls = fixed_calls
        elif args.max_seconds is not None or args.min_seconds > 0:
            # Size the repetitions as the Swift benchmark does: from one timed warm-up call.
            t0 = clock()
            sink = run(batches[0])
            per_call = max(clock() - t0, 1) / 1e9
            wanted = max(calls, math.ceil(args.min_seconds / per_call))
            if args.max_seconds is not None and wanted * per_call > args.max_seconds:
                wanted = max(1, int(args.max_seconds / per_call))
            if wanted != calls:
                batches = [batches[i % calls] for i in range(wanted)]
                calls = wanted
        del sink
        self.params, self.stage, self.batch = params, stage, batch
        self.threads = args.effective_threads
        self.batches = batches
        self.rows_per_rep = calls * batch
        self.run = Pipeline(params, stage, batch).run    # fresh user state for the timed part
        self.latencies = []
        self.rep_ns = []
        self.checksum = 0.0

    def repetition(self, start_at_ns=None) -> float:
        """Times one pass over the point's batches; returns its embeddings/s. With ``start_at_ns``
        (a ``time.monotonic_ns()`` value) the pass begins no earlier than that, so that processes
        asked one after another start together."""
        clock = time.perf_counter_ns
        run = self.run
        lat = [0] * len(self.batches)
        sink = None
        if start_at_ns is not None:
            while (left := start_at_ns - time.monotonic_ns()) > 0:
                if left > 2_000_000:
                    time.sleep((left - 1_000_000) / 1e9)
        self.started_ns = time.monotonic_ns()
        t0 = clock()
        prev = t0
        for j, X in enumerate(self.batches):
            sink = run(X)
            now = clock()
            lat[j] = now - prev
            prev = now
        self.ended_ns = time.monotonic_ns()
        self.rep_ns.append(prev - t0)
        self.latencies.extend(lat)
        self.checksum += float(sink.flat[0])     # keep the last output referenced and read
        return self.rows_per_rep * 1e9 / max(prev - t0, 1)

    def result(self, latencies=False) -> dict:
        """The point's figures: median embeddings/s over the repetitions, latency percentiles over
        all calls (nearest rank, as the Swift benchmark takes them); with ``latencies`` also every
        call's latency in microseconds (``latencies_us``), for a caller that merges processes."""
        if not math.isfinite(self.checksum):
            print(f"warning: non-finite output in {self.stage} d={self.params.d} batch={self.batch}", file=sys.stderr)
        eps = sorted(self.rows_per_rep * 1e9 / max(ns, 1) for ns in self.rep_ns)
        median_eps = nearest_rank(eps, 0.5)
        lat_us = sorted(ns / 1e3 for ns in self.latencies)
        figures = {
            "stage": self.stage,
            "dimension": self.params.d,
            "batch": self.batch,
            "threads": self.threads,
            "embeddings_per_second": median_eps,
            "ns_per_embedding": 1e9 / median_eps,
            "p50_us": nearest_rank(lat_us, 0.5),
            "p99_us": nearest_rank(lat_us, 0.99),
            "repetitions": len(self.rep_ns),
            "rows_per_repetition": self.rows_per_rep,
        }
        if latencies:
            figures["latencies_us"] = lat_us
        return figures


def nearest_rank(sorted_values, p):
    """The nearest-rank ``p``-quantile of sorted values (the Swift benchmark's ``percentile``):
    the smallest value with at least a fraction ``p`` of the values at or below it."""
    rank = math.ceil(p * len(sorted_values)) - 1
    return sorted_values[min(max(rank, 0), len(sorted_values) - 1)]


def measure_point(params, stage, batch, pool, args):
    """Times one (stage, dimension, batch) point for a fresh user; returns a result dict."""
    timer = PointTimer(params, stage, batch, pool, args)
    for _ in range(args.repetitions):
        timer.repetition()
    return timer.result()


def wait_until_quiet(limit_seconds=1.0, window_seconds=0.005):
    """Returns once this process has stopped using the CPU (or after ``limit_seconds``).

    OpenBLAS's helper threads spin for a while after a multi-threaded call (about 0.1 s here)
    before they sleep; in serve mode that would take a core from the Swift measurement that runs
    next. Waits until a ``window_seconds`` window passes with under a tenth of it in CPU time.
    """
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        before = time.process_time()
        time.sleep(window_seconds)
        if time.process_time() - before < 0.1 * window_seconds:
            return


def serve(args, stdin=None, stdout=None) -> int:
    """Answers timing requests, one JSON object per line, so that the Swift benchmark can take
    turns with NumPy repetition by repetition (the two sides then see the same machine).

    First writes ``{"ok": true, "numpy_version", "blas", "threads", "madvise_hugepage"}``. Requests:

    * ``{"op": "prepare", "id": ID, "stage": S, "dimension": D, "batch": B, "pool_rows": N}``:
      warms up and sizes point ID (a fresh user; rows cut from a pool of N generated rows);
      answers ``{"ok": true, "rows_per_repetition": R}``. An ID already prepared (and not yet
      forgotten by ``result``) is refused. With ``"calls": C`` a repetition makes exactly C calls
      instead of being sized here (the caller gives every process it times together the same).
    * ``{"op": "repetition", "id": ID[, "start_at_ns": T]}``: times one repetition of ID (from
      ``time.monotonic_ns()`` T on, when given: at most a second ahead), waits until this
      process's BLAS threads are idle, answers ``{"ok": true, "embeddings_per_second": E,
      "rows": R, "started_ns": S, "ended_ns": T}`` (S and T: ``time.monotonic_ns()`` when the
      timed calls began and ended, one clock for every process on the machine, so that a caller
      running several processes at once can time them together).
    * ``{"op": "result", "id": ID}``: answers ``{"ok": true, "result": {...}}`` (the figures
      ``--json`` writes for a point) and forgets ID; with ``"latencies": true`` the result also
      lists every call's latency (``latencies_us``, sorted).

    A bad request (not one JSON object on a line of UTF-8, an unknown op, a missing or mistyped
    field, an unknown id, an id prepared twice, a dimension over MAX_DIMENSION, a batch or pool over MAX_BATCH, a
    point too large for this machine's memory, a result asked before any repetition) is answered
    ``{"ok": false, "error": "..."}`` and changes nothing; end of input ends the process.
    """
    if stdin is None:
        stdin = sys.stdin
        try:
            # Undecodable bytes become a refused request rather than a UnicodeDecodeError.
            stdin.reconfigure(errors="surrogateescape")
        except (AttributeError, ValueError):
            pass
    stdout = stdout or sys.stdout
    blas, _ = blas_info()
    parameters = {}   # dimension -> Parameters (every stage's state, built once)
    pools = {}        # (dimension, rows) -> pool
    points = {}       # id -> PointTimer

    def answer(message):
        stdout.write(json.dumps(message) + "\n")
        stdout.flush()

    def positive(request, key, limit):
        if key not in request:
            raise ValueError(f"'{key}' is missing: a positive integer of at most {limit}")
        value = request[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"'{key}' must be a positive integer, got {value!r}")
        if value > limit:
            raise ValueError(f"'{key}' must be at most {limit}, got {value}")
        return value

    def identifier(request):
        key = request.get("id")
        if not isinstance(key, str) or not key:
            raise ValueError(f"'id' must be a non-empty string, got {key!r}")
        return key

    def point(request):
        key = identifier(request)
        if key not in points:
            raise ValueError(f"no prepared point with id {key!r}")
        return key, points[key]

    answer({"ok": True, "numpy_version": np.__version__, "blas": blas, "threads": args.effective_threads,
            "madvise_hugepage": args.madvise_hugepage})
    for line in stdin:
        if not line.strip():
            continue
        try:
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a request must be one JSON object per line of UTF-8 text (undecodable bytes)") from None
            try:
                request = json.loads(line)
            except ValueError as error:     # json.JSONDecodeError, or an integer of too many digits
                raise ValueError(f"a request must be one JSON object per line ({error})") from None
            except RecursionError:
                raise ValueError("a request must be one JSON object per line (nested too deeply)") from None
            if not isinstance(request, dict):
                raise ValueError("a request must be a JSON object")
            op = request.get("op")
            if op == "prepare":
                key = identifier(request)
                if key in points:
                    raise ValueError(f"point {key!r} is already prepared: take its 'result' (which forgets it) or use another id")
                stage = request.get("stage")
                if "stage" not in request:
                    raise ValueError(f"'stage' is missing; known: {', '.join(ALL_STAGES + EXTRA_STAGES)}")
                if not isinstance(stage, str) or stage not in ALL_STAGES + EXTRA_STAGES:
                    raise ValueError(f"unknown stage {stage!r}; known: {', '.join(ALL_STAGES + EXTRA_STAGES)}")
                d = positive(request, "dimension", MAX_DIMENSION)
                batch = positive(request, "batch", MAX_BATCH)
                rows = positive(request, "pool_rows", MAX_BATCH)
                if batch > rows:
                    raise ValueError(f"batch {batch} is larger than the pool of {rows} rows")
                calls = positive(request, "calls", MAX_CALLS) if "calls" in request else None
                # Nothing is kept unless the whole point could be allocated and warmed up.
                try:
                    params = parameters.get(d)
                    if params is None:
                        params = Parameters(d, list(ALL_STAGES + EXTRA_STAGES), args.normals)
                    pool = pools.get((d, rows))
                    if pool is None:
                        pool = np.random.default_rng([DATA_SEED, d]).standard_normal((rows, d), dtype=np.float32)
                    timer = PointTimer(params, stage, batch, pool, args, calls=calls)
                except MemoryError as error:
                    params = pool = None
                    raise ValueError(_memory_error(error, f"{stage} at dimension {d}, batch {batch}, pool of {rows} rows")) from None
                parameters[d] = params
                pools[(d, rows)] = pool
                points[key] = timer
                answer({"ok": True, "rows_per_repetition": timer.rows_per_rep})
            elif op == "repetition":
                _, timer = point(request)
                start_at = request.get("start_at_ns")
                if start_at is not None and (not isinstance(start_at, int) or isinstance(start_at, bool) or start_at < 0):
                    raise ValueError(f"'start_at_ns' must be a time.monotonic_ns() value (a non-negative integer), got {start_at!r}")
                if start_at is not None and start_at - time.monotonic_ns() > 10**9:
                    raise ValueError(f"'start_at_ns' is more than a second ahead of this process's monotonic clock")
                rate = timer.repetition(start_at_ns=start_at)
                wait_until_quiet()
                answer({"ok": True, "embeddings_per_second": rate, "rows": timer.rows_per_rep,
                        "started_ns": timer.started_ns, "ended_ns": timer.ended_ns})
            elif op == "result":
                key, timer = point(request)
                if not timer.rep_ns:
                    raise ValueError(f"point {key!r} has no timed repetition yet: ask for a 'repetition' of it first")
                answer({"ok": True, "result": timer.result(latencies=request.get("latencies") is True)})
                del points[key]
            elif "op" not in request:
                raise ValueError("'op' is missing; known: prepare, repetition, result")
            elif isinstance(op, str):
                raise ValueError(f"unknown op {op!r}; known: prepare, repetition, result")
            else:
                raise ValueError(f"'op' must be a string, one of prepare, repetition, result; got {op!r}")
        except ValueError as error:
            answer({"ok": False, "error": str(error).replace("\n", " ")})
        except Exception as error:  # noqa: BLE001 - a request must not end the worker
            traceback.print_exc(file=sys.stderr)
            answer({"ok": False, "error": f"internal error on this request: {type(error).__name__}: {error}".replace("\n", " ")})
    return 0


def markdown_header():
    return (
        "| stage | d | batch | threads | embeddings/s | ns/embedding | p50 us | p99 us | reps | rows/rep |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )


def markdown_row(r):
    return (
        f"| {r['stage']} | {r['dimension']} | {r['batch']} | {r['threads']} | "
        f"{r['embeddings_per_second']:,.0f} | {r['ns_per_embedding']:,.0f} | "
        f"{r['p50_us']:,.1f} | {r['p99_us']:,.1f} | {r['repetitions']} | {r['rows_per_repetition']} |"
    )


# MARK: - BLAS introspection


def _openblas_library():
    """The loaded OpenBLAS shared object (NumPy's bundled scipy-openblas or a system one)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _first_symbol(lib, names):
    for name in names:
        fn = getattr(lib, name, None)
        if fn is not None:
            return fn
    return None


def blas_info():
    """(description, threads or None), cheaply: build config plus OpenBLAS's runtime answers."""
    parts = []
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        parts.append(f"{blas.get('name', '?')} {blas.get('version', '?')}")
        if blas.get("openblas configuration"):
            parts.append(str(blas["openblas configuration"]).strip())
    except Exception:  # noqa: BLE001 - introspection only
        parts.append("unknown BLAS")
    threads = None
    lib = _openblas_library()
    if lib is not None:
        corename = _first_symbol(lib, ["scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"])
        if corename is not None:
            corename.restype = ctypes.c_char_p
            try:
                parts.append(f"core={corename().decode()}")
            except Exception:  # noqa: BLE001
                pass
        get_threads = _first_symbol(lib, ["scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads"])
        if get_threads is not None:
            get_threads.restype = ctypes.c_int
            threads = int(get_threads())
            parts.append(f"threads={threads}")
    return "; ".join(parts), threads


# MARK: - Self-check

# Draws the self-check's keyed-noise statistics are taken over, at least: with 16384 N(0, 1)
# draws the 0.05 tolerance is 6.4 standard errors of the mean and 9 of the standard deviation.
KEYED_NOISE_DRAWS = 16384


def self_check(dimensions, normals="gaussian") -> int:
    """Vectorised coverage == set-based reference coverage, plus transform sanity checks
    (with the LSH normals' entries ``normals``)."""
    failures = []

    def check(ok, message):
        if not ok:
            failures.append(message)
            print(f"FAIL: {message}", file=sys.stderr)

    for d in dimensions:
        params = Parameters(d, list(ALL_STAGES), normals)
        distinct = len(np.unique(params.P))
        if normals == "signs":
            check(set(np.unique(params.P)) <= {-1.0, 1.0}, f"d={d}: normals are not {normals}")
        elif params.P.size > 2 * HASH_BITS:
            check(distinct > 2 * HASH_BITS, f"d={d}: normals are not {normals}")
        else:
            # d * 12 entries cannot hold more than 2 * 12 distinct values: Gaussian entries are
            # then only told from signs (or a constant) by being all distinct and not all +-1.
            print(f"d={d}: only {params.P.size} normal entries, too few for the {2 * HASH_BITS + 1} distinct values "
                  f"the Gaussian check asks: checked that they are distinct and not all +-1", file=sys.stderr)
            check(distinct == params.P.size and not set(np.unique(params.P)) <= {-1.0, 1.0},
                  f"d={d}: normals are not {normals}")
        rng = np.random.default_rng([DATA_SEED, d, 99])
        # Data with repeats so buckets collide within and across batches: a few tight
        # clusters, some exact duplicate rows, then broad Gaussian rows that fill buckets.
        centres = rng.standard_normal((8, d)).astype(np.float32)
        clustered = centres[rng.integers(0, 8, 3000)] + 0.05 * rng.standard_normal((3000, d)).astype(np.float32)
        broad = rng.standard_normal((9000, d)).astype(np.float32)
        data = np.concatenate([clustered, clustered[:500], broad]).astype(np.float32)
        sizes = [1, 1, 7, 256, 1, 33, 1000, 2, 4096, 513, 1, 3000, 4096, 4096, 97]
        fast = Pipeline(params, "hash", max(sizes))
        ref = Pipeline(params, "hash-reference", max(sizes))
        staged = Pipeline(params, "hash", max(sizes))   # through hash(), incl. its one-row path
        pos = 0
        for B in sizes:
            X = data[pos % len(data) :][:B]
            if X.shape[0] < B:
                X = np.concatenate([X, data[: B - X.shape[0]]])
            pos += B
            ids = fast.bucket_ids(X)
            counts = fast.coverage_counts(ids)
            check(np.array_equal(staged.priced(X)[:, 0], fast.sigma_table[counts]),
                  f"d={d} batch={B}: priced() sigma differs from the counted coverage")
            # The table is the cost formula (rounded to the ladder) at each count.
            check(np.array_equal(fast.sigma_table[counts], cost_sigma(counts / BUCKETS).astype(np.float32)),
                  f"d={d} batch={B}: the sigma table differs from cost_sigma")
            proj = X @ params.P
            for i in range(B):
                ref.reference_buckets.add(tuple(proj[i] > params.thresholds))
                if counts[i] != len(ref.reference_buckets):
                    check(False, f"d={d} batch={B} row {i}: vectorised count {counts[i]} != reference {len(ref.reference_buckets)}")
                    break
            # The id packing agrees with the tuples: bit j = hyperplane j.
            expect = sum((proj[:, j] > params.thresholds[j]).astype(np.intp) << j for j in range(HASH_BITS))
            check(np.array_equal(ids, expect), f"d={d} batch={B}: bucket ids differ from bit packing")
            check(fast.occupied_count == int(fast.occupied.sum()), f"d={d}: occupancy count out of sync")
        check({tuple(bool(b) for b in key) for key in ref.reference_buckets}
              == {tuple(bool((i >> j) & 1) for j in range(HASH_BITS)) for i in np.flatnonzero(fast.occupied)},
              f"d={d}: occupied bucket sets differ")
        # Coverage through the two hash stages on fresh users, in batches, rows identical.
        a = Pipeline(params, "hash", 512)
        b = Pipeline(params, "hash-reference", 512)
        for s in range(0, 4096, 512):
            sa = a.run(data[s : s + 512])
            sb = b.run(data[s : s + 512])
            check(np.array_equal(sa, sb), f"d={d}: coverage differs between hash and hash-reference at rows {s}..")
        print(f"d={d}: coverage after {sum(sizes)} rows = {fast.occupied_count}/{BUCKETS}; "
              f"final sigma = {float(fast.sigma_table[fast.occupied_count]):.4g}", file=sys.stderr)

        # Batching must not change the result: per-row coverage includes that row.
        one = Pipeline(params, "hash", 1)
        whole = Pipeline(params, "hash", 300)
        s1 = np.concatenate([one.run(data[i : i + 1]).copy() for i in range(300)])
        s2 = whole.run(data[:300])
        check(np.array_equal(s1, s2), f"d={d}: coverage depends on batching")
        p1 = Pipeline(params, "noise", 1)
        p2 = Pipeline(params, "noise", 300)
        q1 = np.concatenate([p1.priced(data[i : i + 1]).copy() for i in range(300)])
        check(np.array_equal(q1, p2.priced(data[:300])), f"d={d}: sigma depends on batching")

        # Keyed noise: same row -> same noise whatever its batch/position; other user differs.
        X = broad[:64].copy()
        k1 = Pipeline(params, "noise-keyed", 64)
        sigma = np.full((64, 1), 0.5, dtype=np.float32)
        y1 = k1.noise_keyed(X, sigma).copy()
        y2 = k1.noise_keyed(X[::-1].copy(), sigma)[::-1].copy()
        check(np.array_equal(y1, y2), f"d={d}: keyed noise depends on row position")
        k2 = Pipeline(params, "noise-keyed", 64, user=1)
        y3 = k2.noise_keyed(X, sigma)
        check(not np.array_equal(y1, y3), f"d={d}: keyed noise identical for two users")
        # Mean and standard deviation within 0.05 of N(0, 1)'s: a sure verdict only with enough
        # draws (0.05 is then over 6 standard errors of the mean), so below that many the check
        # draws the noise of more distinct rows (64 rows give enough from d = 256 on).
        z = (y1 - X) / 0.5
        if z.size < KEYED_NOISE_DRAWS:
            rows = -(-KEYED_NOISE_DRAWS // d)
            # Distinct rows: equal rows would draw equal noise.
            Xz = np.unique(rng.standard_normal((rows + rows // 8, d)).astype(np.float32), axis=0)[:rows]
            rows = Xz.shape[0]
            z = (Pipeline(params, "noise-keyed", rows).noise_keyed(Xz, np.full((rows, 1), 0.5, dtype=np.float32)) - Xz) / 0.5
            print(f"d={d}: keyed noise ~N(0,1) checked on {z.size} draws ({rows} rows), as 64 rows give only {64 * d}",
                  file=sys.stderr)
        check(abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05, f"d={d}: keyed noise not ~N(0,1)")

        # Transforms against direct formulas.
        Y = broad[:40].copy()
        pa = Pipeline(params, "affine", 40)
        check(np.allclose(pa.affine(Y), Y @ params.A + params.affine_shift, rtol=1e-4, atol=1e-4), f"d={d}: affine")
        ps = Pipeline(params, "scale-shift", 40)
        check(np.allclose(ps.scale_shift(Y.copy()), Y * params.scales + params.shifts), f"d={d}: scale-shift")
        pp = Pipeline(params, "pad-shuffle", 40)
        padded = np.concatenate([Y, np.broadcast_to(params.pad_constants, (40, PAD_COUNT))], axis=1)
        check(np.array_equal(pp.pad_shuffle(Y), padded[:, params.permutation]), f"d={d}: pad-shuffle")
        pb = Pipeline(params, "binary", 40)
        check(np.array_equal(pb.binary(Y), (Y @ params.H > 0).astype(np.float32)), f"d={d}: binary")
        # Every stage runs end to end with the right output shape.
        for stage in ALL_STAGES + EXTRA_STAGES:
            out = Pipeline(params, stage, 5).run(broad[:5])
            width = {"hash": 1, "hash-reference": 1, "pad-shuffle": d + PAD_COUNT, "binary": BINARY_DIMENSION}.get(stage, d)
            check(out.shape == (5, width) and np.isfinite(out).all(), f"d={d}: stage {stage} output shape {out.shape}")

    if failures:
        print(f"self-check FAILED ({len(failures)} problems)", file=sys.stderr)
        return 1
    print("self-check passed", file=sys.stderr)
    return 0


# MARK: - Command line


def _duplicates(values) -> list:
    seen, repeated = set(), []
    for v in values:
        if v in seen and v not in repeated:
            repeated.append(v)
        seen.add(v)
    return repeated


def _items(text: str, expected: str) -> list[str]:
    """The comma-separated items of ``text``, stripped; an empty list or item is refused with
    ``expected`` (what the option takes) in the message."""
    items = [v.strip() for v in text.split(",")]
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{expected}, got an empty list {text!r}")
    if "" in items:
        raise argparse.ArgumentTypeError(f"{expected}, got {text!r} (an empty item)")
    return items


def int_list(limit: int):
    """An argparse type: a comma-separated list of distinct integers in 1...limit, at least one."""

    def parse(text: str) -> list[int]:
        expected = f"expected a comma-separated list of distinct integers in 1...{limit}"
        items = _items(text, expected)
        try:
            values = [int(v) for v in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
        out_of_range = [v for v in values if not 1 <= v <= limit]
        if out_of_range:
            raise argparse.ArgumentTypeError(f"{expected}, got {', '.join(map(str, out_of_range))} out of range")
        repeated = _duplicates(values)
        if repeated:
            raise argparse.ArgumentTypeError(f"{expected}, got {', '.join(map(str, repeated))} more than once")
        return values

    parse.__name__ = "integer list"
    return parse


def bounded_int(low: int, high: int):
    """An argparse type: one integer in low...high."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer in {low}...{high}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def finite_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds in 0...MAX_SECONDS (inf, nan and the like refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds in 0...{MAX_SECONDS:g}, got {text!r}")
    return value


def stage_list(text: str) -> list[str]:
    choices = ", ".join(ALL_STAGES + EXTRA_STAGES)
    stages = _items(text, f"expected comma-separated stages ({choices})")
    unknown = [s for s in stages if s not in ALL_STAGES + EXTRA_STAGES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown stage(s) {unknown}; choose from {choices}")
    repeated = _duplicates(stages)
    if repeated:
        raise argparse.ArgumentTypeError(f"stage(s) {', '.join(repeated)} given more than once")
    return stages


def output_destination(path: str, option: str = "--json") -> str:
    """Where ``path`` would be written (its symbolic links followed, also to a target that does not
    exist yet); raises ValueError with a one-line reason when it cannot be: it is empty, names a
    directory or an existing file that is not a regular file (a device, pipe or socket), or its
    directory is missing, not a directory or not writable. As b4b-bench's OutputPath.check."""
    if not path:
        raise ValueError(f"{option} takes a file path, got an empty one")
    target = path
    for _ in range(32):
        if not os.path.islink(target):
            break
        link = os.readlink(target)
        target = link if os.path.isabs(link) else os.path.join(os.path.dirname(target), link)
    else:
        raise ValueError(f"{option} {path!r}: too many levels of symbolic links")
    if os.path.isdir(target):
        raise ValueError(f"{option} {path!r} is a directory; give a file path")
    if target.endswith(os.sep):
        raise ValueError(f"{option} {path!r} ends with {os.sep!r}, as a directory's path; give a file path")
    try:
        mode = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None     # its directory is checked next
    except OSError as error:
        raise ValueError(f"{option} {path!r}: {error.strerror or error}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(f"{option} {path!r} is not a regular file (a device, pipe or socket); give a file path")
    directory = os.path.dirname(target) or "."
    if not os.path.exists(directory):
        raise ValueError(f"{option} {path!r}: directory {directory!r} does not exist")
    if not os.path.isdir(directory):
        raise ValueError(f"{option} {path!r}: {directory!r} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path!r}: directory {directory!r} is not writable")
    return target


def write_atomically(text: str, path: str, option: str = "--json") -> None:
    """Writes ``text`` to ``path`` (or to the file a symbolic link there points to) through a
    temporary file in the same directory renamed over it, so that a failure leaves no partial
    file and an existing one unchanged; raises ValueError with a one-line reason."""
    target = output_destination(path, option)
    directory = os.path.dirname(target) or "."
    try:
        existing = os.stat(target).st_mode
    except OSError:
        existing = None
    temporary = None
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(target) + ".", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if existing is not None:
            mode = stat.S_IMODE(existing)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temporary, mode)
        os.replace(temporary, target)
        temporary = None
    except OSError as error:
        raise ValueError(f"cannot write {option} file {path!r}: {error.strerror or error}") from None
    finally:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser; in serve mode a usage error is also the greeting ``{"ok": false, "error"}``
    on standard output, which b4b-bench reads first (NumPyWorker.swift) and reports."""

    serve = False

    def error(self, message):
        if self.serve:
            print(json.dumps({"ok": False, "error": f"{self.prog}: error: {message}"}), flush=True)
        super().error(message)


def _asks_to_serve(argv) -> bool:
    # argparse takes unambiguous prefixes: "--se" could also be --self-check.
    return any(a in ("--ser", "--serv", "--serve") for a in argv)


def parse_args(argv):
    parser = ArgumentParser(
        description="NumPy counterpart of the b4b Swift benchmark (B4B defense pipeline throughput).")
    parser.serve = _asks_to_serve(argv)
    parser.add_argument("--dimension", type=int_list(MAX_DIMENSION), default=None,
                        help=f"representation dimension(s), comma-separated, at most {MAX_DIMENSION} (default 2048)")
    parser.add_argument("--batches", type=int_list(MAX_BATCH), default=None,
                        help=f"batch sizes, comma-separated, at most {MAX_BATCH} (default 1,4,16,64,256,1024,4096)")
    parser.add_argument("--stages", type=stage_list, default=list(ALL_STAGES),
                        help=f"stages, comma-separated (default {','.join(ALL_STAGES)}; also: {','.join(EXTRA_STAGES)})")
    parser.add_argument("--warmup", type=parse_warmup, default=None,
                        help="warm-up per point: seconds with an 's' or a decimal point (e.g. 0.25s), "
                             "or an integer count of untimed repetitions (default 0.25s; --quick 0.05s)")
    parser.add_argument("--repetitions", type=bounded_int(1, MAX_REPETITIONS), default=None,
                        help="timed repetitions per point (default 5; --quick 3)")
    parser.add_argument("--min-rows", type=bounded_int(1, MAX_MIN_ROWS), default=None,
                        help="rows per repetition at least, by looping over batch calls (default 2048; --quick 256)")
    parser.add_argument("--max-seconds", type=finite_seconds, default=None,
                        help="longest a repetition may take, seconds: a slow point makes fewer calls than "
                             "--min-rows asks, sized from the last warm-up call, at least one (default: no limit)")
    parser.add_argument("--min-seconds", type=finite_seconds, default=0.0,
                        help="shortest a repetition may take, seconds: a fast point makes more calls than "
                             "--min-rows asks, sized from the last warm-up call (default 0)")
    parser.add_argument("--threads", type=bounded_int(1, MAX_THREADS), default=None,
                        help="BLAS threads (sets OPENBLAS/OMP/MKL_NUM_THREADS before importing NumPy; default: inherited)")
    parser.add_argument("--normals", choices=["gaussian", "signs"], default="gaussian",
                        help="entries of the LSH normals: gaussian (default) or signs (+1 or -1), as the "
                             "Swift benchmark's --normals")
    parser.add_argument("--pages", choices=["huge", "base"], default="huge",
                        help="huge (default, NumPy's own behaviour): arrays of 4 MiB or more, the pool of rows "
                             "among them, are advised for transparent huge pages; base: NumPy is told not to "
                             "advise, so they stay on 4 KiB pages (the Swift benchmark's --pages)")
    parser.add_argument("--quick", action="store_true",
                        help="small run: batches 1,16,256, fewer rows and repetitions")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    parser.add_argument("--serve", action="store_true",
                        help="answer timing requests on stdin, one JSON object per line (see serve()): the "
                             "Swift benchmark's way of taking turns with NumPy; --dimension, --batches, "
                             "--stages and --repetitions are then unused")
    parser.add_argument("--self-check", action="store_true",
                        help="check vectorised coverage against the set-based reference (and the transforms); "
                             "exit non-zero on a mismatch")
    args = parser.parse_args(argv)
    if args.max_seconds is not None and not args.max_seconds > 0:
        parser.error("--max-seconds must be positive")
    if not args.min_seconds >= 0 or (args.max_seconds is not None and args.min_seconds > args.max_seconds):
        parser.error("--min-seconds must be between 0 and --max-seconds")
    if args.serve and args.self_check:
        parser.error("--serve and --self-check are two different modes: give one")
    if args.json is not None:
        if args.serve or args.self_check:
            parser.error(f"--json has no effect with {'--serve' if args.serve else '--self-check'}: it writes a run's results")
        # A run can take many minutes: a destination that cannot be written is reported now.
        try:
            output_destination(args.json)
        except ValueError as error:
            parser.error(str(error))
    args.dimension = args.dimension or [2048]
    args.batches = args.batches or ([1, 16, 256] if args.quick else [1, 4, 16, 64, 256, 1024, 4096])
    if args.warmup is None:
        args.warmup = 0.05 if args.quick else 0.25
    if args.repetitions is None:
        args.repetitions = 3 if args.quick else 5
    if args.min_rows is None:
        args.min_rows = 256 if args.quick else 2048
    return args


NEEDS_NUMPY = "numpy_pipeline.py needs NumPy (pip install numpy)"


def _import_numpy(threads):
    """Imports NumPy (after setting the BLAS thread variables); returns None, or a one-line
    reason when it cannot be imported."""
    global np
    if threads is not None:
        if sys.modules.get("numpy") is not None:
            print("warning: NumPy was imported before --threads could take effect", file=sys.stderr)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    try:
        import numpy
    except ImportError as error:
        if isinstance(error, ModuleNotFoundError) and error.name == "numpy":
            return NEEDS_NUMPY
        return f"{NEEDS_NUMPY}: importing it failed: {error}".replace("\n", " ")

    np = numpy
    return None


def _set_pages(pages):
    """Whether NumPy advises huge pages for its arrays of 4 MiB or more (it does by default on
    Linux); returns the setting in effect, or None where this NumPy has no such switch."""
    multiarray = getattr(getattr(np, "_core", None), "multiarray", None) or getattr(np.core, "multiarray", None)
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    getter = getattr(multiarray, "_get_madvise_hugepage", None)
    if setter is None or getter is None:
        return None
    setter(pages == "huge")
    return bool(getter())


def _memory_error(error, what) -> str:
    """A one-line reason for a MemoryError while allocating ``what``."""
    detail = str(error).strip().replace("\n", " ")
    return f"not enough memory for {what}" + (f" ({detail})" if detail else "")


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    problem = _import_numpy(args.threads)
    if problem is not None:
        if args.serve:
            # The greeting b4b-bench reads first (NumPyWorker.swift), which it reports.
            print(json.dumps({"ok": False, "error": problem}), flush=True)
        else:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    args.madvise_hugepage = _set_pages(args.pages)

    if args.self_check:
        try:
            return self_check(args.dimension, args.normals)
        except MemoryError as error:
            print(f"error: {_memory_error(error, f'the self-check at dimension(s) {args.dimension}')}", file=sys.stderr)
            return 1

    blas, runtime_threads = blas_info()
    if args.threads is not None and runtime_threads is not None and runtime_threads != args.threads:
        print(f"warning: asked for {args.threads} BLAS threads, OpenBLAS reports {runtime_threads}", file=sys.stderr)
    args.effective_threads = runtime_threads if runtime_threads is not None else (
        args.threads if args.threads is not None else (os.cpu_count() or 1))
    print(f"numpy {np.__version__}; {blas}", file=sys.stderr)
    if args.serve:
        return serve(args)

    results = []
    print(markdown_header(), flush=True)
    for d in args.dimension:
        try:
            params = Parameters(d, args.stages, args.normals)
            # The same pool as each Swift worker's (max(largest batch, 2048) rows), so that both
            # sides read their rows from the same level of the memory hierarchy.
            n_pool = max(max(args.batches), POOL_ROWS)
            pool = np.random.default_rng([DATA_SEED, d]).standard_normal((n_pool, d), dtype=np.float32)
            for stage in args.stages:
                for batch in args.batches:
                    result = measure_point(params, stage, batch, pool, args)
                    results.append(result)
                    print(markdown_row(result), flush=True)
        except MemoryError as error:
            print(f"error: {_memory_error(error, f'dimension {d} with batches up to {max(args.batches)}')}"
                  + ("; no --json file written" if args.json is not None else ""), file=sys.stderr)
            return 1

    if args.json is not None:
        document = {
            "tool": "numpy",
            "numpy_version": np.__version__,
            "blas": blas,
            "threads": args.effective_threads,
            "results": results,
        }
        try:
            write_atomically(json.dumps(document, indent=1) + "\n", args.json)
        except ValueError as error:
            print(f"error: {error} (the results above were not saved)", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
