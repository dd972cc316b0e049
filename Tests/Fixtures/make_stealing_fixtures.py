#!/usr/bin/env python3
"""Writes the stealing_* fixtures used by Tests/EvaluationTests/StealingTests.swift.

Run from the package root:  python3 Tests/Fixtures/make_stealing_fixtures.py   (numpy only)

An independent re-implementation, in plain Python, of the recipe documented on
`HashedNGramFeatures` (Sources/Evaluation/Stealing/HashedNGramFeatures.swift) and of the hash
documented on `NGramHash`. It follows scikit-learn's char_wb analyser literally (pad each word
with one space, the `offset == 0` break for short words) rather than the Swift code's
window formulation, and solves ridge in the augmented form rather than by centring.

  stealing_texts.jsonl         30 records {"text", "label"}: ASCII, accents (composed and
                               combining), CJK, Cyrillic, Greek, Arabic, emoji (with skin tone
                               and ZWJ), special case mappings, empty and whitespace-only texts
  stealing_idf.npy             (64,) f8    idf fitted on the first 20 texts, F = 64,
                               n-grams 2..4, lower-cased, seed 0
  stealing_features.npy        (30, 64) f8 features of all 30 texts with that idf
  stealing_idf_alt.npy         (50,) f8    idf on all 30 texts, F = 50 (not a power of two),
                               n-grams 4..5 (short padded words become one n-gram),
                               no lower-casing, seed 0x9E3779B97F4A7C15
  stealing_features_alt.npy    (30, 50) f8
  stealing_hashes.npy          (12, 2) f8  NGramHash of HASH_INPUTS under seeds 0 and
                               0x9E3779B97F4A7C15 (6 strings x 2 seeds, seed-major), stored as
                               (high 32 bits, low 32 bits) so float64 holds them exactly
  stealing_ridge_x.npy         (200, 30) f4  synthetic features
  stealing_ridge_y.npy         (200, 5) f4   x W + b + 1e-3 noise
  stealing_ridge_xtest.npy     (50, 30) f4
  stealing_ridge_coef.npy      (31, 5) f8    [W; b] of ridge lambda = 0.5, bias unpenalised,
                               from the augmented normal equations
                               ([X 1]^T [X 1] + diag(0.5, ..., 0.5, 0)) [W; b] = [X 1]^T Y
  stealing_ridge_pred.npy      (50, 5) f8    xtest W + b
"""
import json
import math
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "EvaluationTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
MASK = (1 << 64) - 1
ALT_SEED = 0x9E3779B97F4A7C15

# The Unicode White_Space property (note: not str.isspace, which also accepts U+001C..U+001F).
WHITE_SPACE = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
               0x2028, 0x2029, 0x202F, 0x205F, 0x3000}

TEXTS = [
    "opening line: the first line of a piece of writing (as a newspaper story)",
    "GNU R tools for prevalence assessment studies",
    "C library for arbitrary-precision ball arithmetic, development files",
    "baronetage: the state of a baronet",
    "Café au lait, naïve résumé",
    "CAFÉ AU LAIT",
    "cafe\u0301 with a combining accent",
    "東京タワーは日本の電波塔です",
    "中文 分词 测试",
    "Привет, мир! Большой ТЕСТ",
    "Σίσυφος ΣΟΦΙΑ και ΟΔΟΣ",
    "مرحبا بالعالم",
    "Hello 👋🏽 world 🎉🎉",
    "family: 👨‍👩‍👧 and flags 🇫🇷",
    "",
    "   ",
    "\t\n \u3000",
    "a",
    "I",
    "x y z",
    "İstanbul STRASSE Straße \u1e9e",
    "\u212a kelvin \u01c4 \ufb01 ligature",
    "non\u00a0breaking and ideographic\u3000space",
    "tabs\tand\nnewlines\r\nmixed",
    "  leading and trailing  ",
    "abc-def_ghi 123 4.5e-6",
    "zero\u200bwidth is not a space; a\u001cb is one word",
    "repeated repeated repeated words words",
    "한국어 텍스트 처리",
    "Mono ASP.NET MVC 3.0 Library (for CLI 4.0)",
]
assert len(TEXTS) == 30
HASH_INPUTS = ["", "a", " ab", "ab ", "日本", "👋🏽"]


def ngram_hash(data: bytes, seed: int) -> int:
    h = (0xCBF29CE484222325 ^ seed) & MASK
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & MASK
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & MASK
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & MASK
    h ^= h >> 31
    return h


def words(text: str):
    out, current = [], []
    for ch in text:
        if ord(ch) in WHITE_SPACE:
            if current:
                out.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current:
        out.append("".join(current))
    return out


def char_wb_ngrams(text: str, lo: int, hi: int):
    """scikit-learn's _char_wb_ngrams, on our word split."""
    grams = []
    for w in words(text):
        w = " " + w + " "
        w_len = len(w)
        for n in range(lo, hi + 1):
            offset = 0
            grams.append(w[offset:offset + n])
            while offset + n < w_len:
                offset += 1
                grams.append(w[offset:offset + n])
            if offset == 0:  # count a short word (w_len <= n) only once
                break
    return grams


def counts(texts, f, lo, hi, lowercase, seed):
    c = np.zeros((len(texts), f))
    for i, text in enumerate(texts):
        if lowercase:
            text = "".join(ch.lower() for ch in text)  # per character: no final-sigma context
        for gram in char_wb_ngrams(text, lo, hi):
            c[i, ngram_hash(gram.encode("utf-8"), seed) % f] += 1
    return c


def fit_idf(train_counts):
    n = train_counts.shape[0]
    df = (train_counts > 0).sum(axis=0)
    return np.log((1.0 + n) / (1.0 + df)) + 1.0


def features(c, idf):
    tf = np.zeros_like(c)
    nz = c > 0
    tf[nz] = 1.0 + np.log(c[nz])
    x = tf * idf
    norms = np.sqrt((x * x).sum(axis=1, keepdims=True))
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def save(name, array, dtype):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(array, dtype=dtype))


with open(os.path.join(OUT, "stealing_texts.jsonl"), "w", encoding="utf-8") as fh:
    for i, text in enumerate(TEXTS):
        fh.write(json.dumps({"text": text, "label": f"class{i % 3}"}, ensure_ascii=False) + "\n")

# Main recipe: F = 64, 2..4, lower-cased, seed 0, idf on the first 20 texts.
c = counts(TEXTS, 64, 2, 4, True, 0)
idf = fit_idf(c[:20])
save("stealing_idf.npy", idf, "<f8")
save("stealing_features.npy", features(c, idf), "<f8")

# Variant: F = 50, 4..5, case kept, another seed, idf on all texts.
c_alt = counts(TEXTS, 50, 4, 5, False, ALT_SEED)
idf_alt = fit_idf(c_alt)
save("stealing_idf_alt.npy", idf_alt, "<f8")
save("stealing_features_alt.npy", features(c_alt, idf_alt), "<f8")

hashes = [ngram_hash(s.encode("utf-8"), seed) for seed in (0, ALT_SEED) for s in HASH_INPUTS]
save("stealing_hashes.npy", [[h >> 32, h & 0xFFFFFFFF] for h in hashes], "<f8")

# Ridge with an unpenalised bias, augmented form.
rng = np.random.default_rng(20240614)
n, f, d, lam = 200, 30, 5, 0.5
w_true = rng.standard_normal((f, d))
b_true = rng.standard_normal(d)
X = rng.standard_normal((n, f)).astype(np.float32)
Y = (X.astype(np.float64) @ w_true + b_true + 1e-3 * rng.standard_normal((n, d))).astype(np.float32)
X_test = rng.standard_normal((50, f)).astype(np.float32)
A = np.c_[X.astype(np.float64), np.ones(n)]
penalty = np.diag(np.r_[np.full(f, lam), 0.0])
coef = np.linalg.solve(A.T @ A + penalty, A.T @ Y.astype(np.float64))
save("stealing_ridge_x.npy", X, "<f4")
save("stealing_ridge_y.npy", Y, "<f4")
save("stealing_ridge_xtest.npy", X_test, "<f4")
save("stealing_ridge_coef.npy", coef, "<f8")
save("stealing_ridge_pred.npy", np.c_[X_test.astype(np.float64), np.ones(50)] @ coef, "<f8")
print("wrote stealing fixtures to", os.path.normpath(OUT))
