"""Normalized text for copy detection, with an offset map back to the original text.

Copies survive width changes, traditional characters, line breaks and spaces inside words and
swapped punctuation, so matching runs on a view of the text where every character is NFKC-folded
on its own, converted traditional→simplified *per character* (OpenCC ``t2s`` on single characters,
so the same input character always becomes the same output and offsets stay one-to-one), ASCII
lower-cased, and whitespace, punctuation, symbols and control characters dropped.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from indexer.text import Folder

_DROP_CATEGORIES = ("P", "S", "Z", "C")
# Bump when a rule below changes: stored fingerprints depend on it (``indexer.format``, ``upgrade``).
NORMALIZE_VERSION = 1
OPENCC_CONFIG = "t2s"  # OpenCC's traditional→simplified table; its package version is recorded too


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC(OPENCC_CONFIG)


def _fold_one(ch: str) -> str:
    """The normalized form of one NFKC-folded character ('' when it carries no text)."""
    if ch.isspace() or unicodedata.category(ch).startswith(_DROP_CATEGORIES):
        return ""
    if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or ch >= "\U00020000":
        out = _t2s().convert(ch)
        return out if len(out) == 1 else ch  # keep offsets one-to-one
    return ch.lower()


def _fold_char(ch: str) -> str:
    return "".join(_fold_one(c) for c in unicodedata.normalize("NFKC", ch))


@lru_cache(maxsize=1)
def detect_folder() -> Folder:
    """The shared translate table of the copy-detection view (built once, ~0.2 s, and kept on disk:
    ``indexer.derived``)."""
    from indexer.derived import cached

    return cached("detect-folder", lambda: Folder(_fold_char), modules=(__name__, Folder.__module__),
                  packages=("opencc",), trusted=(Folder, _fold_char))


@lru_cache(maxsize=1)
def _bmp_map() -> np.ndarray:
    """For each BMP code point its single normalized code point, 0 if dropped, 0xFFFFFFFF if several."""
    folder = detect_folder()
    out = np.arange(0x10000, dtype=np.uint32)
    for cp, repl in folder.table.items():
        if cp < 0x10000:
            out[cp] = 0 if not repl else (ord(repl) if len(repl) == 1 else 0xFFFFFFFF)
    out[0xD800:0xE000] = 0xFFFFFFFF
    return out


@dataclass(frozen=True, eq=False)
class Normalized:
    """The normalized view of a text; ``offsets[i]`` is the original index of normalized char i."""

    text: str
    offsets: np.ndarray
    original: str

    def __len__(self) -> int:
        return len(self.text)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span of normalized ``[start, end)``, closing punctuation right after included."""
        if end <= start:
            pos = int(self.offsets[start]) if start < len(self.offsets) else len(self.original)
            return pos, pos
        s, e = int(self.offsets[start]), int(self.offsets[end - 1]) + 1
        stop = int(self.offsets[end]) if end < len(self.offsets) else len(self.original)
        while e < stop and _is_closing(self.original[e]):
            e += 1
        return s, e


    def spans_to_original(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``to_original`` for many non-empty spans at once (arrays of normalized starts and ends)."""
        starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
        s, e = self.offsets[starts].astype(np.int64), self.offsets[ends - 1].astype(np.int64) + 1
        n = len(self.offsets)
        stop = np.where(ends < n, self.offsets[np.minimum(ends, n - 1)], len(self.original))
        cand = np.flatnonzero(e < stop)
        if len(cand):
            cps = np.frombuffer(self.original.encode("utf-32-le"), dtype=np.uint32)
            cand = cand[np.isin(cps[e[cand]], _CLOSER_CPS)]
        for i in cand.tolist():  # closing punctuation right after comes along
            while e[i] < stop[i] and _is_closing(self.original[e[i]]):
                e[i] += 1
        return s, e


_CLOSERS = set("。，、；：！？…）】》」』”’,.;:!?)]")
_CLOSER_CPS = np.array(sorted(map(ord, _CLOSERS)), dtype=np.uint32)


def _is_closing(ch: str) -> bool:
    return ch in _CLOSERS


def normalize(text: str) -> Normalized:
    """The normalized view of ``text`` with its offset map (vectorized: a code-point table in numpy)."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    if not len(cps) or cps.max() <= 0xFFFF:  # (builtin max() over a str is slow)
        mapped = _bmp_map()[cps]
        if not (mapped == 0xFFFFFFFF).any():
            keep = np.flatnonzero(mapped)
            return Normalized(mapped[keep].tobytes().decode("utf-32-le"), keep.astype(np.int32), text)
    folder = detect_folder()  # rare: astral characters or one character folding to several
    folded = folder.fold(text)
    lengths = folder.lengths_of(text)
    offsets = np.repeat(np.arange(len(text), dtype=np.int32), lengths)
    if len(offsets) != len(folded):  # cannot happen with a consistent table; be safe anyway
        raise AssertionError("normalization offset map out of step")
    return Normalized(folded, offsets, text)


def char_count(norm: Normalized | str) -> int:
    """字数 of a text: its normalized characters (汉字, letters and digits; punctuation, spaces and
    Markdown marks are not counted). The one definition every page, the API, the exports and the
    stored ``Document.chars`` use; pass a ``Normalized`` already at hand to avoid normalizing twice."""
    return len(norm if isinstance(norm, Normalized) else normalize(norm))


class TextCache:
    """Normalized documents loaded on demand through the caller's ``load_text``."""

    def __init__(self, load_text: Callable[[Hashable], str], size: int | None = None):
        loader = lru_cache(maxsize=size)(lambda doc: normalize(load_text(doc)))
        self.get: Callable[[Hashable], Normalized] = loader
