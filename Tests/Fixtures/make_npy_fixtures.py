#!/usr/bin/env python3
"""Writes the .npy fixtures used by Tests/EvaluationTests/NPYTests.swift.

Run from the package root:  python3 Tests/Fixtures/make_npy_fixtures.py
Every array is computed from a formula the Swift tests repeat, so no second
"expected values" file is needed:

  matrix  (3, 4):  arange(12).reshape(3, 4) * 0.5 - 1
  labels  (7,):    [0, 1, 2, 3, 250, 7, 42]   (in range for every integer dtype used)
  signed  (5,):    [-3, -1, 0, 1, 100]
"""
import os
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "EvaluationTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)


def path(name):
    return os.path.join(OUT, name)


matrix64 = np.arange(12, dtype=np.float64).reshape(3, 4) * 0.5 - 1
labels = np.array([0, 1, 2, 3, 250, 7, 42])
signed = np.array([-3, -1, 0, 1, 100])

# Valid inputs.
np.save(path("matrix_f4.npy"), matrix64.astype("<f4"))
np.save(path("matrix_f8.npy"), matrix64.astype("<f8"))
np.save(path("labels_i8.npy"), labels.astype("<i8"))
np.save(path("labels_i4.npy"), labels.astype("<i4"))
np.save(path("labels_u1.npy"), labels.astype("|u1"))
np.save(path("labels_i2_signed.npy"), signed.astype("<i2"))
np.save(path("labels_i1_signed.npy"), signed.astype("|i1"))
with open(path("matrix_f4_v2.npy"), "wb") as f:
    np.lib.format.write_array(f, matrix64.astype("<f4"), version=(2, 0))
np.save(path("matrix_f4_empty.npy"), np.zeros((0, 4), dtype="<f4"))

# Invalid inputs, one problem each.
np.save(path("matrix_fortran.npy"), np.asfortranarray(matrix64.astype("<f4")))
np.save(path("matrix_big_endian.npy"), matrix64.astype(">f4"))
np.save(path("matrix_c8.npy"), matrix64.astype("<c8"))
np.save(path("vector_f4.npy"), np.arange(5, dtype="<f4"))
np.save(path("labels_2d.npy"), labels[:6].astype("<i8").reshape(2, 3))

with open(path("matrix_f4.npy"), "rb") as f:
    whole = f.read()
with open(path("matrix_truncated.npy"), "wb") as f:
    f.write(whole[:-5])  # header intact, last 5 data bytes gone

print("wrote fixtures to", os.path.normpath(OUT))
