"""Corpus-wide copy detection from per-document fingerprints.

An inverted index (one numpy sort over all fingerprints) gives each hash its postings and document
frequency. Hashes found in at least ``min_docs`` documents, or in the stock-phrase list, are
boilerplate: they form boilerplate regions, reported once with every occurrence, and never seed a
pair. The remaining shared hashes give candidate pairs and their seeds; only candidate pairs' texts
are loaded (through the caller's ``load_text``) and aligned.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from indexer.detect.align import Passage, align_pair
from indexer.detect.normalize import Normalized, normalize
from indexer.detect.options import DEFAULTS, DetectOptions
from indexer.detect.stock import shipped_phrases, stock_hashes, stock_mask

DocId = Hashable
Fingerprints = tuple[np.ndarray, np.ndarray]  # (hashes uint64, positions uint32), as fingerprints() gives


@dataclass(frozen=True)
class PairResult:
    """The passages document ``a`` shares with document ``b``."""

    a: DocId
    b: DocId
    passages: tuple[Passage, ...]
    similarity: float  # the larger of the two documents' copied shares (0..1)
    shared_chars: int


@dataclass(frozen=True)
class Boilerplate:
    """A passage recurring in many documents (套话), with every occurrence (doc, start, end)."""

    documents: int
    occurrences: tuple[tuple[DocId, int, int], ...]
    text: str


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


class FingerprintIndex:
    """All documents' fingerprints sorted by (hash, doc, pos): postings and document frequencies."""

    def __init__(self, fingerprints: Mapping[DocId, Fingerprints]):
        self.doc_ids: list[DocId] = list(fingerprints)
        hs = [np.asarray(fingerprints[d][0], dtype=np.uint64) for d in self.doc_ids]
        ps = [np.asarray(fingerprints[d][1], dtype=np.int64) for d in self.doc_ids]
        hashes = np.concatenate(hs) if hs else np.zeros(0, dtype=np.uint64)
        pos = np.concatenate(ps) if ps else np.zeros(0, dtype=np.int64)
        docs = np.repeat(np.arange(len(hs), dtype=np.int64), [len(h) for h in hs])
        # Documents are concatenated in order and winnowed positions ascend: a stable sort by hash
        # alone gives (hash, doc, pos) order, several times faster than a three-key lexsort.
        if all(np.all(p[1:] >= p[:-1]) for p in ps):
            order = np.argsort(hashes, kind="stable")
        else:
            order = np.lexsort((pos, docs, hashes))
        self.hashes, self.docs, self.pos = hashes[order], docs[order], pos[order]
        n = len(self.hashes)
        new_group = np.ones(n, dtype=bool)
        new_group[1:] = self.hashes[1:] != self.hashes[:-1]
        self.starts = np.flatnonzero(new_group)  # first posting of each hash
        self.counts = np.diff(np.append(self.starts, n))
        new_doc = new_group.copy()
        new_doc[1:] |= self.docs[1:] != self.docs[:-1]
        self.df = np.add.reduceat(new_doc.astype(np.int64), self.starts) if n else np.zeros(0, np.int64)
        self.group = np.cumsum(new_group) - 1  # group index of each posting
        self._by_doc: np.ndarray | None = None

    def postings_of(self, d: int) -> np.ndarray:
        """Indices of the postings of document number ``d``."""
        if self._by_doc is None:
            self._by_doc = np.argsort(self.docs, kind="stable")
            self._doc_bounds = np.searchsorted(self.docs[self._by_doc], np.arange(len(self.doc_ids) + 1))
        return self._by_doc[self._doc_bounds[d]:self._doc_bounds[d + 1]]

    def group_of(self, hashes: np.ndarray) -> np.ndarray:
        """The group index of each hash, -1 where the index has no such hash."""
        keys = self.hashes[self.starts]
        idx = np.searchsorted(keys, hashes)
        idx = np.minimum(idx, max(len(keys) - 1, 0))
        found = (keys[idx] == hashes) if len(keys) else np.zeros(len(hashes), dtype=bool)
        return np.where(found, idx, -1)


def boilerplate_groups(index: FingerprintIndex, opts: DetectOptions) -> np.ndarray:
    """Per hash group: is it boilerplate (in >= min_docs documents, too frequent, or a stock phrase)."""
    bp = (index.df >= opts.min_docs) | (index.counts > opts.max_postings)
    stock = _stock(opts)
    if len(stock) and len(index.starts):
        bp |= np.isin(index.hashes[index.starts], stock)
    return bp


def _stock(opts: DetectOptions) -> np.ndarray:
    return _stock_cached(stock_list(opts), opts.k)


@lru_cache(maxsize=8)
def _stock_cached(phrases: tuple[str, ...], k: int) -> np.ndarray:
    return stock_hashes(phrases, k=k)


def regions(docs: np.ndarray, pos: np.ndarray, *, k: int, gap: int,
            breaks: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Postings sorted by (doc, pos) grouped into regions: (region of each posting, doc, start, end).

    A region ends at a gap wider than ``gap``, at a new document, or where ``breaks`` is set."""
    if not len(docs):
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, z
    new = np.ones(len(docs), dtype=bool)
    new[1:] = (docs[1:] != docs[:-1]) | (pos[1:] - pos[:-1] > gap)
    if breaks is not None:
        new |= breaks
    rid = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(docs)) - 1
    return rid, docs[first], pos[first], pos[last] + k


def inside(docs: np.ndarray, pos: np.ndarray, r_doc: np.ndarray, r_start: np.ndarray,
           r_end: np.ndarray, *, k: int = 1) -> np.ndarray:
    """For each (doc, pos): does [pos, pos + k) lie inside one of the regions (sorted by doc, start)?"""
    if not len(r_doc):
        return np.zeros(len(docs), dtype=bool)
    keys = (r_doc << 32) | r_start
    i = np.searchsorted(keys, (docs << 32) | pos, side="right") - 1
    ok = i >= 0
    i = np.maximum(i, 0)
    return ok & (r_doc[i] == docs) & (pos + k <= r_end[i])


def pair_seeds(index: FingerprintIndex, usable: np.ndarray) -> tuple[np.ndarray, ...]:
    """All (doc_a < doc_b, pos_a, pos_b) sharing a hash of a usable group, sorted by (doc_a, doc_b)."""
    out = []
    counts = index.counts
    for c in np.unique(counts[usable & (counts >= 2)]).tolist():
        starts = index.starts[usable & (counts == c)]
        i, j = np.triu_indices(c, 1)
        p, q = (starts[:, None] + i).ravel(), (starts[:, None] + j).ravel()
        keep = index.docs[p] != index.docs[q]  # postings are sorted by doc: docs[p] <= docs[q]
        out.append((p[keep], q[keep]))
    if not out:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, z
    p, q = np.concatenate([x[0] for x in out]), np.concatenate([x[1] for x in out])
    da, db, pa, pb = index.docs[p], index.docs[q], index.pos[p], index.pos[q]
    order = np.lexsort((pb, pa, db, da))
    return da[order], db[order], pa[order], pb[order]


def find_boilerplate(index: FingerprintIndex, bp_groups: np.ndarray, opts: DetectOptions):
    """Boilerplate regions: the unbroken ones (doc, start, end) that block seeds, and the passages
    reported (doc, start, end, label), grouped by label.

    An unbroken region is boilerplate text whose fingerprints lie at most a window apart. Reported
    passages are unbroken regions further cut where the document frequency jumps (two stock
    passages that happen to stand side by side), and grouped when they share one of their
    ``sketch`` smallest hashes (a bottom-s MinHash sketch): linking through *any* shared hash would
    chain every document into one group through the common phrases they all contain.
    """
    sel = np.flatnonzero(bp_groups[index.group])
    order = sel[np.lexsort((index.pos[sel], index.docs[sel]))]
    docs, pos = index.docs[order], index.pos[order]
    bid, b_doc, b_start, b_end = regions(docs, pos, k=opts.k, gap=opts.window)
    df = np.log(index.df[index.group[order]].astype(np.float64))
    jumps = np.r_[False, np.abs(np.diff(df)) > np.log(opts.df_jump)]
    rid, r_doc, r_start, r_end = regions(docs, pos, k=opts.k, gap=opts.window, breaks=jumps)
    labels = np.arange(len(r_doc), dtype=np.int64)
    if not len(rid):
        return (b_doc, b_start, b_end), (r_doc, r_start, r_end, labels)
    # A passage is reported when the unbroken boilerplate around it is long enough.
    first = np.flatnonzero(np.r_[True, rid[1:] != rid[:-1]])
    reported = ((b_end - b_start) >= opts.min_boilerplate_chars)[bid[first]]
    keep = reported[rid]
    r, g = rid[keep], index.group[order][keep]  # group numbers ascend with hash values
    o = np.lexsort((g, r))
    r, g = r[o], g[o]
    if not len(r):
        return (b_doc, b_start, b_end), (r_doc, r_start, r_end, np.where(reported, labels, -1))
    first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    rank = np.arange(len(r)) - np.repeat(first, np.diff(np.append(first, len(r))))
    r, g = r[rank < opts.sketch], g[rank < opts.sketch]
    by_group = np.argsort(g, kind="stable")
    g_sorted, r_sorted = g[by_group], r[by_group]
    bounds = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    while True:  # connected components by min-label propagation
        lab = labels[r_sorted]
        gmin = np.minimum.reduceat(lab, bounds)
        spread = np.repeat(gmin, np.diff(np.append(bounds, len(lab))))
        new = labels.copy()
        np.minimum.at(new, r_sorted, spread)
        new = new[new]  # pointer jumping speeds convergence
        if np.array_equal(new, labels):
            return (b_doc, b_start, b_end), (r_doc, r_start, r_end, np.where(reported, labels, -1))
        labels = new


class TextCache:
    """Normalized documents loaded on demand through the caller's ``load_text``."""

    def __init__(self, load_text: Callable[[DocId], str], size: int | None = None):
        self.get: Callable[[DocId], Normalized] = lru_cache(maxsize=size)(lambda d: normalize(load_text(d)))


def stock_list(opts: DetectOptions) -> tuple[str, ...]:
    """The stock phrases in force: the shipped list (unless switched off) and the user's own."""
    return (shipped_phrases() if opts.use_stock_phrases else ()) + tuple(opts.stock_phrases)


def boiler_mask(norm: Normalized, doc: int, r_doc: np.ndarray, r_start: np.ndarray,
                r_end: np.ndarray, opts: DetectOptions) -> np.ndarray:
    """Which normalized characters of document number ``doc`` are boilerplate: in its unbroken
    boilerplate regions or in an occurrence of a stock phrase."""
    mask = stock_mask(norm.text, _stock(opts), k=opts.k)
    lo, hi = np.searchsorted(r_doc, doc), np.searchsorted(r_doc, doc, side="right")
    for s, e in zip(r_start[lo:hi].tolist(), r_end[lo:hi].tolist(), strict=True):
        mask[s:e] = True
    return mask


def compare_corpus(fingerprints: Mapping[DocId, Fingerprints], load_text: Callable[[DocId], str], *,
                   options: DetectOptions = DEFAULTS, cache_size: int | None = None) -> CompareResult:
    """Every pair of documents with copied passages, and the boilerplate, in one pass."""
    opts = options
    index = FingerprintIndex(fingerprints)
    texts = TextCache(load_text, cache_size)
    bp_groups = boilerplate_groups(index, opts)
    (b_doc, b_start, b_end), (r_doc, r_start, r_end, labels) = find_boilerplate(index, bp_groups, opts)
    boilerplate = _boilerplate_entries(index.doc_ids, r_doc, r_start, r_end, labels, texts, opts)
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
    share_a = _union([(p.a_start, p.a_end) for p in passages]) / max(1, len(na.original))
    share_b = _union([(p.b_start, p.b_end) for p in passages]) / max(1, len(nb.original))
    return PairResult(a, b, tuple(passages), round(max(share_a, share_b), 4),
                      sum(p.shared_chars for p in passages))


def _union(spans: Sequence[tuple[int, int]]) -> int:
    total, end = 0, -1
    for s, e in sorted(spans):
        if e > end:
            total += e - max(s, end)
            end = e
    return total


def _boilerplate_entries(doc_ids, r_doc, r_start, r_end, labels, texts: TextCache,
                         opts: DetectOptions) -> list[Boilerplate]:
    out = []
    order = np.lexsort((r_start, r_doc, labels))
    if not len(order):
        return out
    bounds = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]]).tolist()
    for s, e in zip(bounds, bounds[1:] + [len(order)], strict=True):
        members = order[s:e]
        if labels[members[0]] < 0:
            continue
        n_docs = len(np.unique(r_doc[members]))
        if n_docs < 2:
            continue
        occ = []
        for m in members.tolist():
            doc = doc_ids[r_doc[m]]
            norm = texts.get(doc)
            s0, e0 = norm.to_original(int(r_start[m]), min(int(r_end[m]), len(norm.text)))
            occ.append((doc, s0, e0))
        longest = max(occ, key=lambda o: o[2] - o[1])
        text = texts.get(longest[0]).original[longest[1]:longest[2]]
        out.append(Boilerplate(n_docs, tuple(occ), text))
    out.sort(key=lambda b: (-b.documents, -len(b.text)))
    return out
