"""The live documents as arrays indexed by docnum: liveness, metadata codes, facet counts.

Search results come out of the suffix arrays and Whoosh as arrays of docnums; filtering them by
liveness and metadata and counting facets must not cost a Python loop over ten thousand documents.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .store import Document

FACET_FIELDS = ("unit", "year", "role", "meeting", "author")


class Catalog:
    def __init__(self, docs: Iterable[Document]):
        docs = list(docs)
        self.by_num = {d.docnum: d for d in docs}
        self.by_id = {d.id: d for d in docs}
        size = max(self.by_num, default=0) + 1
        self.live = np.zeros(size, dtype=bool)
        self.live[list(self.by_num)] = True
        self.values: dict[str, list[str]] = {}
        self.codes: dict[str, np.ndarray] = {}
        for field in FACET_FIELDS:
            values: dict[str, int] = {}
            codes = np.full(size, -1, dtype=np.int32)
            for d in docs:
                v = getattr(d, field)
                if v:
                    codes[d.docnum] = values.setdefault(v, len(values))
            self.values[field] = list(values)
            self.codes[field] = codes

    def __len__(self) -> int:
        return len(self.by_num)

    def mask(self, filters: dict[str, str] | None = None) -> np.ndarray:
        """Live documents matching every ``field == value`` filter, as a boolean array by docnum."""
        mask = self.live.copy()
        for field, value in (filters or {}).items():
            try:
                code = self.values[field].index(value)
            except ValueError:
                return np.zeros_like(mask)
            mask &= self.codes[field] == code
        return mask

    def select(self, docnums: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Which of ``docnums`` the mask keeps (docnums beyond the catalog are dead)."""
        docnums = np.asarray(docnums, dtype=np.int64)
        keep = docnums < len(mask)
        keep[keep] = mask[docnums[keep]]
        return keep

    def facets(self, docnums: np.ndarray, *, top: int | None = 30,
               fields: tuple[str, ...] = ("unit", "year", "role", "meeting")) -> dict[str, dict[str, int]]:
        """Value counts of ``fields`` among ``docnums``, most frequent first (the first ``top``; all
        with ``top=None``)."""
        out = {}
        for field in fields:
            codes = self.codes[field][np.asarray(docnums, dtype=np.int64)]
            codes = codes[codes >= 0]
            if not len(codes):
                continue
            counts = np.bincount(codes, minlength=len(self.values[field]))
            order = sorted(np.flatnonzero(counts).tolist(), key=lambda c: (-counts[c], self.values[field][c]))
            out[field] = {self.values[field][c]: int(counts[c]) for c in order[:top]}
        return out
