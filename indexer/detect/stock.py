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
