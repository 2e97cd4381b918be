"""Stock phrases (套话): the shipped slogan list plus the user's own, as k-gram hashes to ignore."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from indexer.detect.fingerprint import kgram_hashes
from indexer.detect.normalize import normalize

STOCK_FILE = Path(__file__).with_name("stock_phrases.txt")


@lru_cache(maxsize=1)
def shipped_phrases() -> tuple[str, ...]:
    """The shipped starter list of official slogans, one per line, '#' comments skipped."""
    lines = STOCK_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#"))


def stock_hashes(phrases: Iterable[str], *, k: int) -> np.ndarray:
    """Sorted unique hashes of every k-gram of the normalized phrases (shorter phrases add none)."""
    parts = [kgram_hashes(normalize(p).text, k) for p in phrases]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def stock_mask(norm_text: str, hashes: np.ndarray, *, k: int) -> np.ndarray:
    """Which characters of a normalized text lie in a k-gram of a stock phrase (``hashes`` sorted)."""
    mask = np.zeros(len(norm_text), dtype=bool)
    if len(hashes) and len(norm_text) >= k:
        grams = kgram_hashes(norm_text, k)
        idx = np.minimum(np.searchsorted(hashes, grams), len(hashes) - 1)
        hits = np.flatnonzero(hashes[idx] == grams)
        if len(hits):
            cover = np.zeros(len(norm_text) + 1, dtype=np.int32)
            np.add.at(cover, hits, 1)
            np.add.at(cover, hits + k, -1)
            mask = np.cumsum(cover[:-1]) > 0
    return mask
