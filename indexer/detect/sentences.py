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
may share rewritten units. Each document's units are sketched once (``sketch_text``, at ingest: each
unit's ``unit_sketch_stored`` lowest-hash features). At compare time the features found in more than
``unit_max_postings`` sketches (or in only one) are dropped, as boilerplate fingerprints are, and each
unit keeps the ``unit_sketch`` rarest of the rest, the lower hash first among equals
(``select_sketches``): a choice consistent between two documents, as a bottom-k sketch is. An
inverted index over those pairs units sharing a feature, and document pairs with enough such unit
pairs become candidates (``pairs_of_units``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from indexer.detect.fingerprint import _mix
from indexer.detect.normalize import Normalized
from indexer.detect.options import DetectOptions
from indexer.detect.units import ByCode, Units, _heads, feature_rows


def _share(mask: np.ndarray | None, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The boilerplate share of each unit (0 without a mask)."""
    if mask is None or not len(starts):
        return np.zeros(len(starts))
    n = len(mask)
    if starts[0] == 0 and ends[-1] == n and np.array_equal(starts[1:], ends[:-1]) and (ends > starts).all():
        inside = np.add.reduceat(mask, starts, dtype=np.int64)  # units that tile the text, as in features
    else:
        cum = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(mask, out=cum[1:])
        inside = cum[np.minimum(ends, n)] - cum[np.minimum(starts, n)]
    return inside / np.maximum(1, ends - starts)


def unit_similarity(ua: Units, ub: Units) -> tuple[np.ndarray, np.ndarray]:
    """(cosine, dice) matrices, units of a by units of b: tf-idf over the units of both documents."""
    na, nb = len(ua), len(ub)
    cosine, dice = np.zeros((na, nb)), np.zeros((na, nb))
    if not na or not nb or not len(ua.code) or not len(ub.code):
        return cosine, dice
    fa, fb = ua.by_code, ub.by_code
    ia, ib, sf_a, sf_b = _shared(fa, fb)
    rows_a, per, rb = _join(fa, fb, ia, ib)
    cell = np.repeat(fa.unit[rows_a] * nb, per) + fb.unit[rb]
    wa = _weights(fa, np.arange(len(fa.unit)), sf_a, na + nb)
    wb = _weights(fb, np.arange(len(fb.unit)), sf_b, na + nb)
    dot = np.bincount(cell, weights=np.repeat(wa[rows_a], per) * wb[rb], minlength=na * nb).reshape(na, nb)
    count = np.bincount(cell, minlength=na * nb).reshape(na, nb)
    norms = np.outer(np.sqrt(np.bincount(fa.unit, weights=wa * wa, minlength=na)),
                     np.sqrt(np.bincount(fb.unit, weights=wb * wb, minlength=nb)))
    np.divide(dot, norms, out=cosine, where=norms > 0)
    sizes = fa.size[:, None] + fb.size[None, :]
    np.divide(2 * count, sizes, out=dice, where=sizes > 0)
    return cosine, dice


def sentence_seeds(ua: Units, ub: Units, opts: DetectOptions, *, boiler_a: np.ndarray | None = None,
                   boiler_b: np.ndarray | None = None) -> np.ndarray:
    """Unit pairs passing both thresholds, as rows (a0, a1, b0, b1) of normalized offsets.

    Units mostly boilerplate seed nothing; a unit pair is kept only when each unit is the other's best
    match, so a sentence next to a copied passage cannot pair with one inside it.

    This is ``unit_similarity`` computed only where it matters: Dice needs just the number of features
    each unit pair shares, and the few pairs passing it (a few dozen of some 30,000) get their tf-idf
    weights and dot products, summed in the same order as there (so to the same bits).
    """
    na, nb = len(ua), len(ub)
    if not na or not nb or not len(ua.code) or not len(ub.code):
        return np.zeros((0, 4), dtype=np.int64)
    fa, fb = ua.by_code, ub.by_code
    ia, ib, sf_a, sf_b = _shared(fa, fb)
    rows_a, per, rb = _join(fa, fb, ia, ib)
    cell = np.repeat(fa.unit[rows_a] * nb, per) + fb.unit[rb]  # unit of a * units of b + unit of b
    count = np.bincount(cell, minlength=na * nb).reshape(na, nb)
    # Dice >= unit_dice needs 2 * count >= unit_dice * (size a + size b): a bound per unit of a (with
    # b's smallest unit, less a margin for rounding) leaves a few hundred pairs to divide
    low = np.ceil(opts.unit_dice * (1 - 1e-9) / 2 * (fa.size + fb.size.min()))
    cells = np.flatnonzero(count >= np.maximum(low, 1).astype(np.int64)[:, None])
    i, j = np.divmod(cells, nb)
    dice = 2 * count.ravel()[cells] / (fa.size[i] + fb.size[j])  # as unit_similarity divides
    ok = dice >= opts.unit_dice
    ok &= (_share(boiler_a, ua.starts, ua.ends) < opts.unit_max_boilerplate)[i]
    ok &= (_share(boiler_b, ub.starts, ub.ends) < opts.unit_max_boilerplate)[j]
    cells, i, j = cells[ok], i[ok], j[ok]
    if not len(cells):
        return np.zeros((0, 4), dtype=np.int64)
    wanted = np.zeros(na * nb, dtype=bool)
    wanted[cells] = True
    keep = np.flatnonzero(wanted[cell])  # the join rows of those pairs, in join order
    ra = rows_a[np.searchsorted(np.cumsum(per), keep, side="right")]
    rb, cell = rb[keep], cell[keep]
    dot = np.bincount(np.searchsorted(cells, cell), weights=_weights(fa, ra, sf_a, na + nb) *
                      _weights(fb, rb, sf_b, na + nb), minlength=len(cells))
    norms = _norms(fa, i, sf_a, na + nb) * _norms(fb, j, sf_b, na + nb)
    cosine = np.zeros(len(cells))
    np.divide(dot, norms, out=cosine, where=norms > 0)
    ok = cosine >= opts.unit_cosine
    cells, i, j, cosine = cells[ok], i[ok], j[ok], cosine[ok]
    if not len(cells):
        return np.zeros((0, 4), dtype=np.int64)
    best_a, best_b = np.full(na, -1.0), np.full(nb, -1.0)  # each unit's best cosine among the pairs left
    np.maximum.at(best_a, i, cosine)
    np.maximum.at(best_b, j, cosine)
    best = (cosine == best_a[i]) & (cosine == best_b[j])
    return _trim(ua, i[best], ub, j[best], (ra, rb, cell), opts.unit_trim_slack)


def _shared(fa: ByCode, fb: ByCode) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The features both documents carry (as indices into a's ``codes`` and b's), and for every
    feature of a the number of units of b carrying it (0 for most), and the other way round."""
    ka, kb = fa.keyed, fb.keyed
    if ka is not None and kb is not None:  # one sort of both, b's features after a's of the same code
        key = np.concatenate([ka, kb + np.int64(1 << 19)])
        key.sort()
        both = np.flatnonzero((key[1:] >> np.int64(20)) == (key[:-1] >> np.int64(20)))
        ia, ib = key[both] & np.int64((1 << 19) - 1), key[both + 1] & np.int64((1 << 19) - 1)
    else:
        at = np.minimum(np.searchsorted(fb.codes, fa.codes), len(fb.codes) - 1)
        ia = np.flatnonzero(fb.codes[at] == fa.codes)
        ib = at[ia]
    sf_a, sf_b = np.zeros(len(fa.codes), dtype=np.int64), np.zeros(len(fb.codes), dtype=np.int64)
    sf_a[ia], sf_b[ib] = fb.df[ib], fa.df[ia]
    return ia, ib, sf_a, sf_b


def _join(fa: ByCode, fb: ByCode, ia: np.ndarray, ib: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (row of a, row of b) of a shared feature, in feature order: the rows of a carrying a
    shared feature, how many rows of b each is joined to, and the rows of b."""
    per_feature = np.zeros(len(fa.codes), dtype=np.int64)  # rows of b joined to a row of each feature
    per_feature[ia] = fb.df[ib]
    per = per_feature[fa.feature]
    rows_a = np.flatnonzero(per != 0)
    per = per[rows_a]
    head_b = np.zeros(len(fa.codes), dtype=np.int64)  # ... and the first of them
    head_b[ia] = fb.head[ib]
    before = np.cumsum(per) - per
    total = int(before[-1] + per[-1]) if len(per) else 0
    return rows_a, per, np.repeat(head_b[fa.feature[rows_a]] - before, per) + np.arange(total)


def _weights(f: ByCode, rows: np.ndarray, other_df: np.ndarray, units: int) -> np.ndarray:
    """The tf-idf weights of ``rows``: log tf times log(1 + units / units of both documents carrying
    the row's feature; ``other_df``: per feature, those of the other document)."""
    feature = f.feature[rows]
    return f.logtf[rows] * np.log1p(units / (f.df[feature] + other_df[feature]))


def _norms(f: ByCode, units: np.ndarray, other_df: np.ndarray, n: int) -> np.ndarray:
    """The tf-idf vector length of each of ``units``, each summed in row order (as bincount over all
    rows sums it)."""
    seen = np.zeros(len(f.size), dtype=bool)
    seen[units] = True
    u = np.flatnonzero(seen)
    at = (np.cumsum(seen) - 1)[units]  # the rank of each among the distinct ones
    lo, size = f.unit_head[u], f.size[u]
    rows = f.by_unit[np.repeat(lo - (np.cumsum(size) - size), size) + np.arange(int(size.sum()))]
    w = _weights(f, rows, other_df, n)
    return np.sqrt(np.bincount(np.repeat(np.arange(len(u)), size), weights=w * w, minlength=len(u)))[at]


def _trim(ua: Units, i: np.ndarray, ub: Units, j: np.ndarray, join: tuple[np.ndarray, ...],
          slack: int) -> np.ndarray:
    """Units i of a and j of b (pairwise, ascending in row-major order) cut to the stretch between their
    first and last shared feature when more than ``slack`` characters lie outside it: a short sentence
    joined to a copied one, or a long filler, is no copy; a changed last word is. A joined sentence
    without a shared feature is cut off however short it is (at its sentence end, ``Units.breaks``).
    ``join``: (row of a, row of b, cell) of ``by_code`` rows sharing a feature, every row of the
    cells (i, j) among them."""
    ra, rb, cell = join
    nb = len(ub)
    seeded = np.zeros(len(ua) * nb, dtype=bool)
    seeded[i * nb + j] = True
    keep = seeded[cell]
    ra, rb, cell = ra[keep], rb[keep], cell[keep]
    if ua.by_code.row is not None:
        ra = ua.by_code.row[ra]
    if ub.by_code.row is not None:
        rb = ub.by_code.row[rb]
    order = np.argsort(cell, kind="stable")
    ra, rb, cell = ra[order], rb[order], cell[order]
    heads = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])  # one group per seed: seeds share features
    out = []
    for u, rows, n in ((ua, ra, i), (ub, rb, j)):
        s = np.minimum.reduceat(u.first[rows], heads)
        e = np.maximum.reduceat(u.last[rows], heads) + 2
        start, end = u.starts[n], u.ends[n]
        if len(u.breaks):  # the last sentence end before the first shared feature, the first after the last
            head = u.breaks[np.maximum(np.searchsorted(u.breaks, s, side="right") - 1, 0)]
            tail = u.breaks[np.minimum(np.searchsorted(u.breaks, e), len(u.breaks) - 1)]
            start = np.where((head > start) & (head <= s), head, start)
            end = np.where((tail >= e) & (tail < end), tail, end)
        out.append(np.where(s - u.starts[n] > slack, s, start))
        out.append(np.where(u.ends[n] - e > slack, e, end))
    return np.stack(out, axis=1).astype(np.int64).reshape(-1, 4)


def sketch(units: Units, opts: DetectOptions) -> tuple[np.ndarray, np.ndarray]:
    """(unit, key) rows, by unit and then key: each unit's ``unit_sketch_stored`` lowest feature
    hashes (a bottom-k sketch; keys are 40-bit hashes of the features). Depends on the document alone
    (``select_sketches`` makes the corpus-wide choice)."""
    return _bottom_k(units.unit, units.code, opts.unit_sketch_stored)


def sketch_text(norm: Normalized, opts: DetectOptions) -> tuple[np.ndarray, np.ndarray]:
    """``sketch(features(norm))`` without building the feature bags (one sort of the feature
    hashes): a document's part of the corpus-wide candidate index, computed at ingest and stored
    beside its fingerprints (``sketch_params`` says which stored sketches are still valid)."""
    _, _, unit, code, _ = feature_rows(norm, opts)
    return _bottom_k(unit, code, opts.unit_sketch_stored)


# Bump when ``sketch_text`` returns anything else for the same text and options (units, features,
# hashing): stored sketches of an older version are recomputed, never mixed with new ones.
# 2: each unit's unit_sketch_stored lowest hashes (1: unit_sketch); the posting cap and each unit's
# choice of unit_sketch features moved to compare time (``select_sketches``).
SKETCH_VERSION = 2


def sketch_params(opts: DetectOptions) -> dict:
    """Everything ``sketch_text`` depends on besides the normalized text: stored sketches computed
    with other parameters are not used (the compare computes them again; ``indexer upgrade`` and
    segment merges store new ones)."""
    from indexer.detect.lexicon import cilin_digest

    return {"sketch_version": SKETCH_VERSION, "unit_min_chars": opts.unit_min_chars,
            "unit_max_chars": opts.unit_max_chars, "unit_synonyms": opts.unit_synonyms,
            "unit_sketch_stored": opts.unit_sketch_stored,
            "lexicon": cilin_digest() if opts.unit_synonyms else None}


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
                    opts: DetectOptions, n_docs: int) -> np.ndarray:
    """Document pairs (rows doc a < doc b) sharing sketched unit pairs (``pairs_of_units``).

    ``sketches`` gives (document number, unit numbers, feature codes) as ``sketch`` returns them, for
    a corpus of ``n_docs`` documents.
    """
    return pairs_of_units(unit_pairs(select_sketches(sketches, opts), opts), opts, n_docs)


def select_sketches(sketches: Iterable[tuple[int, np.ndarray, np.ndarray]], opts: DetectOptions
                    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The stored sketches cut to what the candidate index uses: features in more than one and at
    most ``unit_max_postings`` of all the sketches' units (``usable``), of which each unit keeps the
    ``unit_sketch`` found in the fewest units, the lower hash first among equals (``pick_sketch``).

    Dropping common features before choosing keeps every unit's slots for evidence: on 2,000
    materials nine in ten of the lowest-hash features are in more units than the cap, and a fixed
    bottom-8 sketch left three units in four without two usable features. Choosing by one order of
    all features (postings, then hash) keeps the choice consistent between two copies, as a bottom-k
    sketch is, and spends the slots on the rarer features, which pair fewer units by chance. The
    sketches are held packed (unit and key in one int64) and counted in chunks, so the count costs
    its distinct features, not another copy of every row."""
    held, counts = [], _FeatureCounts()
    for d, u, c in sketches:
        u, c = np.asarray(u, dtype=np.int64), np.asarray(c, dtype=np.int64)
        counts.add(c)
        fits = not len(c) or (c.min() >= 0 and c.max() >> 40 == 0 and u.min() >= 0 and u.max() >> 23 == 0)
        held.append((d, (u << _KEY_BITS_I) | c if fits else (u, c)))
    codes, totals = counts.usable(opts)
    where = _locator(codes)
    for i, (d, x) in enumerate(held):
        held[i] = None  # what was handed on need not be held
        u, c = (x >> _KEY_BITS_I, x & _KEY_MASK_I) if isinstance(x, np.ndarray) else x
        at = where(c)
        keep = at >= 0
        yield (d, *pick_sketch(u[keep], c[keep], opts.unit_sketch, totals[at[keep]]))


_KEY_BITS_I = np.int64(40)
_KEY_MASK_I = np.int64((1 << 40) - 1)


def _locator(codes: np.ndarray):
    """Where each key is in ``codes`` (sorted, distinct; -1: not there). 40-bit keys go through a
    table of where each value of their top bits starts, two or three probes each instead of a binary
    search over millions of codes (7 s of 33 M lookups at 10,000 materials); other keys search."""
    def search(c: np.ndarray) -> np.ndarray:
        if not len(codes):
            return np.full(len(c), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(codes, c), len(codes) - 1)
        return np.where(codes[at] == c, at, -1)

    if not len(codes) or codes[0] < 0 or codes[-1] >> 40:
        return search
    bits = min(26, int(len(codes)).bit_length() + 3)  # about one code in eight slots
    shift = np.int64(40 - bits)
    start = np.searchsorted(codes >> shift, np.arange((1 << bits) + 1, dtype=np.int64))
    widest = int(np.diff(start).max())

    def probe(c: np.ndarray) -> np.ndarray:
        if not len(c) or c.min() < 0 or c.max() >> 40:
            return search(c)
        top = c >> shift
        at, end = start[top], start[top + 1]
        found = np.full(len(c), -1, dtype=np.int64)
        for _ in range(widest):
            live = at < end
            if not live.any():
                break
            hit = live & (codes[np.minimum(at, len(codes) - 1)] == c)
            found[hit] = at[hit]
            at = at + 1
        return found

    return probe


class _FeatureCounts:
    """Rows per feature code over many arrays of codes: each few million rows are reduced to their
    distinct codes and counts, and those are merged once at the end (merging them into a running
    table every chunk cost a sort of the whole table each time: 16 s at 10,000 materials)."""

    def __init__(self, chunk: int = 1 << 22):
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []
        self.chunk, self.pending, self.size = chunk, [], 0

    def add(self, codes: np.ndarray) -> None:
        self.pending.append(codes)
        self.size += len(codes)
        if self.size >= self.chunk:
            self._reduce()

    def _reduce(self) -> None:
        if self.pending:
            self.parts.append(np.unique(np.concatenate(self.pending), return_counts=True))
            self.pending, self.size = [], 0

    def usable(self, opts: DetectOptions) -> tuple[np.ndarray, np.ndarray]:
        """The sorted codes found in more than one and at most ``unit_max_postings`` rows, and in how
        many."""
        self._reduce()
        if not self.parts:
            z = np.zeros(0, dtype=np.int64)
            return z, z
        codes = np.concatenate([c for c, _ in self.parts])
        counts = np.concatenate([n for _, n in self.parts])
        self.parts = []
        order = np.argsort(codes, kind="stable")
        codes, counts = codes[order], counts[order]
        head = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        total = np.add.reduceat(counts, head)
        ok = _pairs_units(total, opts)
        return codes[head][ok], total[ok].astype(np.int64)


def usable(codes: np.ndarray, opts: DetectOptions) -> tuple[np.ndarray, np.ndarray]:
    """Which sketch rows' features can pair units: in at least two and at most ``unit_max_postings``
    rows of ``codes`` (all the corpus's sketch rows with the feature: the Spark job passes a feature
    bucket's), and each row's count. A feature no other unit has (an OCR error, a spun word) would
    only take a slot."""
    if not len(codes):
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    _, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    counts = counts[inverse.reshape(-1)].astype(np.int64)
    return _pairs_units(counts, opts), counts


def _pairs_units(postings: np.ndarray, opts: DetectOptions) -> np.ndarray:
    """Which features, by how many sketch rows carry them, can pair units: in two at least (one
    alone pairs nothing) and in at most ``unit_max_postings`` (more is the genre's stock phrasing)."""
    return (postings >= 2) & (postings <= opts.unit_max_postings)


def pick_sketch(unit: np.ndarray, code: np.ndarray, k: int, postings: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's ``k`` first rows among one document's sketch rows by (``postings``, key): the
    rarest features, the lower key first among equals (without ``postings``: the lowest keys). Any
    order in; out by unit, then by that order."""
    if not len(unit):
        return unit, code
    order = np.lexsort((code, unit) if postings is None else (code, postings, unit))
    unit, code = unit[order], code[order]
    first = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
    rank = np.arange(len(unit)) - np.repeat(first, np.diff(np.append(first, len(unit))))
    return unit[rank < k], code[rank < k]


def pairs_of_units(rows: np.ndarray, opts: DetectOptions, n_docs: int) -> np.ndarray:
    """Document pairs with a run of at least ``unit_min_pairs`` unit pairs, each within ``unit_gap``
    units of the last in both documents, among the unit pairs that occur at least ``unit_sketch_shared``
    times in ``rows`` (doc a, unit a, doc b, unit b, postings of the feature; one per shared feature),
    or with one unit pair alike enough on its own (a single rewritten sentence): ``unit_sketch_shared``
    features of which one is rare (in at most ``unit_rare_postings`` units, in a corpus of at least
    ``unit_rare_from`` documents: in a small one every feature is that rare), or ``unit_solo_shared``
    of which one is in at most ``unit_solo_postings`` units. The Spark job calls it on all rows of a
    set of document pairs of a corpus of ``n_docs`` documents."""
    if not len(rows):
        return np.zeros((0, 2), dtype=np.int64)
    # sketch features each unit pair shares, and the postings of the rarest of them
    rows, shared, rarest = _count_rows(np.asarray(rows, dtype=np.int64))
    # Two units sharing a feature only a few units in the corpus carry are unlikely to do so by chance;
    # three shared features that every same-genre text has are no evidence on their own.
    rare = opts.unit_rare_postings if n_docs >= opts.unit_rare_from else 0
    alone = ((shared >= opts.unit_sketch_shared) & (rarest <= rare)) | \
        ((shared >= opts.unit_solo_shared) & (rarest <= opts.unit_solo_postings))
    solo = rows[alone]  # one unit pair alike enough on its own
    rows = rows[shared >= opts.unit_sketch_shared]
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
    """Rows (doc a, unit a, doc b, unit b, postings), doc a < doc b, one per sketch feature (found in
    at most ``unit_max_postings`` units; postings: in how many) the two units share. Exact over any
    set of features with all their postings (the Spark job calls it on one feature bucket)."""
    ds, units, codes = [], [], []
    ascending, last = True, None  # documents in order, each with its units in order (as sketch gives them)
    for d, u, c in sketches:
        ds.append(d)
        units.append(u)
        codes.append(c)
        if ascending and len(u):
            ascending = (last is None or d > last) and bool((u[1:] >= u[:-1]).all())
            last = d
    if not ds:
        return np.zeros((0, 5), dtype=np.int64)
    doc = np.repeat(np.array(ds, dtype=np.int64), [len(u) for u in units])
    unit, code = np.concatenate(units).astype(np.int64, copy=False), np.concatenate(codes)
    order, code = _code_order(doc, unit, code, ascending)
    first = np.flatnonzero(_heads(code))
    counts = np.diff(np.append(first, len(code)))
    wanted = _pairs_units(counts, opts)
    first, counts = first[wanted], counts[wanted]
    # the rows of those features, by (code, doc, unit), one after another
    start = np.cumsum(counts) - counts
    rows = order[np.repeat(first - start, counts) + np.arange(int(counts.sum()))]
    doc, unit = doc[rows], unit[rows]
    pairs = []
    for c in np.unique(counts).tolist():
        at = start[counts == c]
        i, j = np.triu_indices(c, 1)
        p, q = (at[:, None] + i).ravel(), (at[:, None] + j).ravel()
        keep = doc[p] != doc[q]
        pairs.append((p[keep], q[keep], c))
    # column after column (pairs_of_units reads columns; rows from numpy are C-ordered all the same)
    out = np.empty((sum(len(p) for p, _, _ in pairs), 5), dtype=np.int64, order="F")
    n = 0
    for p, q, c in pairs:  # one row per shared feature: pairs_of_units counts them
        out[n:n + len(p), 0], out[n:n + len(p), 1] = doc[p], unit[p]
        out[n:n + len(p), 2], out[n:n + len(p), 3] = doc[q], unit[q]
        out[n:n + len(p), 4] = c
        n += len(p)
    return out


_LOCAL_BITS = 23
_ROW_BITS = 24


def _code_order(doc: np.ndarray, unit: np.ndarray, code: np.ndarray, ascending: bool | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The rows sorted by (code, doc, unit), and the codes in that order. Rows given in (doc, unit)
    order (``ascending``, found out when not given) with 40-bit codes (as ``sketch`` makes them, for
    a corpus in document order) sort as one 64-bit key each: the code and the row number (up to 2^24
    rows), or beyond that the row's rank among the rows of its code's top byte; a three-key lexsort
    costs ten times more."""
    n = len(code)
    if n < 2:
        return np.arange(n), code
    if ascending is None:
        ascending = bool(((doc[1:] > doc[:-1]) | ((doc[1:] == doc[:-1]) & (unit[1:] >= unit[:-1]))).all())
    if not ascending or code.min() < 0 or code.max() >> 40:
        order = np.lexsort((unit, doc, code))
        return order, code[order]
    if n < 1 << _ROW_BITS:
        key = (code.astype(np.uint64) << np.uint64(_ROW_BITS)) | np.arange(n, dtype=np.uint64)
        key.sort()
        order = (key & np.uint64((1 << _ROW_BITS) - 1)).astype(np.int64)
        return order, (key >> np.uint64(_ROW_BITS)).astype(code.dtype)
    top = (code >> 32).astype(np.uint8)
    by_top = np.argsort(top, kind="stable")  # a radix sort: the rows by top byte, in their order
    sizes = np.bincount(top, minlength=256)
    if sizes.max() >> _LOCAL_BITS:
        order = np.lexsort((unit, doc, code))
        return order, code[order]
    start = np.r_[0, np.cumsum(sizes)[:-1]]
    local = np.empty(n, dtype=np.int64)
    local[by_top] = np.arange(n) - np.repeat(start, sizes)
    key = np.sort((code << _LOCAL_BITS) | local)
    return by_top[start[key >> np.int64(32 + _LOCAL_BITS)] + (key & ((1 << _LOCAL_BITS) - 1))], \
        key >> np.int64(_LOCAL_BITS)


def _count_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct unit pairs (doc a, unit a, doc b, unit b) of ``rows`` in sorted order, how often
    each occurs and the least postings (column 4) among its rows. Rows pack into one int64 key of
    bit fields when they fit (one sort instead of a five-key lexsort, fields read back by shifts);
    the postings take the key's low bits."""
    cols = [np.ascontiguousarray(rows[:, k]) for k in range(5)]
    if rows.min() >= 0:
        doc_bits = int(max(cols[0].max(), cols[2].max())).bit_length()
        unit_bits = int(max(cols[1].max(), cols[3].max())).bit_length()
        bits = max(1, int(cols[4].max()).bit_length())
        if 2 * doc_bits + 2 * unit_bits + bits < 63:
            key = cols[0] << np.int64(doc_bits + 2 * unit_bits + bits)
            for col, shift in ((cols[2], 2 * unit_bits + bits), (cols[1], unit_bits + bits), (cols[3], bits)):
                key |= col << np.int64(shift)
            key |= cols[4]
            key.sort()
            pair = key >> np.int64(bits)
            first = np.flatnonzero(_heads(pair))
            count = np.diff(np.append(first, len(key)))
            rarest = key[first] & np.int64((1 << bits) - 1)  # the smallest postings sort first in each pair
            pair = pair[first]
            out = np.empty((len(first), 4), dtype=np.int64, order="F")
            out[:, 3] = pair & np.int64((1 << unit_bits) - 1)
            out[:, 1] = (pair >> np.int64(unit_bits)) & np.int64((1 << unit_bits) - 1)
            out[:, 2] = (pair >> np.int64(2 * unit_bits)) & np.int64((1 << doc_bits) - 1)
            out[:, 0] = pair >> np.int64(2 * unit_bits + doc_bits)
            return out, count, rarest
    rows = rows[np.lexsort((cols[4], cols[3], cols[1], cols[2], cols[0]))]  # doc a, doc b, units
    first = np.flatnonzero(np.r_[True, (rows[1:, :4] != rows[:-1, :4]).any(axis=1)])
    return rows[first, :4], np.diff(np.append(first, len(rows))), rows[first, 4]
