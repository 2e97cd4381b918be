"""Corpus-wide copy detection from per-document fingerprints.

An inverted index (one numpy sort over all fingerprints) gives each hash its postings and document
frequency. Hashes found in at least ``min_docs`` documents, or in the stock-phrase list, are
boilerplate: they form boilerplate regions, reported once with every occurrence, and never seed a
pair. The remaining shared hashes give candidate pairs and their seeds; only candidate pairs' texts
are loaded (through the caller's ``load_text``) and aligned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from indexer.detect.align import Passage, align_pair
from indexer.detect.boilerplate import (
    Boilerplate,
    boiler_mask,
    boilerplate_entries,
    boilerplate_groups,
    find_boilerplate,
    inside,
)
from indexer.detect.normalize import Normalized, TextCache
from indexer.detect.options import DEFAULTS, DetectOptions
from indexer.detect.postings import DocId, FingerprintIndex, Fingerprints, pair_seeds


@dataclass(frozen=True)
class PairResult:
    """The passages document ``a`` shares with document ``b``."""

    a: DocId
    b: DocId
    passages: tuple[Passage, ...]
    similarity: float  # the larger of the two documents' copied shares (0..1)
    shared_chars: int


@dataclass(frozen=True)
class CompareResult:
    """Everything a whole-corpus compare found."""

    pairs: list[PairResult] = field(default_factory=list)
    boilerplate: list[Boilerplate] = field(default_factory=list)

    def to_json(self, documents: Mapping[DocId, str]) -> dict:
        """The JSON shape read by the benchmark's score_compare.py; ``documents`` maps id -> source."""
        return {
            "documents": [{"id": d, "source": s} for d, s in documents.items()],
            "pairs": [{"a": p.a, "b": p.b, "similarity": p.similarity, "shared_chars": p.shared_chars,
                       "passages": [{"a": [x.a_start, x.a_end], "b": [x.b_start, x.b_end],
                                     "similarity": x.similarity, "shared_chars": x.shared_chars,
                                     "edits": [list(e) for e in x.edits]} for x in p.passages]}
                      for p in self.pairs],
            "boilerplate": [{"documents": b.documents, "text": b.text,
                             "occurrences": [{"doc": d, "span": [s, e]} for d, s, e in b.occurrences]}
                            for b in self.boilerplate],
        }


def compare_corpus(fingerprints: Mapping[DocId, Fingerprints], load_text: Callable[[DocId], str], *,
                   options: DetectOptions = DEFAULTS, cache_size: int | None = None) -> CompareResult:
    """Every pair of documents with copied passages, and the boilerplate, in one pass."""
    opts = options
    index = FingerprintIndex(fingerprints)
    texts = TextCache(load_text, cache_size)
    bp_groups = boilerplate_groups(index, opts)
    (b_doc, b_start, b_end), (r_doc, r_start, r_end, labels) = find_boilerplate(index, bp_groups, opts)
    boilerplate = boilerplate_entries(index.doc_ids, r_doc, r_start, r_end, labels, texts)
    da, db, pa, pb = pair_seeds(index, ~bp_groups)
    k = opts.k  # a seed counts unless its whole k-gram lies in boilerplate
    blocked = inside(da, pa, b_doc, b_start, b_end, k=k) | inside(db, pb, b_doc, b_start, b_end, k=k)
    da, db, pa, pb = da[~blocked], db[~blocked], pa[~blocked], pb[~blocked]
    pairs = []

    @lru_cache(maxsize=cache_size)
    def mask_of(norm: Normalized, d: int) -> np.ndarray:
        return boiler_mask(norm, d, b_doc, b_start, b_end, opts)

    if len(da):
        bounds = np.flatnonzero(np.r_[True, (da[1:] != da[:-1]) | (db[1:] != db[:-1])])
        ends = np.append(bounds[1:], len(da))
        for s, e in zip(bounds.tolist(), ends.tolist(), strict=True):
            if e - s < opts.min_seeds:
                continue
            a, b = index.doc_ids[da[s]], index.doc_ids[db[s]]
            seeds = np.stack([pa[s:e], pb[s:e]], axis=1)
            na, nb = texts.get(a), texts.get(b)
            masks = tuple(mask_of(n, int(d)) for n, d in ((na, da[s]), (nb, db[s])))
            result = pair_result(a, b, na, nb, seeds, opts, masks)
            if result is not None:
                pairs.append(result)
    return CompareResult(pairs, boilerplate)


def pair_result(a: DocId, b: DocId, na: Normalized, nb: Normalized, seeds: np.ndarray,
                opts: DetectOptions, masks: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
                ) -> PairResult | None:
    """Align one candidate pair; None when no passage survives the filters."""
    passages = align_pair(na, nb, seeds, opts, boiler_a=masks[0], boiler_b=masks[1])
    if not passages:
        return None
    share_a = union_length([(p.a_start, p.a_end) for p in passages]) / max(1, len(na.original))
    share_b = union_length([(p.b_start, p.b_end) for p in passages]) / max(1, len(nb.original))
    return PairResult(a, b, tuple(passages), round(max(share_a, share_b), 4),
                      sum(p.shared_chars for p in passages))


def union_length(spans: Sequence[tuple[int, int]]) -> int:
    total, end = 0, -1
    for s, e in sorted(spans):
        if e > end:
            total += e - max(s, end)
            end = e
    return total


