"""Seed clusters: boxes of matches two documents share, linked by proximity in both documents.

A copied passage whose sentences were shuffled is still one region of each document, so matches are
linked when they lie within a gap of each other in *both* documents, not only along one diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from indexer.detect.fingerprint import kgram_hashes
from indexer.detect.options import DetectOptions


@dataclass
class Box:
    """A cluster of seeds: normalized spans [a0, a1) x [b0, b1), its matches (pos a, pos b, length
    in a, length in b) of equal characters, how many seeds it holds (fingerprints and sentence units;
    the rest of ``seeds`` are short runs found around them), and its sentence units (a0, b0, length
    in a, length in b: similar, not equal)."""

    a0: int
    a1: int
    b0: int
    b1: int
    seeds: list[tuple[int, int, int, int]]
    core: int = 0
    units: list[tuple[int, int, int, int]] = field(default_factory=list)  # sentence-stage seeds

    def near(self, other: Box, gap: int) -> bool:
        return (other.a0 - self.a1 <= gap and self.a0 - other.a1 <= gap
                and other.b0 - self.b1 <= gap and self.b0 - other.b1 <= gap)

    def absorb(self, other: Box) -> None:
        self.a0, self.a1 = min(self.a0, other.a0), max(self.a1, other.a1)
        self.b0, self.b1 = min(self.b0, other.b0), max(self.b1, other.b1)
        self.seeds.extend(other.seeds)
        self.units.extend(other.units)
        self.core += other.core


def cluster_seeds(seeds: np.ndarray, *, k: int, gap: int) -> list[Box]:
    """Single-linkage clusters of seeds whose k-gram boxes lie within ``gap`` in both documents."""
    order = np.lexsort((seeds[:, 1], seeds[:, 0])) if len(seeds) else []
    boxes: list[Box] = []
    for pa, pb in seeds[order].tolist() if len(seeds) else []:
        seed = Box(pa, pa + k, pb, pb + k, [(pa, pb, k, k)], 1)
        home = None
        for box in reversed(boxes):
            if box.a1 + gap < pa:
                break
            if box.near(seed, gap):
                home = box
                break
        if home is None:
            boxes.append(seed)
        else:
            home.absorb(seed)
    return merge_boxes(boxes, gap)


def unit_boxes(units: np.ndarray, solo_chars: int, min_seeds: int) -> list[Box]:
    """One box per sentence-stage seed (rows a0, a1, b0, b1): a whole unit of each document. A unit
    of at least ``solo_chars`` in both documents counts as ``min_seeds`` seeds: a long sentence
    copied alone and rewritten is still a passage."""
    return [Box(a0, a1, b0, b1, [], min_seeds if min(a1 - a0, b1 - b0) >= solo_chars else 1,
                [(a0, b0, a1 - a0, b1 - b0)]) for a0, a1, b0, b1 in units.tolist()]


def merge_boxes(boxes: list[Box], gap: int) -> list[Box]:
    """Boxes merged until no two lie within ``gap`` of each other in both documents."""
    changed = True
    while changed:
        changed = False
        boxes.sort(key=lambda x: (x.a0, x.b0))
        out: list[Box] = []
        for box in boxes:
            for other in out:
                if other.near(box, gap):
                    other.absorb(box)
                    changed = True
                    break
            else:
                out.append(box)
        boxes = out
    return boxes


def cluster_unambiguous_first(seeds: np.ndarray, opts: DetectOptions) -> list[Box]:
    """Clusters of the seeds whose k-gram occurs once in each document; a repeated k-gram's seeds
    only join a cluster they fall inside, or form their own where neither document is explained yet.

    A phrase a document repeats pairs with every occurrence in the other document; letting those
    seeds link would stretch a passage over the repeats.
    """
    if not len(seeds):
        return []
    ambiguous = np.zeros(len(seeds), dtype=bool)
    for axis in (0, 1):
        _, inverse, counts = np.unique(seeds[:, axis], return_inverse=True, return_counts=True)
        ambiguous |= counts[inverse] > 1
    if not ambiguous.any():
        return cluster_seeds(seeds, k=opts.k, gap=opts.merge_gap)
    boxes = cluster_seeds(seeds[~ambiguous], k=opts.k, gap=opts.merge_gap)
    loose = []
    for pa, pb in seeds[ambiguous].tolist():
        home = next((b for b in boxes if b.a0 <= pa < b.a1 and b.b0 <= pb < b.b1), None)
        if home is not None:
            home.seeds.append((pa, pb, opts.k, opts.k))
        else:
            loose.append((pa, pb))
    for extra in cluster_seeds(np.array(loose, dtype=np.int64).reshape(-1, 2), k=opts.k, gap=opts.merge_gap):
        if not any(extra.a0 < b.a1 and b.a0 < extra.a1 or extra.b0 < b.b1 and b.b0 < extra.b1 for b in boxes):
            boxes.append(extra)
    return boxes


def fine_runs(a: str, b: str, box: Box, opts: DetectOptions, boiler_a: np.ndarray | None,
               boiler_b: np.ndarray | None) -> list[Box]:
    """Runs of at least ``fine_min_run`` equal characters near a box (within ``fine_margin``).

    Shuffled sentences shorter than k + window - 1 characters carry no fingerprint; exact runs of
    short ``fine_k``-grams found only next to a passage that fingerprints did find bring them in.
    """
    m, k2 = opts.fine_margin, opts.fine_k
    a0, a1 = max(0, box.a0 - m), min(len(a), box.a1 + m)
    b0, b1 = max(0, box.b0 - m), min(len(b), box.b1 + m)
    where: dict[int, list[int]] = {}
    for j, h in enumerate(kgram_hashes(b[b0:b1], k2).tolist()):
        where.setdefault(h, []).append(j)
    matches = []
    for i, h in enumerate(kgram_hashes(a[a0:a1], k2).tolist()):
        js = where.get(h)
        if js and len(js) <= 2:
            matches.extend((i - j, i, j) for j in js)
    matches.sort()
    runs, start = [], None
    for n, (d, i, j) in enumerate(matches):
        if start is None or d != start[0] or i != matches[n - 1][1] + 1:
            start = (d, i, j)
            runs.append([a0 + i, b0 + j, k2])
        else:
            runs[-1][2] = a0 + i + k2 - runs[-1][0]
    out = []
    for pa, pb, length in runs:
        if length < opts.fine_min_run:
            continue
        if (boiler_a is not None and boiler_a[pa:pa + length].all()) or \
                (boiler_b is not None and boiler_b[pb:pb + length].all()):
            continue
        out.append(Box(pa, pa + length, pb, pb + length, [(pa, pb, length, length)], 0))
    return out


def absorb_runs(box: Box, runs: list[Box], margin: int, slack: int = 4) -> None:
    """Take in the runs near ``box`` that keep its two sides as balanced as they were (or within
    ``slack``): a shuffled sentence fills in the side that lacks it, a chance match only stretches one."""
    runs = sorted(runs, key=lambda r: (r.a0, r.b0))
    changed = True
    while changed and runs:
        changed = False
        for r in list(runs):
            if not box.near(r, margin):
                continue
            a0, a1, b0, b1 = min(box.a0, r.a0), max(box.a1, r.a1), min(box.b0, r.b0), max(box.b1, r.b1)
            if abs((a1 - a0) - (b1 - b0)) <= max(slack, abs((box.a1 - box.a0) - (box.b1 - box.b0))):
                box.absorb(r)
                runs.remove(r)
                changed = True
