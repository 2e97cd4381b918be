"""The live documents as arrays indexed by docnum: liveness, metadata codes, facet counts.

Search results come out of the suffix arrays and Whoosh as arrays of docnums; filtering them by
liveness and metadata and counting facets must not cost a Python loop over ten thousand documents.

A catalog is read in two steps, so that what needs little pays little: the live docnums (an index
scan, ~1 ms per thousand documents) give ``live`` and ``len``; every document's metadata
(``by_num``, ``by_id``, the facet codes) is read from the store on first use. ``get`` reads one
document alone while the rest is not needed (a report names a few sources). ``updated`` makes the
catalog of a later state from this one and the store's change log, reading only the rows that
changed: a bulk add no longer reads the whole catalog after each of its commits.

The metadata read later may be newer than the docnums (another process committed meanwhile); the
next refresh reads those rows again, so a catalog is never behind for longer than one refresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from .store import Document

if TYPE_CHECKING:
    from .store import Store

FACET_FIELDS = ("unit", "year", "role", "meeting", "author")


class Catalog:
    def __init__(self, docnums: Iterable[int], store: Store | None = None):
        """The catalog of the live ``docnums``, whose metadata ``store`` holds."""
        nums = np.fromiter(docnums, dtype=np.int64)
        self.docnums = nums
        self.live = np.zeros(int(nums.max(initial=0)) + 1, dtype=bool)
        self.live[nums] = True
        self._store = store
        self._one: dict[int, Document | None] = {}

    @classmethod
    def read(cls, store: Store) -> Catalog:
        """The store's catalog: its docnums now, its metadata on first use."""
        return cls(store.docnums(), store)

    def __len__(self) -> int:
        return len(self.docnums)

    def is_live(self, docnum: int) -> bool:
        return 0 <= docnum < len(self.live) and bool(self.live[docnum])

    @property
    def loaded(self) -> bool:
        return "by_num" in self.__dict__

    @cached_property
    def by_num(self) -> dict[int, Document]:
        """Every live document's metadata by docnum, ascending (read from the store once)."""
        docs = self._store.all() if self._store is not None else []
        return {d.docnum: d for d in docs if self.is_live(d.docnum)}

    @cached_property
    def by_id(self) -> dict[str, Document]:
        return {d.id: d for d in self.by_num.values()}

    def get(self, docnum: int) -> Document | None:
        """One live document's metadata, without reading the others'."""
        if self.loaded or self._store is None:
            return self.by_num.get(docnum)
        if docnum not in self._one:
            found = self._store.documents([docnum]) if self.is_live(docnum) else []
            self._one[docnum] = found[0] if found else None
        return self._one[docnum]

    def updated(self, store: Store, changed: set[int] | None) -> Catalog:
        """The catalog of the store's current state, given the docnums ``changed`` since this one's
        (None: unknown, read everything); the rows that did not change are carried over."""
        now = Catalog(store.docnums(), store)
        if changed is None or not self.loaded:
            return now
        rows = {d.docnum: d for d in store.documents(changed) if now.is_live(d.docnum)}
        by_num = {n: d for n, d in self.by_num.items() if n not in changed}
        if rows and min(rows) < max(by_num, default=-1):  # an edited row: keep docnum order
            by_num = dict(sorted({**by_num, **rows}.items()))
        else:
            by_num.update(rows)  # new docnums are larger than every earlier one
        now.__dict__["by_num"] = by_num
        return now

    @cached_property
    def _facets(self) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
        values_of: dict[str, list[str]] = {}
        codes_of: dict[str, np.ndarray] = {}
        docs = self.by_num.values()
        for field in FACET_FIELDS:
            values: dict[str, int] = {}
            codes = np.full(len(self.live), -1, dtype=np.int32)
            for d in docs:
                v = getattr(d, field)
                if v:
                    codes[d.docnum] = values.setdefault(v, len(values))
            values_of[field] = list(values)
            codes_of[field] = codes
        return values_of, codes_of

    @property
    def values(self) -> dict[str, list[str]]:
        """Each facet field's values; ``codes[field][docnum]`` indexes them (-1: none)."""
        return self._facets[0]

    @property
    def codes(self) -> dict[str, np.ndarray]:
        return self._facets[1]

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
