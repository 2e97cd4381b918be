"""The Spark job's stages as plain functions over one partition's data (no Spark in here).

Each stage calls the embedded engine's own functions (``indexer.detect``) on the part of the corpus a
task holds, with the corpus-wide figures that part needs, so the job computes exactly what
``compare_corpus`` computes:

1. ``fingerprint_block``: ``normalize`` + ``fingerprints`` of each document of a block; its postings
   leave in one numpy block per hash bucket.
2. ``hash_stats``: a hash bucket's postings give every hash's document frequency and posting count
   (exact, numpy); each block gets back the figures of its shared hashes.
3. ``block_boilerplate``: a ``FingerprintIndex`` over the block's documents carrying the corpus-wide
   figures decides boilerplate (``boilerplate_groups`` with the corpus size) and finds the regions
   (``find_boilerplate``, ``original_spans``); the block's usable, unblocked postings leave by hash
   bucket, its documents with their boilerplate regions by docnum, its reported passages by label.
4. ``bucket_seeds`` (``pair_seeds`` on a hash bucket), ``candidate_pairs`` (seeds grouped per pair),
   ``align_pairs`` (``boiler_mask`` + ``pair_result``), ``group_labels`` (``group_entries``).
   The sentence stage's sketches (``select_sketches`` in three steps): ``block_sketches`` by feature
   bucket, ``bucket_usable_sketches`` (each feature's postings are in its bucket) by document bucket,
   ``doc_sketches`` (each unit's rarest) by feature bucket again, ``bucket_unit_pairs`` by pair bucket.

Skew: postings travel as numpy blocks per (block, bucket), never one record per posting, so a hash
found in every document costs one task 16 bytes per document, not a Python object each; such hashes
are boilerplate (``max_postings``) and never reach the seed stages, where a hash has at most
``max_postings`` postings. Large documents are alone in their block (blocks are packed by characters,
``job.plan_blocks``), and alignment is spread by pair, not by document.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from indexer.detect.boilerplate import (
    Boilerplate,
    boiler_mask,
    boilerplate_groups,
    find_boilerplate,
    group_entries,
    inside,
    original_spans,
)
from indexer.detect.corpus import PairResult, pair_result
from indexer.detect.fingerprint import fingerprints
from indexer.detect.normalize import Normalized, TextCache, normalize
from indexer.detect.options import DetectOptions
from indexer.detect.postings import FingerprintIndex, pair_seeds
from indexer.detect.sentences import (
    pairs_of_units,
    pick_sketch,
    sentence_seeds,
    sketch_text,
    unit_pairs,
    usable,
)
from indexer.detect.units import Units, features

_EMPTY_U64 = np.zeros(0, dtype=np.uint64)
_EMPTY_I64 = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class DocFp:
    """A document of a block with its fingerprints (hashes uint64, positions)."""

    docnum: int
    id: str
    text: str
    hashes: np.ndarray
    positions: np.ndarray
    sketch_units: np.ndarray  # the sentence stage's sketch: (unit, feature) rows (empty when off)
    sketch_codes: np.ndarray


@dataclass(frozen=True)
class DocInfo:
    """What aligning a pair needs of one document: its text and its unbroken boilerplate regions
    (normalized [start, end), sorted)."""

    id: str
    text: str
    b_start: np.ndarray
    b_end: np.ndarray


@dataclass(frozen=True)
class LabelPart:
    """One block's occurrences of one reported boilerplate group, and the longest one's text."""

    docnums: np.ndarray
    r_start: np.ndarray  # normalized starts: the order of occurrences
    o_start: np.ndarray  # original spans
    o_end: np.ndarray
    ids: tuple[str, ...]
    best: tuple[str, int, int, str]  # (doc id, start, end, text) of the block's longest occurrence


_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # feature codes are small integers: spread them first


def pair_buckets(da: np.ndarray, db: np.ndarray, n: int) -> np.ndarray:
    """The bucket of each document pair (seeds and sentence candidates of a pair meet there)."""
    return (da * 1_000_003 + db) % n


def buckets_of(hashes: np.ndarray, n: int) -> np.ndarray:
    """The hash bucket of each hash (fingerprints are well mixed: a modulus spreads them)."""
    return (np.asarray(hashes, dtype=np.uint64) % np.uint64(n)).astype(np.int64)


def _split(key: np.ndarray, *columns: np.ndarray) -> Iterator[tuple[int, tuple[np.ndarray, ...]]]:
    """Rows grouped by ``key`` (stable): (key, columns of that group)."""
    if not len(key):
        return
    order = np.argsort(key, kind="stable")
    key = key[order]
    bounds = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]).tolist() + [len(key)]
    cols = [c[order] for c in columns]
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        yield int(key[s]), tuple(c[s:e] for c in cols)


# -- stage 1 -----------------------------------------------------------------------------------

def fingerprint_block(docs: Iterable[tuple[int, str, str]], opts: DetectOptions) -> list[DocFp]:
    """Normalize and fingerprint every (docnum, id, text) of a block, in docnum order, with the
    sentence stage's sketch (``sketch_text``, as ``compare_corpus``) when that stage is on."""
    out = []
    for docnum, doc_id, text in sorted(docs, key=lambda d: d[0]):
        norm = normalize(text)
        h, p = fingerprints(norm.text, k=opts.k, window=opts.window)
        su, sc = sketch_text(norm, opts) if opts.sentences else (_EMPTY_I64, _EMPTY_I64)
        out.append(DocFp(docnum, doc_id, text, np.asarray(h, dtype=np.uint64), np.asarray(p, dtype=np.int64),
                         np.asarray(su, dtype=np.int64), np.asarray(sc, dtype=np.int64)))
    return out


def block_sketches(docs: list[DocFp], n_buckets: int) -> Iterator[tuple[int, tuple]]:
    """A block's stored sketch rows as (feature bucket, (docnums, units, codes)), one record per
    bucket; ``bucket_usable_sketches`` and ``doc_sketches`` then choose what the candidate index
    uses, as ``select_sketches`` does."""
    if not docs:
        return
    u = np.concatenate([d.sketch_units for d in docs])
    c = np.concatenate([d.sketch_codes for d in docs])
    dn = np.repeat(np.array([d.docnum for d in docs], dtype=np.int64), [len(d.sketch_units) for d in docs])
    yield from _split(buckets_of(c.astype(np.uint64) * _SPREAD, n_buckets), dn, u, c)


def bucket_usable_sketches(parts: Iterable[tuple], n_buckets: int, opts: DetectOptions
                           ) -> Iterator[tuple[int, tuple]]:
    """A feature bucket's sketch rows whose features can pair units (``sentences.usable``: each
    feature's rows are all in its bucket), as (document bucket, (docnums, units, codes, postings))."""
    dn, u, c = _concat(list(parts), 3)
    keep, postings = usable(c, opts)
    yield from _split(dn[keep] % n_buckets, dn[keep], u[keep], c[keep], postings[keep])


def doc_sketches(parts: Iterable[tuple], n_buckets: int, opts: DetectOptions) -> Iterator[tuple[int, tuple]]:
    """A document bucket's usable sketch rows cut to each unit's ``unit_sketch`` rarest
    (``sentences.pick_sketch``, as ``select_sketches``), as (feature bucket, (docnums, units, codes))."""
    dn, u, c, n = _concat(list(parts), 4)
    picked = [(np.full(len(pu), d, dtype=np.int64), pu, pc) for d, (du, dc, dp) in _split(dn, u, c, n)
              for pu, pc in [pick_sketch(du, dc, opts.unit_sketch, dp)]]
    if picked:
        dn, u, c = (np.concatenate(x) for x in zip(*picked, strict=True))
        yield from _split(buckets_of(c.astype(np.uint64) * _SPREAD, n_buckets), dn, u, c)


def bucket_unit_pairs(parts: Iterable[tuple], opts: DetectOptions, n_pair_buckets: int
                      ) -> Iterator[tuple[int, tuple]]:
    """``unit_pairs`` over a feature bucket's chosen sketch rows: (pair bucket, ("units", rows))."""
    dn, u, c = _concat(list(parts), 3)
    if len(dn) < 2:
        return
    rows = unit_pairs(((d, uu, cc) for d, (uu, cc) in _split(dn, u, c)), opts)
    if len(rows):
        for bucket, (r,) in _split(pair_buckets(rows[:, 0], rows[:, 2], n_pair_buckets), rows):
            yield bucket, ("units", r)


def block_postings(block: int, docs: list[DocFp], n_buckets: int) -> Iterator[tuple[int, tuple]]:
    """A block's postings as (bucket, (block, docnums, hashes, positions)), one record per bucket."""
    if not docs:
        return
    h = np.concatenate([d.hashes for d in docs])
    p = np.concatenate([d.positions for d in docs])
    dn = np.repeat(np.array([d.docnum for d in docs], dtype=np.int64), [len(d.hashes) for d in docs])
    for bucket, (dn_b, h_b, p_b) in _split(buckets_of(h, n_buckets), dn, h, p):
        yield bucket, (block, dn_b, h_b, p_b)


def _concat(parts: list[tuple], n: int) -> tuple[np.ndarray, ...]:
    if not parts:
        return tuple(_EMPTY_I64 for _ in range(n))
    return tuple(np.concatenate([x[i] for x in parts]) for i in range(n))


# -- stage 2 -----------------------------------------------------------------------------------

def hash_stats(parts: Iterable[tuple]) -> Iterator[tuple[int, tuple]]:
    """A hash bucket's postings (block, docnums, hashes, positions) -> for each block, the corpus-wide
    (hashes, df, counts) of its hashes found in two documents or more, hashes ascending."""
    parts = list(parts)
    if not parts:
        return
    blocks = np.concatenate([np.full(len(x[1]), x[0], dtype=np.int64) for x in parts])
    docs = np.concatenate([x[1] for x in parts])
    h = np.concatenate([x[2] for x in parts]).astype(np.uint64)
    order = np.lexsort((docs, h))
    h, docs, blocks = h[order], docs[order], blocks[order]
    new_hash = np.r_[True, h[1:] != h[:-1]]
    starts = np.flatnonzero(new_hash)
    counts = np.diff(np.append(starts, len(h)))
    new_doc = new_hash | np.r_[True, docs[1:] != docs[:-1]]
    df = np.add.reduceat(new_doc.astype(np.int64), starts)
    group = np.cumsum(new_hash) - 1
    shared = df[group] >= 2
    if not shared.any():
        return
    pairs = np.unique(np.stack([blocks[shared], group[shared]]), axis=1)  # each (block, hash) once
    for block, (g,) in _split(pairs[0], pairs[1]):
        yield block, (h[starts[g]], df[g], counts[g])


# -- stage 3 -----------------------------------------------------------------------------------

def corpus_view(docs: list[DocFp], stats: list[tuple]) -> FingerprintIndex:
    """A FingerprintIndex over a block's documents whose document frequencies and posting counts are
    the whole corpus's: exact for every hash (a hash no other block shares has them all here)."""
    index = FingerprintIndex({d.docnum: (d.hashes, d.positions) for d in docs})
    if stats:
        h = np.concatenate([s[0] for s in stats]).astype(np.uint64)
        df = np.concatenate([s[1] for s in stats])
        counts = np.concatenate([s[2] for s in stats])
        keys = index.hashes[index.starts]
        idx = np.searchsorted(keys, h)
        if len(idx) and (idx.max() >= len(keys) or not np.array_equal(keys[idx], h)):
            raise AssertionError("corpus-wide figures for a hash this block does not hold")
        index.df = index.df.copy()
        index.counts = index.counts.copy()
        index.df[idx] = df
        index.counts[idx] = counts
    return index


def block_boilerplate(docs: list[DocFp], stats: list[tuple], opts: DetectOptions, *, n_docs: int,
                      n_buckets: int) -> Iterator[tuple[str, int, object]]:
    """Boilerplate of a block's documents decided with the corpus-wide figures. Yields
    ("doc", docnum, DocInfo), ("label", label hash, LabelPart) and ("seed", bucket, postings)."""
    docs = sorted(docs, key=lambda d: d.docnum)
    index = corpus_view(docs, stats)
    doc_ids = index.doc_ids  # docnums, ascending
    by_num = {d.docnum: d for d in docs}
    bp = boilerplate_groups(index, opts, n_docs=n_docs)
    (b_doc, b_start, b_end), (r_doc, r_start, r_end, labels) = find_boilerplate(index, bp, opts)
    for i, d in enumerate(docs):
        lo, hi = np.searchsorted(b_doc, i), np.searchsorted(b_doc, i, side="right")
        yield "doc", d.docnum, DocInfo(d.id, d.text, b_start[lo:hi].copy(), b_end[lo:hi].copy())
    # reported passages: original spans here, where the texts are; grouped by label later
    texts = TextCache(lambda num: by_num[num].text)
    o_start, o_end = original_spans(doc_ids, r_doc, r_start, r_end, labels, texts)
    wanted = np.flatnonzero(labels >= 0)
    keys = index.hashes[index.starts]
    label_hash = keys[labels[wanted]] if len(wanted) else _EMPTY_U64
    nums = np.asarray(doc_ids, dtype=np.int64)[r_doc[wanted]] if len(wanted) else _EMPTY_I64
    order = np.lexsort((r_start[wanted], nums, label_hash))
    w, lh, nums = wanted[order], label_hash[order], nums[order]
    bounds = np.flatnonzero(np.r_[True, lh[1:] != lh[:-1]]).tolist() + [len(lh)] if len(lh) else [0]
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        rows, dn = w[s:e], nums[s:e]
        lengths = o_end[rows] - o_start[rows]
        j = int(np.argmax(lengths))  # the first longest, in (doc, start) order
        best_doc = by_num[int(dn[j])]
        best = (best_doc.id, int(o_start[rows[j]]), int(o_end[rows[j]]))
        part = LabelPart(dn.copy(), r_start[rows].copy(), o_start[rows].copy(), o_end[rows].copy(),
                         tuple(by_num[int(x)].id for x in dn.tolist()),
                         (*best, best_doc.text[best[1]:best[2]]))
        yield "label", int(lh[s]), part
    # postings that may seed a pair: usable hashes shared somewhere, outside boilerplate regions
    usable = ~bp & (index.counts >= 2)
    sel = np.flatnonzero(usable[index.group])
    d_local, pos = index.docs[sel], index.pos[sel]
    blocked = inside(d_local, pos, b_doc, b_start, b_end, k=opts.k)
    keep = sel[~blocked]
    nums = np.asarray(doc_ids, dtype=np.int64)[index.docs[keep]] if len(keep) else _EMPTY_I64
    h = index.hashes[keep]
    for bucket, (dn_b, h_b, p_b) in _split(buckets_of(h, n_buckets), nums, h, index.pos[keep]):
        yield "seed", bucket, (dn_b, h_b, p_b)


# -- stage 4 -----------------------------------------------------------------------------------

def bucket_seeds(parts: Iterable[tuple], n_pair_buckets: int) -> Iterator[tuple[int, tuple]]:
    """``pair_seeds`` over a hash bucket's usable postings: (pair bucket, (da, db, pa, pb))."""
    dn, h, p = _concat(list(parts), 3)
    if len(dn) < 2:
        return
    order = np.lexsort((p, dn))
    dn, h, p = dn[order], h[order].astype(np.uint64), p[order]
    grouped = {num: (hh, pp) for num, (hh, pp) in _split(dn, h, p)}
    index = FingerprintIndex(grouped)
    da, db, pa, pb = pair_seeds(index, np.ones(len(index.starts), dtype=bool))
    if not len(da):
        return
    nums = np.asarray(index.doc_ids, dtype=np.int64)
    da, db = nums[da], nums[db]
    for bucket, cols in _split(pair_buckets(da, db, n_pair_buckets), da, db, pa, pb):
        yield bucket, ("seeds", cols)


def candidate_pairs(parts: Iterable[tuple], opts: DetectOptions, n_docs: int) -> Iterator[tuple[int, tuple]]:
    """The candidate pairs of a pair bucket of a corpus of ``n_docs`` documents, as ``compare_corpus``
    picks them: enough fingerprint
    seeds, or (sentence stage) enough unit pairs (``pairs_of_units``). Yields (da, (db, seeds rows
    (pa, pb), rewritten)), every seed of the pair, sorted as ``compare_corpus`` sorts them;
    ``rewritten``: the sentence stage's candidate, whose units are aligned too (only those, as
    ``compare_corpus``: aligning the units of every pair would cost more than the rest)."""
    parts = list(parts)
    da, db, pa, pb = _concat([x for tag, x in parts if tag == "seeds"], 4)
    order = np.lexsort((pb, pa, db, da))
    da, db, pa, pb = da[order], db[order], pa[order], pb[order]
    bounds = np.flatnonzero(np.r_[True, (da[1:] != da[:-1]) | (db[1:] != db[:-1])]).tolist() + [len(da)]
    seeds = {(int(da[s]), int(db[s])): (s, e) for s, e in zip(bounds[:-1], bounds[1:], strict=True)
             if len(da)}
    chosen = {p for p, (s, e) in seeds.items() if e - s >= opts.min_seeds}
    unit_rows = [x for tag, x in parts if tag == "units"]
    rewritten: set[tuple[int, int]] = set()
    if unit_rows:
        found = pairs_of_units(np.concatenate(unit_rows), opts, n_docs)
        rewritten = {(int(x), int(y)) for x, y in found.tolist()}
    for x, y in sorted(chosen | rewritten):
        s, e = seeds.get((x, y), (0, 0))
        yield x, (y, np.stack([pa[s:e], pb[s:e]], axis=1), (x, y) in rewritten)


class _Docs:
    """Normalized texts, boilerplate masks and (for rewritten pairs) units of the documents a task
    aligns; the last ``size`` documents are kept (a task gets its pairs grouped by document b)."""

    def __init__(self, opts: DetectOptions, size: int = 256):
        self.opts, self.size = opts, size
        self.cache: OrderedDict[int, list] = OrderedDict()

    def get(self, docnum: int, info: DocInfo) -> list:
        """[normalized text, boilerplate mask, units or None until ``units`` is asked]."""
        hit = self.cache.get(docnum)
        if hit is not None:
            self.cache.move_to_end(docnum)
            return hit
        norm = normalize(info.text)
        zeros = np.zeros(len(info.b_start), dtype=np.int64)
        hit = [norm, boiler_mask(norm, 0, zeros, info.b_start, info.b_end, self.opts), None]
        self.cache[docnum] = hit
        if len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return hit

    def units(self, hit: list) -> Units:
        if hit[2] is None:
            hit[2] = features(hit[0], self.opts)
        return hit[2]


def align_pairs(items: Iterable[tuple], opts: DetectOptions,
                describe: Callable[[PairResult, Normalized, Normalized], object] | None = None,
                ) -> Iterator[tuple[int, int, object]]:
    """``pair_result`` of each candidate pair: items (db, ((da, seeds, rewritten, DocInfo a), DocInfo b))
    give (da, db, result), or (da, db, describe(result, normalized a, normalized b))."""
    docs = _Docs(opts)
    for db, ((da, seeds, rewritten, info_a), info_b) in items:
        a, b = docs.get(da, info_a), docs.get(db, info_b)
        (na, ma), (nb, mb) = a[:2], b[:2]
        units = None
        if rewritten:
            units = sentence_seeds(docs.units(a), docs.units(b), opts, boiler_a=ma, boiler_b=mb)
        result = pair_result(info_a.id, info_b.id, na, nb, seeds, opts, (ma, mb), units)
        if result is not None:
            yield da, db, (result if describe is None else describe(result, na, nb))


def group_labels(items: Iterable[tuple[int, LabelPart]]) -> list[Boilerplate]:
    """``group_entries`` over a range of labels: the entries, most common first. Ranges ascend, and
    the sort is stable, so one more stable sort of all ranges' entries gives the embedded order."""
    items = list(items)
    if not items:
        return []
    labels = np.concatenate([np.full(len(p.docnums), lab, dtype=np.uint64) for lab, p in items])
    docnums = np.concatenate([p.docnums for _, p in items])
    r_start = np.concatenate([p.r_start for _, p in items])
    o_start = np.concatenate([p.o_start for _, p in items])
    o_end = np.concatenate([p.o_end for _, p in items])
    ids = {int(n): i for _, p in items for n, i in zip(p.docnums.tolist(), p.ids, strict=True)}
    best = {p.best[:3]: p.best[3] for _, p in items}
    entries = group_entries(ids, docnums, r_start, o_start, o_end, labels, lambda d, s, e: best[(d, s, e)])
    return entries
