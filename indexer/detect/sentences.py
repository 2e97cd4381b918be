"""The sentence stage: seeds that survive rewriting, and the candidate pairs that need them.

Winnowing seeds need k + window - 1 identical characters in a row; a synonym-spun, clause-swapped,
OCR-damaged copy leaves few such runs. Here two documents' units (``units.features``: sentence-sized,
bigrams with synonyms folded to classes and digits folded) are compared as tf-idf vectors, the
method that won PAN 2014's text alignment (Sanchez-Perez, Sidorov & Gelbukh): a unit pair is a seed
when both its cosine and its Dice coefficient pass their thresholds. Weights are idf over the units
of the two documents, so a pair's seeds depend on the pair alone (the corpus compare and a report
agree). Seeds are whole units, (a0, a1, b0, b1) in normalized offsets; ``align.align_pair``
clusters them with the winnowing seeds and extends them with the rapidfuzz alignment.

``candidate_pairs`` finds, over a whole corpus and without comparing all pairs, the documents that
may share rewritten units: each unit is sketched by its ``unit_sketch`` lowest-hash features, an
inverted index over the sketches pairs units sharing a feature (features in more than
``unit_max_postings`` units are dropped, as boilerplate fingerprints are), and document pairs with
at least ``unit_min_pairs`` such unit pairs become candidates.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from indexer.detect.fingerprint import _mix
from indexer.detect.normalize import Normalized
from indexer.detect.options import DetectOptions
from indexer.detect.units import Units, feature_rows


def _share(mask: np.ndarray | None, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The boilerplate share of each unit (0 without a mask)."""
    if mask is None or not len(starts):
        return np.zeros(len(starts))
    cum = np.r_[0, np.cumsum(mask)]
    n = len(mask)
    s, e = np.minimum(starts, n), np.minimum(ends, n)
    return (cum[e] - cum[s]) / np.maximum(1, ends - starts)


def unit_similarity(ua: Units, ub: Units) -> tuple[np.ndarray, np.ndarray]:
    """(cosine, dice) matrices, units of a by units of b: tf-idf over the units of both documents."""
    na, nb = len(ua), len(ub)
    if not na or not nb or not len(ua.code) or not len(ub.code):
        return np.zeros((na, nb)), np.zeros((na, nb))
    codes = np.concatenate([ua.code, ub.code])
    uniq, inv, sf = np.unique(codes, return_inverse=True, return_counts=True)
    idf = np.log1p((na + nb) / sf)
    wa = (1 + np.log(ua.count)) * idf[inv[:len(ua.code)]]
    wb = (1 + np.log(ub.count)) * idf[inv[len(ua.code):]]
    norm_a = np.sqrt(np.bincount(ua.unit, weights=wa * wa, minlength=na))
    norm_b = np.sqrt(np.bincount(ub.unit, weights=wb * wb, minlength=nb))
    size_a = np.bincount(ua.unit, minlength=na)
    size_b = np.bincount(ub.unit, minlength=nb)
    ga, gb = inv[:len(ua.code)], inv[len(ua.code):]
    # join the two feature lists on the feature: every (row of a, row of b) with the same feature
    ob = np.argsort(gb, kind="stable")
    gb_sorted = gb[ob]
    lo = np.searchsorted(gb_sorted, ga, side="left")
    hi = np.searchsorted(gb_sorted, ga, side="right")
    n = hi - lo
    rows_a = np.repeat(np.arange(len(ga)), n)
    rows_b = ob[np.repeat(lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))]
    cell = ua.unit[rows_a] * nb + ub.unit[rows_b]
    dot = np.bincount(cell, weights=wa[rows_a] * wb[rows_b], minlength=na * nb).reshape(na, nb)
    shared = np.bincount(cell, minlength=na * nb).reshape(na, nb)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.nan_to_num(dot / np.outer(norm_a, norm_b))
        dice = np.nan_to_num(2 * shared / (size_a[:, None] + size_b[None, :]))
    return cosine, dice


def sentence_seeds(ua: Units, ub: Units, opts: DetectOptions, *, boiler_a: np.ndarray | None = None,
                   boiler_b: np.ndarray | None = None) -> np.ndarray:
    """Unit pairs passing both thresholds, as rows (a0, a1, b0, b1) of normalized offsets.

    Units mostly boilerplate seed nothing; a unit pair is kept only when each unit is the other's best
    match, so a sentence next to a copied passage cannot pair with one inside it.
    """
    cosine, dice = unit_similarity(ua, ub)
    if not cosine.size:
        return np.zeros((0, 4), dtype=np.int64)
    ok = (cosine >= opts.unit_cosine) & (dice >= opts.unit_dice)
    ok &= (_share(boiler_a, ua.starts, ua.ends) < opts.unit_max_boilerplate)[:, None]
    ok &= (_share(boiler_b, ub.starts, ub.ends) < opts.unit_max_boilerplate)[None, :]
    if not ok.any():
        return np.zeros((0, 4), dtype=np.int64)
    score = np.where(ok, cosine, -1.0)
    best = (score == score.max(axis=1, keepdims=True)) & (score == score.max(axis=0, keepdims=True))
    i, j = np.nonzero(ok & best)
    slack = opts.unit_trim_slack
    return np.array([_trim(ua, x, ub, y, slack) for x, y in zip(i.tolist(), j.tolist(), strict=True)],
                    dtype=np.int64).reshape(-1, 4)


def _trim(ua: Units, i: int, ub: Units, j: int, slack: int) -> tuple[int, int, int, int]:
    """Units i of a and j of b cut to the stretch between their first and last shared feature when
    more than ``slack`` characters lie outside it: a short sentence joined to a copied one, or a
    long filler, is no copy; a changed last word is."""
    ra, rb = np.flatnonzero(ua.unit == i), np.flatnonzero(ub.unit == j)
    _, ia, ib = np.intersect1d(ua.code[ra], ub.code[rb], assume_unique=True, return_indices=True)
    ra, rb = ra[ia], rb[ib]
    out = []
    for u, rows, n in ((ua, ra, i), (ub, rb, j)):
        s, e = int(u.first[rows].min()), int(u.last[rows].max()) + 2
        out.append(s if s - u.starts[n] > slack else int(u.starts[n]))
        out.append(e if u.ends[n] - e > slack else int(u.ends[n]))
    return out[0], out[1], out[2], out[3]


def sketch(units: Units, opts: DetectOptions) -> tuple[np.ndarray, np.ndarray]:
    """(unit, key) rows: each unit's ``unit_sketch`` lowest feature hashes (a bottom-k sketch; keys
    are 40-bit hashes of the features)."""
    return _bottom_k(units.unit, units.code, opts.unit_sketch)


def sketch_text(norm: Normalized, opts: DetectOptions) -> tuple[np.ndarray, np.ndarray]:
    """``sketch(features(norm))`` without building the feature bags: what the corpus compare runs
    over every document (one sort of the feature hashes)."""
    _, _, unit, code, _ = feature_rows(norm, opts)
    return _bottom_k(unit, code, opts.unit_sketch)


_KEY_BITS = np.uint64(40)
_KEY_MASK = np.uint64((1 << 40) - 1)


def _bottom_k(unit: np.ndarray, code: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if not len(code):
        z = np.zeros(0, dtype=np.int64)
        return z, z
    h = _mix(code.astype(np.uint64)) >> np.uint64(64 - 40)
    key = np.sort((unit.astype(np.uint64) << _KEY_BITS) | h)  # by unit, then hash
    key = key[np.r_[True, key[1:] != key[:-1]]]  # each feature once
    u = (key >> _KEY_BITS).astype(np.int64)
    first = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    rank = np.arange(len(u)) - np.repeat(first, np.diff(np.append(first, len(u))))
    keep = rank < k
    return u[keep], (key[keep] & _KEY_MASK).astype(np.int64)


def candidate_pairs(sketches: Iterable[tuple[int, np.ndarray, np.ndarray]],
                    opts: DetectOptions) -> np.ndarray:
    """Document pairs (rows doc a < doc b) sharing at least ``unit_min_pairs`` sketched unit pairs.

    ``sketches`` gives (document number, unit numbers, feature codes) as ``sketch`` returns them.
    """
    return pairs_of_units(unit_pairs(sketches, opts), opts)


def pairs_of_units(rows: np.ndarray, opts: DetectOptions) -> np.ndarray:
    """Document pairs with a run of at least ``unit_min_pairs`` unit pairs, each within ``unit_gap``
    units of the last in both documents, among the unit pairs that occur at least ``unit_sketch_shared``
    times in ``rows`` (doc a, unit a, doc b, unit b; one per shared feature), or with one unit pair
    occurring ``unit_solo_shared`` times (a single rewritten sentence). The Spark job calls it
    on all rows of a set of document pairs."""
    if not len(rows):
        return np.zeros((0, 2), dtype=np.int64)
    rows = rows[np.lexsort((rows[:, 3], rows[:, 1], rows[:, 2], rows[:, 0]))]  # doc a, doc b, units
    new = np.r_[True, (rows[1:] != rows[:-1]).any(axis=1)]
    first = np.flatnonzero(new)
    shared = np.diff(np.append(first, len(rows)))  # sketch features the unit pair shares
    solo = rows[first[shared >= opts.unit_solo_shared]]  # one unit pair alike enough on its own
    rows = rows[first[shared >= opts.unit_sketch_shared]]
    same = (rows[1:, 0] == rows[:-1, 0]) & (rows[1:, 2] == rows[:-1, 2])
    near = same & (rows[1:, 1] - rows[:-1, 1] <= opts.unit_gap) & \
        (np.abs(rows[1:, 3] - rows[:-1, 3]) <= opts.unit_gap) & (rows[1:, 1] != rows[:-1, 1])
    links = rows[1:][near]  # a unit pair next to another one in both documents: copies are contiguous
    if len(links):
        ends = np.flatnonzero(np.r_[(links[1:, 0] != links[:-1, 0]) | (links[1:, 2] != links[:-1, 2]), True])
        n = np.diff(np.r_[-1, ends])  # links per document pair (rows are grouped by pair)
        links = links[ends][n >= opts.unit_min_pairs - 1]
    pairs = np.concatenate([links[:, [0, 2]], solo[:, [0, 2]]])
    return np.unique(pairs, axis=0) if len(pairs) else np.zeros((0, 2), dtype=np.int64)


def unit_pairs(sketches: Iterable[tuple[int, np.ndarray, np.ndarray]], opts: DetectOptions) -> np.ndarray:
    """Rows (doc a, unit a, doc b, unit b), doc a < doc b, one per sketch feature (found in at most
    ``unit_max_postings`` units) the two units share. Exact over any set of features with all their
    postings (the Spark job calls it on one feature bucket)."""
    docs, units, codes = [], [], []
    for d, u, c in sketches:
        docs.append(np.full(len(u), d, dtype=np.int64))
        units.append(u.astype(np.int64))
        codes.append(c)
    if not docs:
        return np.zeros((0, 4), dtype=np.int64)
    doc, unit, code = np.concatenate(docs), np.concatenate(units), np.concatenate(codes)
    order = np.lexsort((unit, doc, code))
    doc, unit, code = doc[order], unit[order], code[order]
    first = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    counts = np.diff(np.append(first, len(code)))
    out = []
    for c in np.unique(counts[(counts >= 2) & (counts <= opts.unit_max_postings)]).tolist():
        starts = first[counts == c]
        i, j = np.triu_indices(c, 1)
        p, q = (starts[:, None] + i).ravel(), (starts[:, None] + j).ravel()
        keep = doc[p] != doc[q]
        out.append(np.stack([doc[p[keep]], unit[p[keep]], doc[q[keep]], unit[q[keep]]], axis=1))
    if not out:
        return np.zeros((0, 4), dtype=np.int64)
    return np.concatenate(out)  # one row per shared feature: pairs_of_units counts them

