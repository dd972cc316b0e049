#!/usr/bin/env python3
"""Writes the mapper_*.npy fixtures used by Tests/EvaluationTests/LinearMapperTests.swift.

Run from the package root:  python3 Tests/Fixtures/make_mapper_fixtures.py   (numpy only)

Inputs are float32 (what the Swift code sees); every expected solution is computed in
float64 from those float32 inputs, and stored as '<f8' with the bias as the LAST row,
i.e. the (d_s + 1) x d_t matrix [W; b] that solves [S 1] [W; b] ~ T.

  mapper_source.npy       S   (300 x 20)  float32, standard normal
  mapper_target.npy       T   (300 x 7)   float32, S W_true + b_true + 0.01 noise
  mapper_lstsq.npy        (21 x 7) f8     np.linalg.lstsq(c_[S, 1], T)
  mapper_ridge.npy        (21 x 7) f8     ridge, lambda = 3.0, bias not penalised:
                                          centre S, T by column means,
                                          W = solve(Sc^T Sc + 3 I, Sc^T Tc), b = mean_T - mean_S W
  mapper_under_source.npy S2  (12 x 20)   float32
  mapper_under_target.npy T2  (12 x 7)    float32
  mapper_minnorm.npy      (21 x 7) f8     np.linalg.lstsq(c_[S2, 1], T2): minimum norm of [W; b]
                                          (the bias row is included in the norm)
"""
import os
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "EvaluationTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
LAMBDA = 3.0


def save(name, array, dtype):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(array, dtype=dtype))


rng = np.random.default_rng(20240613)
n, ds, dt = 300, 20, 7
w_true = rng.standard_normal((ds, dt))
b_true = rng.standard_normal(dt)

S = rng.standard_normal((n, ds)).astype(np.float32)
T = (S.astype(np.float64) @ w_true + b_true + 0.01 * rng.standard_normal((n, dt))).astype(np.float32)
S64, T64 = S.astype(np.float64), T.astype(np.float64)
X = np.c_[S64, np.ones(n)]

lstsq = np.linalg.lstsq(X, T64, rcond=None)[0]

mean_s, mean_t = S64.mean(axis=0), T64.mean(axis=0)
Sc, Tc = S64 - mean_s, T64 - mean_t
w_ridge = np.linalg.solve(Sc.T @ Sc + LAMBDA * np.eye(ds), Sc.T @ Tc)
ridge = np.vstack([w_ridge, mean_t - mean_s @ w_ridge])

m = 12
S2 = rng.standard_normal((m, ds)).astype(np.float32)
T2 = (S2.astype(np.float64) @ w_true + b_true + 0.01 * rng.standard_normal((m, dt))).astype(np.float32)
minnorm = np.linalg.lstsq(np.c_[S2.astype(np.float64), np.ones(m)], T2.astype(np.float64), rcond=None)[0]

save("mapper_source.npy", S, "<f4")
save("mapper_target.npy", T, "<f4")
save("mapper_lstsq.npy", lstsq, "<f8")
save("mapper_ridge.npy", ridge, "<f8")
save("mapper_under_source.npy", S2, "<f4")
save("mapper_under_target.npy", T2, "<f4")
save("mapper_minnorm.npy", minnorm, "<f8")
