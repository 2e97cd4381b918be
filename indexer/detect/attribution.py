"""Every copied character to exactly one source, the best, as CNKI does.

A document may share the same stretch of text with several library documents (a passage copied from
a source that a third material copied too). Sources are ranked by how much the document shares with
each (the pair's figure, the same on every page); going down the ranking, each passage keeps only
the text no better source has claimed: it is trimmed to its longest unclaimed stretch, and dropped
when that is shorter than a reported passage. So passages never overlap, and the characters
attributed to the sources add up to the document's copied characters.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from indexer.detect.align import Passage
from indexer.detect.normalize import Normalized

DocId = Hashable


@dataclass
class Attribution:
    """The sources best first, each one's attributed and shared characters, and the passages kept."""

    ranking: list[DocId] = field(default_factory=list)
    chars: dict[DocId, int] = field(default_factory=dict)  # attributed, counted characters
    pair_chars: dict[DocId, int] = field(default_factory=dict)  # shared with the source, counted
    passages: list[tuple[DocId, Passage]] = field(default_factory=list)  # by position, disjoint


def covered_chars(spans: Sequence[tuple[int, int]], norm: Normalized, counted: np.ndarray) -> int:
    """Counted normalized characters of ``norm`` inside the original ``spans``."""
    cover = np.zeros(len(norm.original) + 1, dtype=bool)
    for s, e in spans:
        cover[s:e] = True
    return int((cover[norm.offsets] & counted).sum()) if len(norm) else 0


def attribute(pairs, norm: Normalized, counted: np.ndarray, *, min_chars: int) -> Attribution:
    """Attribute the passages of ``pairs`` (PairResult, the document is ``a``) to one source each.

    ``counted`` marks the normalized characters that count (not boilerplate)."""
    out = Attribution()
    for pair in pairs:
        out.pair_chars[pair.b] = covered_chars([(p.a_start, p.a_end) for p in pair.passages], norm, counted)
    ranked = sorted(pairs, key=lambda p: (-out.pair_chars[p.b], str(p.b)))
    taken = np.zeros(len(norm), dtype=bool)
    pos = norm.offsets
    for pair in ranked:
        out.ranking.append(pair.b)
        out.chars[pair.b] = 0
        for p in sorted(pair.passages, key=lambda x: x.a_start):
            lo, hi = int(np.searchsorted(pos, p.a_start)), int(np.searchsorted(pos, p.a_end))
            if hi <= lo:
                continue
            free = ~taken[lo:hi]
            if not free.all():
                rs, re_ = _longest_run(free)
                if re_ - rs < min_chars:
                    continue
                lo, hi = lo + rs, lo + re_
                p = trim(p, *norm.to_original(lo, hi))
            taken[lo:hi] = True
            out.chars[pair.b] += int(counted[lo:hi].sum())
            out.passages.append((pair.b, p))
    out.passages.sort(key=lambda x: x[1].a_start)
    return out


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    starts, ends = edges[::2], edges[1::2]
    if not len(starts):
        return 0, 0
    i = int(np.argmax(ends - starts))
    return int(starts[i]), int(ends[i])


def b_position(p: Passage, x: int) -> int:
    """Where original offset ``x`` of side a falls on side b, following the passage's edits."""
    b = p.b_start + (x - p.a_start)
    for _tag, a0, a1, b0, b1 in p.edits:
        if a0 > x:
            break
        b = b0 + min(x - a0, b1 - b0) if x < a1 else b1 + (x - a1)
    return max(p.b_start, min(p.b_end, b))


def trim(p: Passage, a_start: int, a_end: int) -> Passage:
    """The passage cut to side a's ``[a_start, a_end)``, side b cut to match, shared chars in proportion."""
    b_start, b_end = b_position(p, a_start), b_position(p, a_end)
    edits = tuple(e for e in p.edits if e[1] >= a_start and e[2] <= a_end)
    share = (a_end - a_start) / max(1, p.a_end - p.a_start)
    return Passage(a_start, a_end, b_start, max(b_start, b_end), p.similarity,
                   round(p.shared_chars * share), edits)
