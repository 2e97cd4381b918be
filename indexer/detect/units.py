"""Sentence units and their rewrite-robust features: the representation of the second seeding stage.

A unit is a sentence of the normalized text (boundaries are the original text's 。！？；!?; and line
breaks), with a too-short sentence joined to the next and a too-long one cut at its commas. Its
features survive the edits a copier makes (Sanchez-Perez, Sidorov & Gelbukh, PAN 2014, on words;
here on characters, which need no segmenter):

- bigrams of the normalized text's Chinese characters (traditional folded to simplified, width
  folded), with every digit and Chinese numeral (0-9, 〇一二…十, 两, 第) folded to one sign, so renumbered
  list markers and full-width digits change nothing;
- a bigram that is a 同义词词林 word is replaced by the word's synonym classes, and a three-character
  word adds its classes, so 帮助/关心 or 推动/推进 give the same feature.

Clause swaps keep the bag of features, fillers and OCR errors only remove or add a few of them.
Everything is numpy over code points: a document's units cost well under a millisecond per
thousand characters.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from indexer.detect.lexicon import CLASS_BASE, Lexicon, cilin
from indexer.detect.normalize import Normalized
from indexer.detect.options import DetectOptions

_SENTENCE_END = "。！？；!?;\n"
_CLAUSE_END = "，,：:、"
_DIGITS = "0123456789〇零一二三四五六七八九十两第"
_DIGIT_SIGN = ord("#")
_BIGRAM_END = np.int64(1) << np.int64(42)  # two code points of 21 bits


@dataclass(frozen=True)
class Units:
    """A document's units: normalized spans [start, end) and their features as unique (feature
    code, unit) rows, sorted so, with the feature's count in the unit."""

    starts: np.ndarray
    ends: np.ndarray
    unit: np.ndarray  # unit number of each feature row
    code: np.ndarray  # feature code (int64)
    count: np.ndarray  # occurrences of the feature in the unit
    first: np.ndarray  # normalized position of its first occurrence in the unit
    last: np.ndarray  # ... and of its last
    # sentence ends (normalized positions) inside units too: where a short sentence was joined
    breaks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.starts)

    @cached_property
    def by_code(self) -> ByCode:
        """The feature rows grouped by feature, computed once per document (a corpus compare pairs
        one document with many)."""
        code, unit, count, order = self.code, self.unit, self.count, None
        if len(code) and (code[1:] < code[:-1]).any():  # ``features`` gives them by feature already
            order = np.argsort(code, kind="stable")
            code, unit, count = code[order], unit[order], count[order]
        head = np.flatnonzero(_heads(code))
        df = np.diff(np.append(head, len(code)))
        return ByCode(code[head], head, df, unit, 1 + np.log(count), order,
                      np.bincount(self.unit, minlength=len(self.starts)))


@dataclass(frozen=True)
class ByCode:
    """A document's feature rows ordered by feature: for each distinct feature its first row and the
    number of units carrying it; per row the unit, the log term frequency and the row in ``Units``."""

    codes: np.ndarray  # distinct feature codes, ascending
    head: np.ndarray  # first row of each
    df: np.ndarray  # units carrying each (rows are unique per unit and feature)
    unit: np.ndarray
    logtf: np.ndarray  # 1 + log(count)
    row: np.ndarray | None  # the row in Units (None: the same rows, no copies kept)
    size: np.ndarray  # features per unit

    @cached_property
    def feature(self) -> np.ndarray:
        """Per row, the index of its feature in ``codes``."""
        return np.repeat(np.arange(len(self.codes)), self.df)

    @cached_property
    def by_unit(self) -> np.ndarray:
        """The rows grouped by unit (by feature within a unit); unit u's are ``unit_head[u]`` on."""
        if len(self.size) <= 1 << 16:  # a radix sort
            return np.argsort(self.unit.astype(np.uint16), kind="stable")
        return np.argsort(self.unit, kind="stable")

    @cached_property
    def keyed(self) -> np.ndarray | None:
        """Per distinct feature, its code (class codes right above bigram codes, as ``features`` sorts
        them) and its index in the low 19 bits: two documents' features meet in one sort (None when
        the codes or their number do not fit)."""
        codes = self.codes
        mid = np.searchsorted(codes, _BIGRAM_END)  # bigram codes below, class codes from CLASS_BASE on
        if len(codes) >= 1 << 19 or (len(codes) and (codes[0] < 0 or codes[-1] >= CLASS_BASE + _BIGRAM_END
                                                     or (mid < len(codes) and codes[mid] < CLASS_BASE))):
            return None
        code = np.where(codes >= CLASS_BASE, codes - CLASS_BASE + _BIGRAM_END, codes)
        return (code << np.int64(20)) | np.arange(len(code))

    @cached_property
    def unit_head(self) -> np.ndarray:
        return np.cumsum(self.size) - self.size


_SENTENCE, _LINE, _CLAUSE, _DIGIT = 1, 2, 4, 8


@lru_cache(maxsize=1)
def _flags() -> np.ndarray:
    """A lookup table over the BMP (and one more entry for every other code point): the marks above."""
    table = np.zeros(0x10001, dtype=np.uint8)
    for chars, flag in ((_SENTENCE_END, _SENTENCE), ("\n", _LINE), (_CLAUSE_END, _CLAUSE), (_DIGITS, _DIGIT)):
        table[[ord(c) for c in chars]] |= flag
    return table


def _flagged(cps: np.ndarray) -> np.ndarray:
    return _flags()[np.minimum(cps, 0x10000)]


def _runs_once(x: np.ndarray) -> np.ndarray:
    """A non-decreasing array without repeats."""
    return x[_heads(x)] if len(x) else x


def _heads(x: np.ndarray) -> np.ndarray:
    """Where a sorted array's runs of equal values start (as a mask)."""
    new = np.empty(len(x), dtype=bool)
    new[:1] = True
    np.not_equal(x[1:], x[:-1], out=new[1:])
    return new


def _marks(norm: Normalized) -> tuple[np.ndarray, np.ndarray]:
    """The sentence and clause marks of the original text: the normalized position after each (where
    a unit may end) and its flags. One pass serves ``unit_spans`` and ``sentence_ends``."""
    cps = np.frombuffer(norm.original.encode("utf-32-le"), dtype=np.uint32)
    flags = _flagged(cps)
    at = np.flatnonzero((flags & (_SENTENCE | _CLAUSE)) != 0)
    return np.searchsorted(norm.offsets, at), flags[at]


def unit_spans(norm: Normalized, opts: DetectOptions) -> tuple[np.ndarray, np.ndarray]:
    """Unit spans of a normalized text: sentences, short ones joined to the next one in their
    paragraph, long ones cut at clauses."""
    if len(norm) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z
    return _spans(len(norm), *_marks(norm), opts)


def _spans(n: int, after: np.ndarray, kind: np.ndarray, opts: DetectOptions) -> tuple[np.ndarray, np.ndarray]:
    cuts = _runs_once(after[(kind & _SENTENCE) != 0])
    cuts = np.append(cuts[(cuts > 0) & (cuts < n)], n)
    lo, hi = opts.unit_min_chars, opts.unit_max_chars
    lines = _runs_once(after[(kind & _LINE) != 0])  # a unit never spans two paragraphs
    short = np.diff(cuts, prepend=0) < lo
    if len(lines):
        short &= lines[np.minimum(np.searchsorted(lines, cuts), len(lines) - 1)] != cuts
    short[-1] = False
    cuts = cuts[~short]  # short: joins the next
    if len(cuts) >= 2 and cuts[-1] - cuts[-2] < lo:  # a short tail joins the unit before it
        cuts = np.append(cuts[:-2], n)
    starts = np.empty(len(cuts), dtype=np.int64)
    starts[0] = 0
    starts[1:] = cuts[:-1]
    long = np.flatnonzero(cuts - starts > hi)
    if not len(long):
        return starts, cuts.astype(np.int64)
    clause = _runs_once(after[(kind & _CLAUSE) != 0]).tolist()
    extra = []
    for s, e in zip(starts[long].tolist(), cuts[long].tolist(), strict=True):
        while e - s > hi:  # too long: cut at the last clause end that leaves a unit of >= lo
            k = bisect_right(clause, min(s + hi, e - lo)) - 1
            s = clause[k] if k >= 0 and clause[k] >= s + lo else s + hi
            extra.append(s)
    cuts = np.unique(np.concatenate([cuts, np.array(extra, dtype=np.int64)])).astype(np.int64)
    return np.concatenate([[0], cuts[:-1]]).astype(np.int64), cuts


def sentence_ends(norm: Normalized) -> np.ndarray:
    """Normalized positions after each sentence end of the original text (units join short sentences:
    these are all of them)."""
    return _ends(*_marks(norm))


def _ends(after: np.ndarray, kind: np.ndarray) -> np.ndarray:
    return _runs_once(after[(kind & _SENTENCE) != 0]).astype(np.int64)


def clause_ends(norm: Normalized) -> np.ndarray:
    """Normalized positions after each clause or sentence end of the original text (，、：；。 …)."""
    return _runs_once(_marks(norm)[0]).astype(np.int64)


def canonical_codepoints(text: str) -> np.ndarray:
    """Code points of a normalized text with digits and numerals folded to one sign."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    cps[(_flagged(cps) & _DIGIT) != 0] = _DIGIT_SIGN
    return cps


def feature_rows(norm: Normalized, opts: DetectOptions, lexicon: Lexicon | None = None,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(unit starts, unit ends, and per feature occurrence: unit, code, position), not deduplicated."""
    return _rows(norm, *unit_spans(norm, opts), opts, lexicon)[:5]


def _rows(norm: Normalized, starts: np.ndarray, ends: np.ndarray, opts: DetectOptions,
          lexicon: Lexicon | None) -> tuple[np.ndarray, ...]:
    """``feature_rows``, and the unit of every position."""
    cps = canonical_codepoints(norm.text)
    n = len(cps)
    z = np.zeros(0, dtype=np.int64)
    if n < 2 or not len(starts):
        return starts, ends, z, z, z, z
    han = (cps >= 0x3400) | (cps == _DIGIT_SIGN)  # Latin letters and codes: too little text per bigram
    pos = np.flatnonzero(han[:-1] & han[1:])
    code = (cps[pos] << np.int64(21)) | cps[pos + 1]
    if opts.unit_synonyms:
        lex = lexicon if lexicon is not None else cilin()
        p2, c2, p3, c3 = lex.classes_2_3(cps, code, pos)  # the bigrams just packed (Chinese ones only)
        word = np.zeros(n, dtype=bool)
        word[p2] = True
        plain = ~word[pos]
        pos = np.concatenate([pos[plain], p2, p3])
        code = np.concatenate([code[plain], CLASS_BASE + c2, CLASS_BASE + c3])
    unit_id = np.repeat(np.arange(len(starts) + 1), np.diff(ends, prepend=0, append=n + 1))  # units tile it
    unit_of = unit_id[pos]
    inside = unit_id[np.minimum(pos + 1, n)] == unit_of  # a bigram never spans two units
    return starts, ends, unit_of[inside], code[inside], pos[inside], unit_id


def features(norm: Normalized, opts: DetectOptions, lexicon: Lexicon | None = None) -> Units:
    """The units of a normalized text and each unit's feature bag."""
    marks = _marks(norm)
    spans = _spans(len(norm), *marks, opts) if len(norm) else unit_spans(norm, opts)
    starts, ends, unit_of, code, pos, unit_id = _rows(norm, *spans, opts, lexicon)
    breaks = _ends(*marks)
    if not len(code):
        z = np.zeros(0, dtype=np.int64)
        return Units(starts, ends, z, z, z, z, z, breaks)
    if len(norm) < 1 << 20:
        # One int64 key (code, position) sorts faster than a lexsort: bigram codes take 42 bits, class
        # codes go right above them. Units are runs of positions, so the rows come by (code, unit),
        # each (code, unit) with its positions in order: its first and last need no reduction.
        key = (np.where(code >= CLASS_BASE, code - CLASS_BASE + _BIGRAM_END, code) << np.int64(20)) | pos
        key.sort()
        pos = key & np.int64((1 << 20) - 1)
        code = key >> np.int64(20)
        unit_of = unit_id[pos]
        new = _heads(code) | _heads(unit_of)
        first = np.flatnonzero(new)
        last = np.append(first[1:], len(key)) - 1
        code = code[first]
        code = np.where(code >= _BIGRAM_END, code - _BIGRAM_END + CLASS_BASE, code)
        return Units(starts, ends, unit_of[first], code, np.diff(np.append(first, len(key))), pos[first],
                     pos[last], breaks)
    order = np.lexsort((unit_of, code))
    unit_of, code, pos = unit_of[order], code[order], pos[order]
    first = np.flatnonzero(_heads(unit_of) | _heads(code))
    count = np.diff(np.append(first, len(code)))
    return Units(starts, ends, unit_of[first], code[first], count, np.minimum.reduceat(pos, first),
                 np.maximum.reduceat(pos, first), breaks)
