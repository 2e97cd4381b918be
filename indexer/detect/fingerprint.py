"""Hashed character k-grams and winnowing fingerprints (Schleimer, Wilkerson & Aiken 2003).

Hashes are persisted by the index, so they must be the same in every process and on every machine:
a k-gram's hash is the polynomial ``sum(cp[i+j] * M**(k-1-j)) mod 2**64`` over its code points with
the fixed odd multiplier ``M`` below, passed through the splitmix64 finalizer. Never Python's hash().
"""

from __future__ import annotations

import numpy as np

_M = np.uint64(0x9E3779B97F4A7C15)
_S1, _S2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: spreads the polynomial's bits over all 64."""
    h ^= h >> np.uint64(30)
    h *= _S1
    h ^= h >> np.uint64(27)
    h *= _S2
    h ^= h >> np.uint64(31)
    return h


def kgram_hashes(text: str, k: int) -> np.ndarray:
    """The 64-bit hash of every k-gram of ``text`` (len(text) - k + 1 of them, deterministic)."""
    n = len(text) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    cps = _codepoints(text)
    h = cps[:n].copy()
    for j in range(1, k):
        h *= _M
        h += cps[j:j + n]
    return _mix(h)


def winnow(hashes: np.ndarray, window: int) -> np.ndarray:
    """Positions chosen by winnowing: in every window of ``window`` hashes the rightmost minimum."""
    n = len(hashes)
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    if n <= window:
        return np.array([n - 1 - int(np.argmin(hashes[::-1]))], dtype=np.uint32)
    m = n - window + 1
    best = hashes[:m].copy()
    picked = np.arange(m, dtype=np.int64)
    mask = np.empty(m, dtype=bool)
    for j in range(1, window):  # window passes of whole-array ops: ties go to the right
        cand = hashes[j:j + m]
        np.less_equal(cand, best, out=mask)
        np.copyto(best, cand, where=mask)
        np.copyto(picked, np.arange(j, j + m, dtype=np.int64), where=mask)
    keep = np.empty(len(picked), dtype=bool)  # picked is non-decreasing: drop repeats
    keep[0] = True
    np.not_equal(picked[1:], picked[:-1], out=keep[1:])
    return picked[keep].astype(np.uint32)


def fingerprints(norm_text: str, *, k: int = 9, window: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Winnowed fingerprints of a normalized text: (hashes uint64, positions uint32 of the k-grams).

    Any run of at least ``k + window - 1`` characters shared by two texts yields a shared fingerprint.
    """
    hashes = kgram_hashes(norm_text, k)
    positions = winnow(hashes, window)
    return hashes[positions], positions
