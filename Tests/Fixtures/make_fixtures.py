#!/usr/bin/env python3
"""Regenerates the NumPy reference fixtures used by the Swift tests.

Every expected value here is computed by NumPy (float64 arithmetic on the float32
inputs), independently of the Swift code under test. Run from the repository root:

    python3 Tests/Fixtures/make_fixtures.py
"""
import pathlib
import numpy as np

root = pathlib.Path(__file__).resolve().parents[1]
defense = root / "DefenseTests" / "Fixtures"
numerics = root / "NumericKernelsTests" / "Fixtures"
defense.mkdir(parents=True, exist_ok=True)
numerics.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20231210)

# --- LSH: bucket ids by the reference definition --------------------------------------
# bit j of table t is 1 exactly when x . p[:, t*k + j] > threshold[t*k + j];
# id = sum_j bit_j << j.
d, k, tables, n = 64, 12, 2, 600
P = rng.standard_normal((d, k * tables)).astype(np.float32)
X = rng.standard_normal((n, d)).astype(np.float32)
X[::7] *= np.float32(1e-3)  # small rows, far from nothing in particular
centre = (0.5 * rng.standard_normal(d)).astype(np.float32)
thresholds = (centre.astype(np.float64) @ P.astype(np.float64)).astype(np.float32)
for name, t in (("origin", np.zeros(k * tables, np.float32)), ("centred", thresholds)):
    proj = X.astype(np.float64) @ P.astype(np.float64)
    bits = proj > t.astype(np.float64)
    ids = np.zeros((n, tables), np.uint32)
    for tb in range(tables):
        for j in range(k):
            ids[:, tb] |= bits[:, tb * k + j].astype(np.uint32) << np.uint32(j)
    np.save(defense / f"lsh_{name}_thresholds.npy", t)
    np.save(defense / f"lsh_{name}_ids.npy", ids.astype(np.int64))
    distinct = [len(set(ids[:, tb].tolist())) for tb in range(tables)]
    np.save(defense / f"lsh_{name}_distinct.npy", np.array(distinct, np.int64))
np.save(defense / "lsh_normals.npy", P)
np.save(defense / "lsh_batch.npy", X)

# --- Least squares: overdetermined (QR and SVD) and underdetermined (minimum norm) ------
A = rng.standard_normal((200, 30)).astype(np.float32)
B = (A.astype(np.float64) @ rng.standard_normal((30, 3)) + 0.1 * rng.standard_normal((200, 3))).astype(np.float32)
np.save(numerics / "lstsq_over_a.npy", A)
np.save(numerics / "lstsq_over_b.npy", B)
np.save(numerics / "lstsq_over_x.npy", np.linalg.lstsq(A.astype(np.float64), B.astype(np.float64), rcond=None)[0])
A2 = rng.standard_normal((20, 30)).astype(np.float32)
B2 = rng.standard_normal((20, 2)).astype(np.float32)
np.save(numerics / "lstsq_under_a.npy", A2)
np.save(numerics / "lstsq_under_b.npy", B2)
np.save(numerics / "lstsq_under_x.npy", np.linalg.lstsq(A2.astype(np.float64), B2.astype(np.float64), rcond=None)[0])

# --- Ridge via the normal equations: (X^T X + lam I) W = X^T Y -------------------------
lam = 0.5
G = (A.astype(np.float64).T @ A.astype(np.float64) + lam * np.eye(30))
R = A.astype(np.float64).T @ B.astype(np.float64)
np.save(numerics / "ridge_gram.npy", G.astype(np.float32))
np.save(numerics / "ridge_rhs.npy", R.astype(np.float32))
np.save(numerics / "ridge_w.npy", np.linalg.solve(G.astype(np.float32).astype(np.float64), R.astype(np.float32).astype(np.float64)))

# --- Eq. (1) of the paper at a few coverages (defaults and another parameter set) -------
def sigma(c, lam, alpha, beta):
    return lam * (np.exp(np.log(alpha / lam) * c / beta) - 1)
cov = np.array([0, 0.01, 0.1, 0.25, 0.4, 0.5, 0.6, 0.8, 0.9, 1.0])
np.save(defense / "cost_coverage.npy", cov)
np.save(defense / "cost_sigma_default.npy", sigma(cov, 1e-6, 1.0, 0.8))
np.save(defense / "cost_sigma_dino.npy", sigma(cov, 1e-3, 1000.0, 0.5))
print("fixtures written")
