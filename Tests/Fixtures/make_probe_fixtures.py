#!/usr/bin/env python3
"""Writes the probe_*.npy fixtures used by Tests/EvaluationTests/ProbeTests.swift.

Run from the package root (needs numpy and scikit-learn; the Swift tests never run Python):

    python3 Tests/Fixtures/make_probe_fixtures.py [TASK_DIR]

TASK_DIR defaults to /work/shared/data/e5-text/tasks/debian-sections10 (e5 text embeddings,
384 dimensions, 10 Debian package sections). The fixture is a deterministic slice of it:
train rows 0, 7, 14, ... (the first 600 of them), test rows 0, 3, 6, ... (the first 300),
and the first 32 columns. Inputs are stored as float32 (what the Swift code sees); every
expected value is computed in float64 from those float32 inputs.

Standardisation: mean and population standard deviation (ddof = 0) of the train slice,
as sklearn's StandardScaler; the test slice uses the train statistics.

  probe_train.npy          X  (600 x 32)  <f4   raw train features
  probe_train_labels.npy   y  (600,)      <i8   class indices 0..9
  probe_test.npy           X' (300 x 32)  <f4   raw test features
  probe_test_labels.npy    y' (300,)      <i8
  probe_scaler.npy         (2 x 32)       <f8   row 0: train means, row 1: StandardScaler scale_
  probe_coef.npy           (32 x 10)      <f8   LogisticRegression(C=1, lbfgs, tol=1e-8,
                                                max_iter=10000).coef_ TRANSPOSED (d x K, the
                                                Swift layout), fitted on standardised train
  probe_intercept.npy      (10,)          <f8   its intercept_ (sums to zero: see below)
  probe_proba.npy          (300 x 10)     <f8   predict_proba on the standardised test slice
  probe_predictions.npy    (300,)         <i8   predict on the standardised test slice
  probe_accuracy.npy       (1,)           <f8   test accuracy of those predictions
  probe_binary_coef.npy    (33,)          <f8   binary problem: train rows with label 0 or 1,
                                                standardised with THEIR OWN mean/sd, sklearn
                                                LogisticRegression(C=2, tol=1e-10); coef_ then
                                                intercept_ (see the equivalence below)
  probe_ridge.npy          (33 x 10)      <f8   ridge classifier, lambda = 10, targets -1/+1,
                                                unpenalised bias, on standardised train:
                                                [W; b] with the bias as the LAST row,
                                                W = solve(Xc^T Xc + 10 I, Xc^T Tc),
                                                b = mean(T) - mean(X) W (checked against
                                                sklearn RidgeClassifier(alpha=10))
  probe_ridge_predictions.npy (300,)      <i8   its argmax predictions on the standardised test

Why the intercepts sum to zero: the softmax model is invariant under adding one constant to
every intercept, and that direction is unpenalised; but the intercept gradient sum_i (P - Y)_i
always sums to zero over classes, so L-BFGS started at zero (sklearn and Swift alike) never
leaves the zero-sum subspace. The script asserts it.

The binary equivalence: with two classes the softmax's L2 optimum has w_1 = -w_0, so the
logit difference v = w_1 - w_0 carries the penalty 0.5 (|w_0|^2 + |w_1|^2) = 0.25 |v|^2.
The softmax objective with C is therefore half of sklearn's binary objective
0.5 |v|^2 + 2C sum CE: softmax with C = sklearn binary with 2C.
"""
import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.preprocessing import StandardScaler

TASK = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/e5-text/tasks/debian-sections10"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "EvaluationTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
N_TRAIN, N_TEST, D, K = 600, 300, 32, 10
RIDGE_LAMBDA = 10.0


def save(name, array, dtype):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(array, dtype=dtype))


train = np.load(os.path.join(TASK, "train.npy"), mmap_mode="r")
train_labels = np.load(os.path.join(TASK, "train_labels.npy"))
test = np.load(os.path.join(TASK, "test.npy"), mmap_mode="r")
test_labels = np.load(os.path.join(TASK, "test_labels.npy"))

X = np.asarray(train[::7][:N_TRAIN, :D], dtype=np.float32)
y = np.asarray(train_labels[::7][:N_TRAIN], dtype=np.int64)
Xt = np.asarray(test[::3][:N_TEST, :D], dtype=np.float32)
yt = np.asarray(test_labels[::3][:N_TEST], dtype=np.int64)
assert X.shape == (N_TRAIN, D) and Xt.shape == (N_TEST, D)
assert sorted(set(y.tolist())) == list(range(K)), "every class must be present in the train slice"

# Standardisation (float64 from the float32 inputs).
scaler = StandardScaler().fit(X.astype(np.float64))
Xs = scaler.transform(X.astype(np.float64))
Xts = scaler.transform(Xt.astype(np.float64))

# Multinomial logistic regression, converged far past the Swift tolerance.
clf = LogisticRegression(C=1.0, solver="lbfgs", tol=1e-8, max_iter=10000).fit(Xs, y)
assert clf.coef_.shape == (K, D)
assert abs(clf.intercept_.sum()) < 1e-6, clf.intercept_.sum()
proba = clf.predict_proba(Xts)
pred = clf.predict(Xts).astype(np.int64)
accuracy = float((pred == yt).mean())
print(f"logistic: n_iter={clf.n_iter_}, test accuracy={accuracy:.4f}, |coef|max={abs(clf.coef_).max():.3f}")

# Binary problem for the C -> 2C equivalence.
mask = y <= 1
Xb = X[mask].astype(np.float64)
Xbs = (Xb - Xb.mean(axis=0)) / Xb.std(axis=0)
binary = LogisticRegression(C=2.0, solver="lbfgs", tol=1e-10, max_iter=10000).fit(Xbs, y[mask])
binary_coef = np.r_[binary.coef_.ravel(), binary.intercept_]
print(f"binary: rows={mask.sum()}, n_iter={binary.n_iter_}")

# Ridge classifier with -1/+1 targets and an unpenalised bias (centring).
T = -np.ones((N_TRAIN, K))
T[np.arange(N_TRAIN), y] = 1.0
mean_x, mean_t = Xs.mean(axis=0), T.mean(axis=0)
Xc, Tc = Xs - mean_x, T - mean_t
W = np.linalg.solve(Xc.T @ Xc + RIDGE_LAMBDA * np.eye(D), Xc.T @ Tc)
b = mean_t - mean_x @ W
ridge = RidgeClassifier(alpha=RIDGE_LAMBDA).fit(Xs, y)
assert np.allclose(ridge.coef_.T, W, atol=1e-8) and np.allclose(ridge.intercept_, b, atol=1e-8)
ridge_pred = np.argmax(Xts @ W + b, axis=1).astype(np.int64)
assert (ridge_pred == ridge.predict(Xts)).all()
print(f"ridge: test accuracy={(ridge_pred == yt).mean():.4f}")

save("probe_train.npy", X, "<f4")
save("probe_train_labels.npy", y, "<i8")
save("probe_test.npy", Xt, "<f4")
save("probe_test_labels.npy", yt, "<i8")
save("probe_scaler.npy", np.vstack([scaler.mean_, scaler.scale_]), "<f8")
save("probe_coef.npy", clf.coef_.T, "<f8")
save("probe_intercept.npy", clf.intercept_, "<f8")
save("probe_proba.npy", proba, "<f8")
save("probe_predictions.npy", pred, "<i8")
save("probe_accuracy.npy", np.array([accuracy]), "<f8")
save("probe_binary_coef.npy", binary_coef, "<f8")
save("probe_ridge.npy", np.vstack([W, b]), "<f8")
save("probe_ridge_predictions.npy", ridge_pred, "<i8")
