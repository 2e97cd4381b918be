"""Boilerplate (套话): fingerprints found in enough documents (``docs_threshold``: adapts to the corpus
size), and stock phrases matched whole (``stock``). They form regions of each document that never
seed a pair, and recurring passages reported once with every occurrence, snapped to clause and
sentence boundaries."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from indexer.detect.normalize import Normalized, TextCache
from indexer.detect.options import DetectOptions
from indexer.detect.postings import DocId, FingerprintIndex
from indexer.detect.stock import stock_mask


@dataclass(frozen=True)
class Boilerplate:
    """A passage recurring in many documents (套话), with every occurrence (doc, start, end)."""

    documents: int
    occurrences: tuple[tuple[DocId, int, int], ...]
    text: str


def docs_threshold(opts: DetectOptions, n_docs: int) -> int:
    """In how many documents a fingerprint must be to count as boilerplate, in a corpus of ``n_docs``:
    ``min_docs`` in a large corpus, fewer in a small archive (a template 3 of 50 materials carry is
    recognised), never fewer than ``min_docs_floor``. Below ``min_docs_from`` documents a passage in
    three of them is as likely a copy passed round as a template: ``min_docs`` holds, and templates
    come from the shipped lists (headings, meeting themes, web-site traces)."""
    if n_docs < opts.min_docs_from:
        return opts.min_docs
    share = math.ceil(opts.min_docs_share * n_docs)
    return max(2, min(opts.min_docs, max(opts.min_docs_floor, share)))


def boilerplate_groups(index: FingerprintIndex, opts: DetectOptions, n_docs: int | None = None) -> np.ndarray:
    """Per hash group: is it boilerplate (in enough documents, or too frequent). Stock phrases are
    not decided per hash but matched whole on each text (``boiler_mask``)."""
    n = len(index.doc_ids) if n_docs is None else n_docs
    return (index.df >= docs_threshold(opts, n)) | (index.counts > opts.max_postings)


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


def find_boilerplate(index: FingerprintIndex, bp_groups: np.ndarray, opts: DetectOptions):
    """Boilerplate regions: the unbroken ones (doc, start, end) that block seeds, and the passages
    reported (doc, start, end, label), grouped by label.

    An unbroken region is boilerplate text whose fingerprints lie at most a window apart. Reported
    passages are unbroken regions further cut where the document frequency jumps (two stock
    passages that happen to stand side by side), and grouped by their most widespread hash (the
    highest document frequency, ties to the smallest hash): a property of the hash, not of the
    occurrence, so copies of a short template whose edge k-grams differ with their context still
    fall into one group. Linking through *any* shared hash would chain every document into one
    group through the common phrases they all contain.
    """
    sel = np.flatnonzero(bp_groups[index.group])
    order = sel[np.lexsort((index.pos[sel], index.docs[sel]))]
    docs, pos = index.docs[order], index.pos[order]
    bid, b_doc, b_start, b_end = regions(docs, pos, k=opts.k, gap=opts.window)
    df = np.log(index.df[index.group[order]].astype(np.float64))
    jumps = np.r_[False, np.abs(np.diff(df)) > np.log(opts.df_jump)]
    rid, r_doc, r_start, r_end = regions(docs, pos, k=opts.k, gap=opts.window, breaks=jumps)
    if not len(rid):
        return (b_doc, b_start, b_end), (r_doc, r_start, r_end, np.zeros(0, dtype=np.int64))
    # A passage is reported when the unbroken boilerplate around it is long enough; passages are
    # grouped by their most widespread hash.
    first = np.flatnonzero(np.r_[True, rid[1:] != rid[:-1]])
    reported = ((b_end - b_start) >= opts.min_boilerplate_chars)[bid[first]]
    group = index.group[order].astype(np.int64)  # group numbers ascend with hash values
    rank = (index.df[group].astype(np.int64) << 32) | (0xFFFFFFFF - group)
    key = 0xFFFFFFFF - (np.maximum.reduceat(rank, first) & 0xFFFFFFFF)
    # The label is the key hash's group number: labels order as their hashes do, and an index over
    # part of the corpus (the Spark job's) maps it back to the hash itself.
    return (b_doc, b_start, b_end), (r_doc, r_start, r_end, np.where(reported, key, -1))


def stock_list(opts: DetectOptions) -> tuple[str, ...]:
    """The user's own stock phrases in force (the shipped lists come with ``use_stock_phrases``)."""
    return tuple(opts.stock_phrases)


def text_stock_mask(norm: Normalized, opts: DetectOptions) -> np.ndarray:
    """Which normalized characters of a text lie in a whole stock phrase, heading or theme."""
    return stock_mask(norm, stock_list(opts), shipped=opts.use_stock_phrases)


def boiler_mask(norm: Normalized, doc: int, r_doc: np.ndarray, r_start: np.ndarray,
                r_end: np.ndarray, opts: DetectOptions) -> np.ndarray:
    """Which normalized characters of document number ``doc`` are boilerplate: in its unbroken
    boilerplate regions or in an occurrence of a stock phrase."""
    mask = text_stock_mask(norm, opts)
    lo, hi = np.searchsorted(r_doc, doc), np.searchsorted(r_doc, doc, side="right")
    for s, e in zip(r_start[lo:hi].tolist(), r_end[lo:hi].tolist(), strict=True):
        mask[s:e] = True
    return mask


def boilerplate_entries(doc_ids, r_doc, r_start, r_end, labels, texts: TextCache) -> list[Boilerplate]:
    """The reported passages (label >= 0) as Boilerplate entries, in original offsets, most common first."""
    orig_start, orig_end = original_spans(doc_ids, r_doc, r_start, r_end, labels, texts)
    return group_entries(doc_ids, r_doc, r_start, orig_start, orig_end, labels,
                         lambda doc, s, e: texts.get(doc).original[s:e])


def original_spans(doc_ids, r_doc, r_start, r_end, labels,
                   texts: TextCache) -> tuple[np.ndarray, np.ndarray]:
    """The reported passages' (label >= 0) spans in original offsets, snapped to clauses (0 elsewhere)."""
    n = len(r_doc)
    orig_start, orig_end = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    wanted = np.flatnonzero(labels >= 0)
    by_doc = wanted[np.argsort(r_doc[wanted], kind="stable")]
    for s, e in _runs(r_doc[by_doc]):
        idx = by_doc[s:e]
        norm = texts.get(doc_ids[r_doc[idx[0]]])
        ends = np.minimum(r_end[idx], len(norm))
        orig_start[idx], orig_end[idx] = norm.spans_to_original(r_start[idx], ends)
        for i in idx.tolist():
            orig_start[i], orig_end[i] = snap(norm.original, int(orig_start[i]), int(orig_end[i]))
    return orig_start, orig_end


def group_entries(doc_ids, r_doc, r_start, orig_start, orig_end, labels, text_of) -> list[Boilerplate]:
    """Reported passages grouped by label into Boilerplate entries, most common first. ``text_of(doc,
    start, end)`` is an occurrence's original text: the Spark job groups labels away from the texts."""
    wanted = np.flatnonzero(labels >= 0)
    out = []
    order = wanted[np.lexsort((r_start[wanted], r_doc[wanted], labels[wanted]))]
    for s, e in _runs(labels[order]):
        members = order[s:e]
        n_docs = len(np.unique(r_doc[members]))
        if n_docs < 2:
            continue
        where = zip(r_doc[members].tolist(), orig_start[members].tolist(), orig_end[members].tolist(),
                    strict=True)
        occ = tuple((doc_ids[d], a, b) for d, a, b in where)
        longest = max(occ, key=lambda o: o[2] - o[1])
        out.append(Boilerplate(n_docs, occ, text_of(*longest)))
    out.sort(key=lambda b: (-b.documents, -len(b.text)))
    return out


_STOPS = set("。；！？\n")
_CLAUSE = _STOPS | set("，、：,;:!?")


def snap(text: str, start: int, end: int, *, slack: int = 16) -> tuple[int, int]:
    """``[start, end)`` snapped to clause boundaries: each edge moves out to the nearest clause
    boundary within ``slack`` characters, else in to the nearest one inside; unchanged if that
    leaves nothing. Fingerprints only see k-grams, so a recurring passage found through them starts
    and ends up to a window away from where the shared clause does."""
    s = start
    while s > 0 and start - s < slack and text[s - 1] not in _CLAUSE:
        s -= 1
    if s > 0 and text[s - 1] not in _CLAUSE:
        s = start
        while s < end and text[s - 1] not in _CLAUSE:
            s += 1
    e = end
    while e < len(text) and e - end < slack and text[e - 1] not in _CLAUSE:
        e += 1
    if e < len(text) and text[e - 1] not in _CLAUSE:
        e = end
        while e > s and text[e - 1] not in _CLAUSE:
            e -= 1
    while s < e and text[s].isspace():
        s += 1
    return (s, e) if e - s >= 2 else (start, end)


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of equal values."""
    if not len(values):
        return []
    bounds = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]).tolist()
    return list(zip(bounds, bounds[1:] + [len(values)], strict=True))
