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
from indexer.detect.normalize import Normalized, TextCache, normalize
from indexer.detect.options import DEFAULTS, DetectOptions
from indexer.detect.postings import DocId, FingerprintIndex, Fingerprints, pair_seeds
from indexer.detect.sentences import candidate_pairs, sentence_seeds, sketch_text
from indexer.detect.units import features


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
                   options: DetectOptions = DEFAULTS, cache_size: int | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   sketches: Mapping[DocId, tuple[np.ndarray, np.ndarray]] | None = None) -> CompareResult:
    """Every pair of documents with copied passages, and the boilerplate, in one pass; ``progress``
    is told (candidate pairs aligned, candidate pairs) now and then (a background job shows it).
    ``sketches``: each document's ``sketch_text`` with these options, as an index stores them from
    ingest (computed here from the texts when not given)."""
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

    # Candidate pairs: enough fingerprint seeds, or (sentence stage) enough sketched unit pairs.
    seed_range: dict[tuple[int, int], tuple[int, int]] = {}
    if len(da):
        bounds = np.flatnonzero(np.r_[True, (da[1:] != da[:-1]) | (db[1:] != db[:-1])])
        ends = np.append(bounds[1:], len(da))
        seed_range = {(int(da[s]), int(db[s])): (s, e)
                      for s, e in zip(bounds.tolist(), ends.tolist(), strict=True)}
    candidates = {p for p, (s, e) in seed_range.items() if e - s >= opts.min_seeds}
    # Only pairs whose sketches suggest rewritten units get the sentence stage's seeds: aligning the
    # units of every fingerprint pair would cost more than the rest of the compare.
    rewritten: set[tuple[int, int]] = set()
    units_of = lru_cache(maxsize=cache_size)(lambda d: features(texts.get(index.doc_ids[d]), opts))
    if opts.sentences:
        of = (lambda doc: sketch_text(normalize(load_text(doc)), opts)) if sketches is None \
            else sketches.__getitem__
        found = candidate_pairs(((d, *of(doc)) for d, doc in enumerate(index.doc_ids)), opts,
                                len(index.doc_ids))
        rewritten = {(int(x), int(y)) for x, y in found.tolist()}
        candidates |= rewritten
    ordered = sorted(candidates)
    step = max(1, len(ordered) // 200)
    for i, (x, y) in enumerate(ordered):
        if progress is not None and i % step == 0:
            progress(i, len(ordered))
        s, e = seed_range.get((x, y), (0, 0))
        a, b = index.doc_ids[x], index.doc_ids[y]
        seeds = np.stack([pa[s:e], pb[s:e]], axis=1)
        na, nb = texts.get(a), texts.get(b)
        masks = tuple(mask_of(n, d) for n, d in ((na, x), (nb, y)))
        units = None
        if (x, y) in rewritten:
            units = sentence_seeds(units_of(x), units_of(y), opts, boiler_a=masks[0], boiler_b=masks[1])
        result = pair_result(a, b, na, nb, seeds, opts, masks, units)
        if result is not None:
            pairs.append(result)
    return CompareResult(pairs, boilerplate)


def pair_result(a: DocId, b: DocId, na: Normalized, nb: Normalized, seeds: np.ndarray,
                opts: DetectOptions, masks: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
                units: np.ndarray | None = None) -> PairResult | None:
    """Align one candidate pair (``units``: its sentence-stage seeds); None when no passage survives."""
    passages = align_pair(na, nb, seeds, opts, boiler_a=masks[0], boiler_b=masks[1], units=units)
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


