"""From seeds (fingerprint positions two documents share) to copied passages.

Seeds are clustered by proximity in *both* documents (so a copied passage whose sentences were
shuffled still becomes one passage), each cluster's four edges are extended past the outermost seeds
with an X-drop walk over a rapidfuzz Levenshtein alignment (recovering the characters before the first
and after the last fingerprint, through small edits), passages found so take in short shuffled
sentences from exact runs around them, overlapping clusters are merged, and the two versions are
aligned with rapidfuzz Levenshtein to give a similarity and the edits a UI can highlight.
All of this runs on normalized text; passages report spans of the original texts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Indel, Levenshtein

from indexer.detect.cluster import (
    Box,
    absorb_runs,
    cluster_unambiguous_first,
    fine_runs,
    merge_boxes,
    unit_boxes,
)
from indexer.detect.normalize import Normalized
from indexer.detect.options import DEFAULTS, DetectOptions
from indexer.detect.units import clause_ends

Edit = tuple[str, int, int, int, int]  # (tag, a_start, a_end, b_start, b_end), original offsets


@dataclass(frozen=True)
class Passage:
    """One copied region: spans into the original texts of documents a and b."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    similarity: float  # 2 * shared_chars / (length of both normalized versions), 0..1
    shared_chars: int  # normalized characters in common: aligned in order, or under seeds if more
    edits: tuple[Edit, ...] = ()  # what differs, as rapidfuzz opcodes in original offsets

    def mirrored(self) -> Passage:
        """The same passage seen from document b."""
        edits = tuple((_MIRROR_TAG[t], b0, b1, a0, a1) for t, a0, a1, b0, b1 in self.edits)
        return Passage(self.b_start, self.b_end, self.a_start, self.a_end, self.similarity,
                       self.shared_chars, edits)


_MIRROR_TAG = {"replace": "replace", "insert": "delete", "delete": "insert", "equal": "equal"}


def extend(x: str, y: str, *, drop: int) -> tuple[int, int]:
    """How many leading characters of ``x`` and ``y`` still align (X-drop over Levenshtein opcodes)."""
    score = best = bi = bj = 0
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(x, y):
        if tag == "equal":
            score += i2 - i1
            if score > best:
                best, bi, bj = score, i2, j2
        else:
            score -= max(i2 - i1, j2 - j1)
            if score < best - drop:
                break
    return bi, bj


def _extend_far(a: str, b: str, i: int, j: int, step: int, *, window: int, drop: int) -> tuple[int, int]:
    """The furthest aligned point from (i, j) going forwards (step 1) or backwards (step -1)."""
    while True:
        if step > 0:
            x, y = a[i:i + window], b[j:j + window]
        else:
            x, y = a[max(0, i - window):i][::-1], b[max(0, j - window):j][::-1]
        di, dj = extend(x, y, drop=drop)
        i, j = i + step * di, j + step * dj
        if di < window - drop or dj < window - drop or not x or not y:
            return i, j


def _grow(box: Box, a: str, b: str, opts: DetectOptions) -> Box:
    """The box with its four edges extended past the outermost seeds."""
    w, d = opts.extend_window, opts.extend_drop
    a0, a1, b0, b1 = box.a0, box.a1, box.b0, box.b1
    every = box.seeds + box.units
    for pa, pb, *_ in {min(every), min(every, key=lambda s: (s[1], s[0]))}:
        i, j = _extend_far(a, b, pa, pb, -1, window=w, drop=d)
        a0, b0 = min(a0, i), min(b0, j)
    ends = [(pa + na, pb + nb) for pa, pb, na, nb in every]
    for ea, eb in {max(ends), max(ends, key=lambda s: (s[1], s[0]))}:
        i, j = _extend_far(a, b, ea, eb, 1, window=w, drop=d)
        a1, b1 = max(a1, i), max(b1, j)
    return Box(a0, a1, b0, b1, box.seeds, box.core, box.units)


def _edits(a: Normalized, b: Normalized, box: Box) -> tuple[int, tuple[Edit, ...]]:
    """Shared characters and the non-equal opcodes between the two versions, in original offsets."""
    ops = Levenshtein.opcodes(a.text[box.a0:box.a1], b.text[box.b0:box.b1])
    shared, edits = 0, []
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            shared += i2 - i1
            continue
        sa = a.to_original(box.a0 + i1, box.a0 + i2)
        sb = b.to_original(box.b0 + j1, box.b0 + j2)
        edits.append((tag, sa[0], sa[1], sb[0], sb[1]))
    return shared, tuple(edits)


def align_pair(a: Normalized, b: Normalized, seeds: np.ndarray, opts: DetectOptions = DEFAULTS, *,
               boiler_a: np.ndarray | None = None, boiler_b: np.ndarray | None = None,
               units: np.ndarray | None = None) -> list[Passage]:
    """The copied passages between two documents, given their seeds as rows (pos in a, pos in b).

    ``units`` are the sentence stage's seeds (``sentences.sentence_seeds``: rows a0, a1, b0, b1);
    they cluster with the fingerprint seeds, each counting as one seed towards ``min_seeds``.

    ``boiler_a``/``boiler_b`` mark boilerplate characters of the normalized texts: seeds lying wholly
    in boilerplate are ignored, and a passage that is mostly boilerplate in both documents is a shared
    template, not a copy, and is dropped.
    Symmetric: ``align_pair(b, a, seeds[:, ::-1])`` gives the same passages, mirrored.
    """
    if (b.text, b.original) < (a.text, a.original):  # one canonical order makes it symmetric
        flip = None if units is None else np.asarray(units).reshape(-1, 4)[:, [2, 3, 0, 1]]
        flipped = align_pair(b, a, np.asarray(seeds).reshape(-1, 2)[:, ::-1], opts, boiler_a=boiler_b,
                             boiler_b=boiler_a, units=flip)
        return [p.mirrored() for p in flipped]
    seeds = np.asarray(seeds, dtype=np.int64).reshape(-1, 2)
    if boiler_a is not None and boiler_b is not None and len(seeds):  # seeds wholly in boilerplate go
        k = opts.k
        cum_a, cum_b = np.r_[0, np.cumsum(boiler_a)], np.r_[0, np.cumsum(boiler_b)]
        pa, pb = np.minimum(seeds[:, 0], len(boiler_a)), np.minimum(seeds[:, 1], len(boiler_b))
        in_a = cum_a[np.minimum(pa + k, len(boiler_a))] - cum_a[pa] >= k
        in_b = cum_b[np.minimum(pb + k, len(boiler_b))] - cum_b[pb] >= k
        seeds = seeds[~(in_a | in_b)]
    boxes = cluster_unambiguous_first(seeds, opts)
    if units is not None and len(units):  # units tile the text: a rewritten passage's units touch
        extra = unit_boxes(np.asarray(units, dtype=np.int64).reshape(-1, 4), opts.unit_solo_chars,
                           opts.min_seeds)
        boxes = merge_boxes(boxes + extra, opts.unit_merge_gap)
    boxes = [box for box in boxes if _supported(box, a, b, opts, boiler_a, boiler_b)]
    boxes = merge_boxes([_grow(box, a.text, b.text, opts) for box in boxes], 0)
    boxes = [box for box in boxes if _similarity(box, a, b, opts, boiler_a, boiler_b)[0] is not None]
    if opts.fine_k and boxes:  # only passages found on their own take in short shuffled sentences
        for box in boxes:
            absorb_runs(box, fine_runs(a.text, b.text, box, opts, boiler_a, boiler_b), opts.fine_margin)
        boxes = merge_boxes([_grow(box, a.text, b.text, opts) for box in boxes], 0)
    out = []
    for box in sorted(boxes, key=lambda x: (x.a0, x.b0)):
        similarity, shared, edits = _similarity(box, a, b, opts, boiler_a, boiler_b)
        if similarity is None:
            continue
        (as_, ae), (bs, be) = a.to_original(box.a0, box.a1), b.to_original(box.b0, box.b1)
        out.append(Passage(as_, ae, bs, be, round(similarity, 4), shared, edits))
    return out


def _supported(box: Box, a: Normalized, b: Normalized, opts: DetectOptions, boiler_a: np.ndarray | None,
               boiler_b: np.ndarray | None) -> bool:
    """Whether the box's seeds are evidence enough (``min_seeds``). Fingerprints inside one of its
    sentence units (in both documents) are the same evidence as the unit, not more: a stock phrase
    of 15 characters in two unrelated sentences of one genre gives fingerprints and, through its
    bigrams, a unit seed, and counted twice it made a passage of the two sentences. Such a box stands
    when its fingerprints make a passage without the units (as without the sentence stage); the units
    then only complete it."""
    if not box.units:
        return box.core >= opts.min_seeds
    weight = sum(opts.min_seeds if min(la, lb) >= opts.unit_solo_chars else 1 for _, _, la, lb in box.units)
    prints = box.core - weight  # fingerprint seeds (the units' weights are the rest)
    outside = sum(1 for pa, pb, _, _ in box.seeds
                  if not any(a0 <= pa < a0 + la and b0 <= pb < b0 + lb for a0, b0, la, lb in box.units))
    if weight + min(prints, outside) >= opts.min_seeds:
        return True
    if prints < opts.min_seeds:
        return False
    seeds = np.array([(pa, pb) for pa, pb, _, _ in box.seeds], dtype=np.int64)
    return any(_similarity(_grow(x, a.text, b.text, opts), a, b, opts, boiler_a, boiler_b)[0] is not None
               for x in cluster_unambiguous_first(seeds, opts) if x.core >= opts.min_seeds)


def _similarity(box: Box, a: Normalized, b: Normalized, opts: DetectOptions, boiler_a: np.ndarray | None,
                boiler_b: np.ndarray | None) -> tuple[float | None, int, tuple[Edit, ...]]:
    """(similarity, shared chars, edits) of a box, similarity None when the box is no passage."""
    la, lb = box.a1 - box.a0, box.b1 - box.b0
    if min(la, lb) < opts.min_chars:
        return None, 0, ()
    if _share(boiler_a, box.a0, box.a1) >= opts.max_boilerplate_share and \
            _share(boiler_b, box.b0, box.b1) >= opts.max_boilerplate_share:
        return None, 0, ()
    shared, edits = _edits(a, b, box)
    # Shuffled sentences defeat an in-order alignment: seed coverage counts them, in any order.
    shared = max(shared, _seed_cover(box))
    # a passage vouched for by sentence units (tf-idf cosine and Dice) may align worse in order
    floor = opts.unit_min_similarity if box.units else opts.min_similarity
    if box.units and 2 * shared < floor * (la + lb):  # clauses swapped inside its sentences
        shared = max(shared, _clause_cover(box, a, b, floor))
    similarity = 2 * shared / (la + lb)
    return (similarity if similarity >= floor else None), shared, edits


def _share(mask: np.ndarray | None, start: int, end: int) -> float:
    return float(mask[start:end].mean()) if mask is not None and end > start else 0.0


def _clause_cover(box: Box, a: Normalized, b: Normalized, floor: float) -> int:
    """Characters the box's clauses share, matched in any order: each clause of a with at most one
    of b, the most alike pairs first, a pair counting its in-order common characters when they make
    at least ``floor`` of the two. A copier swapping the clauses of a sentence (or the sentences of
    a short paragraph) leaves each clause aligned with its counterpart; unrelated clauses of the same
    genre rarely pass the floor."""
    ca, cb = _clauses(a, box.a0, box.a1), _clauses(b, box.b0, box.b1)
    if len(ca) < 2 and len(cb) < 2:
        return 0  # one clause each: the in-order alignment said it all
    xs = [a.text[s:e] for s, e in ca]
    ys = [b.text[s:e] for s, e in cb]
    dist = process.cdist(xs, ys, scorer=Indel.distance, workers=1)
    size = np.add.outer([len(x) for x in xs], [len(y) for y in ys])
    common = (size - dist) // 2  # Indel distance = both lengths - 2 * longest common subsequence
    ok = 2 * common >= floor * size
    total, used_a, used_b = 0, set(), set()
    for flat in np.argsort(-np.where(ok, common, -1), axis=None, kind="stable").tolist():
        i, j = divmod(flat, len(ys))
        if not ok[i, j]:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        total += int(common[i, j])
    return total


def _clauses(norm: Normalized, start: int, end: int) -> list[tuple[int, int]]:
    """The clauses of [start, end) of the normalized text (cut at the original's clause and sentence
    marks), empty ones left out."""
    ends = clause_ends(norm)
    cuts = ends[(ends > start) & (ends < end)].tolist()
    bounds = [start, *cuts, end]
    return [(s, e) for s, e in zip(bounds[:-1], bounds[1:], strict=True) if e > s]


def _seed_cover(box: Box) -> int:
    """Characters of the shorter side covered by equal-character matches (order-free); sentence units
    (unequal lengths) only vouch for a region, never for equal characters."""
    cover = []
    for axis in (0, 1):
        total, end = 0, -1
        for x, n in sorted({(s[axis], s[2 + axis]) for s in box.seeds}):
            if x + n > end:
                total += x + n - max(x, end)
                end = x + n
        cover.append(total)
    return min(cover)
