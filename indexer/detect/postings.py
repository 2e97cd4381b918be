"""The inverted index of fingerprints: every hash's postings (doc, pos) and document frequency,
and the seeds (shared positions) of every pair of documents."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np

DocId = Hashable
Fingerprints = tuple[np.ndarray, np.ndarray]  # (hashes uint64, positions uint32), as fingerprints() gives


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
