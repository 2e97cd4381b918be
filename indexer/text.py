"""Stored text and its folded views, with offset maps back to the stored text.

Phrase search matches on a *folded* view of each document: every character NFKC-normalized on its
own and whitespace (line breaks, NBSP, ideographic spaces) dropped, so a phrase broken by a line
break or typed in half width still matches. Every span reported to users is translated back through
the offset map into ``[start, end)`` character offsets of the stored text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_NEWLINES = re.compile(r"\r\n?")
FOLD_VERSION = 1  # bump when ``_fold_char`` changes: phrase segments store folded text (``indexer.format``)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def clean_stored(raw: str) -> str:
    """The stored text of a document: a leading BOM dropped and CRLF/CR turned into LF, else as is."""
    if raw.startswith("\ufeff"):
        raw = raw[1:]
    return _NEWLINES.sub("\n", raw)


def _fold_char(ch: str) -> str:
    return "" if ch.isspace() else unicodedata.normalize("NFKC", ch)


class Folder:
    """Maps each character to its folded replacement (possibly empty or several characters).

    A translate table covers the characters that change; ``lengths`` gives, for each code point of
    the Basic Multilingual Plane, how many folded characters it becomes. Characters beyond the BMP
    are looked up lazily.
    """

    def __init__(self, fold_char):
        self._fold_char = fold_char
        self.table: dict[int, str | None] = {}
        lengths = np.ones(0x10000, dtype=np.int32)
        for cp in range(0x10000):
            if 0xD800 <= cp < 0xE000:
                continue
            ch = chr(cp)
            out = fold_char(ch)
            if out != ch:
                self.table[cp] = out or None
                lengths[cp] = len(out)
        self.lengths = lengths

    def _astral_lengths(self, cps: np.ndarray) -> np.ndarray:
        out = np.empty(len(cps), dtype=np.int32)
        for i, cp in enumerate(cps.tolist()):
            ch = chr(cp)
            if cp not in self.table:
                folded = self._fold_char(ch)
                if folded != ch:
                    self.table[cp] = folded or None
            repl = self.table.get(cp, ch)
            out[i] = len(repl) if repl is not None else 0
        return out

    def lengths_of(self, text: str) -> np.ndarray:
        """How many folded characters each character of ``text`` becomes."""
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        if len(cps) and cps.max() > 0xFFFF:
            lengths = np.empty(len(cps), dtype=np.int32)
            bmp = cps < 0x10000
            lengths[bmp] = self.lengths[cps[bmp]]
            lengths[~bmp] = self._astral_lengths(cps[~bmp])
            return lengths
        return self.lengths[cps]

    def fold(self, text: str) -> str:
        if _ASTRAL.search(text):
            self.lengths_of(text)  # registers astral characters in the table
        return text.translate(self.table)

    def fold_with_offsets(self, text: str) -> FoldedText:
        folded = self.fold(text)
        offsets = np.repeat(np.arange(len(text), dtype=np.int64), self.lengths_of(text))
        return FoldedText(folded, offsets, len(text))


@dataclass(frozen=True)
class FoldedText:
    """A folded view and, for each of its characters, the index of the stored character it came from."""

    text: str
    offsets: np.ndarray
    stored_length: int

    def to_stored(self, start: int, end: int) -> tuple[int, int]:
        """The stored-text span ``[s, e)`` covering the folded span ``[start, end)``."""
        if end <= start:
            pos = int(self.offsets[start]) if start < len(self.offsets) else self.stored_length
            return pos, pos
        return int(self.offsets[start]), int(self.offsets[end - 1]) + 1


@lru_cache(maxsize=1)
def phrase_folder() -> Folder:
    """The folder of phrase search: per-character NFKC, whitespace dropped."""
    return Folder(_fold_char)


def fold(text: str) -> str:
    """The folded view used by phrase search."""
    return phrase_folder().fold(text)


def fold_with_offsets(text: str) -> FoldedText:
    return phrase_folder().fold_with_offsets(text)


def folded_to_stored(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Translate folded-view spans of ``text`` into stored-text spans without building the full map."""
    if not spans:
        return []
    ends = np.cumsum(phrase_folder().lengths_of(text))  # ends[i]: folded length after stored char i
    flat = np.array([p for s, e in spans for p in (s, max(s, e - 1))], dtype=np.int64)
    idx = np.searchsorted(ends, flat, side="right")
    out = []
    for (s, e), i, j in zip(spans, idx[0::2].tolist(), idx[1::2].tolist()):
        out.append((i, i) if e <= s else (i, j + 1))
    return out
