"""Searching the library: exact phrases (Ctrl-F over the archive), ranked words, or both.

- ``phrase``: a document matches if and only if its folded text contains the folded query; every
  occurrence is returned as a span of the stored text. Ranked by number of occurrences.
- ``words``: jieba words ranked by BM25 (Whoosh), with AND/OR/NOT and ``unit:``/``year:``/``role:``.
- ``auto`` (default): documents containing the whole phrase first, then those with all the words.
A query in double quotes is a phrase query whatever the mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import BadQuery
from .store import META_FIELDS, Document
from .text import fold, folded_to_stored

if TYPE_CHECKING:
    from .library import Library

MODES = ("auto", "phrase", "words")
MAX_QUERY_CHARS = 500
MAX_LIMIT = 10_000
SNIPPET_BEFORE = 40
SNIPPET_CHARS = 160
FILTER_FIELDS = ("unit", "year", "role", "meeting", "author")
_QUOTES = {('"', '"'), ("“", "”"), ("「", "」"), ("'", "'")}


@dataclass
class Hit:
    id: str
    source: str
    title: str
    metadata: dict[str, str]
    score: float
    matches: list[tuple[int, int]]
    snippet: str
    snippet_matches: list[tuple[int, int]]
    phrase: bool = False

    def to_dict(self) -> dict:
        return {
            "id": self.id, "source": self.source, "title": self.title, **self.metadata,
            "metadata": self.metadata, "score": round(self.score, 4), "phrase": self.phrase,
            "matches": [list(m) for m in self.matches], "snippet": self.snippet,
            "snippet_matches": [list(m) for m in self.snippet_matches],
        }


@dataclass
class SearchResult:
    query: str
    mode: str
    total: int
    hits: list[Hit]
    limit: int
    offset: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"query": self.query, "mode": self.mode, "total": self.total, "limit": self.limit,
                "offset": self.offset, "hits": [h.to_dict() for h in self.hits], "facets": self.facets}


def parse_query(query: str, mode: str) -> tuple[str, str]:
    """Validate the query; returns (mode, text). Quoted text is a phrase query."""
    if not isinstance(query, str):
        raise BadQuery("查询必须是文字 (query must be text)")
    if mode not in MODES:
        raise BadQuery(f"未知的检索方式 {mode!r}，可用: {', '.join(MODES)}")
    text = query.strip()
    if "\x00" in text:
        raise BadQuery("查询含有非法字符 (NUL)")
    if len(text) > MAX_QUERY_CHARS:
        raise BadQuery(f"查询过长: 最多 {MAX_QUERY_CHARS} 个字符 (query too long)")
    if len(text) >= 2 and (text[0], text[-1]) in _QUOTES:
        text, mode = text[1:-1].strip(), "phrase"
    if not fold(text):
        raise BadQuery("查询为空 (empty query)")
    return mode, text


def search(lib: Library, query: str, *, mode: str = "auto", limit: int = 20, offset: int = 0,
           filters: dict[str, str] | None = None) -> SearchResult:
    """Run a query; ``total`` is exact, ``hits`` is the page ``[offset, offset + limit)``."""
    mode, text = parse_query(query, mode)
    if not 0 <= limit <= MAX_LIMIT or offset < 0:
        raise BadQuery(f"limit 须在 0–{MAX_LIMIT} 之间，offset 不能为负")
    filters = {k: str(v) for k, v in (filters or {}).items() if v not in (None, "")}
    unknown = set(filters) - set(FILTER_FIELDS)
    if unknown:
        raise BadQuery(f"未知的筛选字段: {', '.join(sorted(unknown))}")
    catalog = lib.catalog
    mask = catalog.mask(filters)
    empty = np.zeros(0, dtype=np.int64)
    phrase_nums, phrase_counts = empty, empty
    if mode == "phrase" or (mode == "auto" and not _has_syntax(text)):
        found = lib.segments.find(fold(text))
        keep = catalog.select(found.docnums, mask)
        nums, counts = found.docnums[keep], found.counts[keep]
        order = np.lexsort((nums, -counts))
        phrase_nums, phrase_counts = nums[order], counts[order]
    ranked: list[tuple[int, float, bool]] = [
        (n, float(c), True) for n, c in zip(phrase_nums[:offset + limit].tolist(),
                                            phrase_counts[:offset + limit].tolist())]
    total, matching, words = len(phrase_nums), phrase_nums, []
    if mode in ("words", "auto"):
        word_nums, words, rank = _words_search(lib, text, mask, strict=mode == "words")
        extra = np.setdiff1d(word_nums, phrase_nums, assume_unique=True)
        total += len(extra)
        matching = np.concatenate([phrase_nums, extra])
        wanted = offset + limit - len(ranked)
        if wanted > 0 and len(extra):
            seen = set(phrase_nums.tolist())
            ranked += [(n, s, False) for n, s in rank(wanted + len(word_nums) - len(extra))
                       if n not in seen][:wanted]
    page = ranked[offset:offset + limit]
    texts = lib.texts(n for n, _, _ in page)
    phrase_needle = fold(text)
    word_needles = sorted({fold(w) for w in words if fold(w)}, key=len, reverse=True)
    live = catalog.by_num
    hits = [_hit(live[n], texts.get(n, ""), lib.folded(n), score,
                 [phrase_needle] if is_phrase else word_needles, is_phrase)
            for n, score, is_phrase in page]
    return SearchResult(query, mode, total, hits, limit, offset, catalog.facets(matching))


def _has_syntax(text: str) -> bool:
    tokens = text.split()
    return any(t in ("AND", "OR", "NOT") or (":" in t and t.split(":", 1)[0] in META_FIELDS) for t in tokens)


def _positive_terms(q) -> list[str]:
    """The words of the parsed query outside NOT branches, to highlight."""
    from whoosh import query as wq

    if isinstance(q, wq.Not):
        return []
    if isinstance(q, wq.Term):
        return [q.text] if q.fieldname == "words" else []
    out = []
    for child in q.children() if hasattr(q, "children") else []:
        out.extend(_positive_terms(child))
    return out


def _words_search(lib: Library, text: str, mask: np.ndarray, *, strict: bool):
    """All matching docnums (unranked, sorted), the words to highlight, and a ranking function."""
    from whoosh import query as wq

    parser = lib.words.parser()
    try:
        q = parser.parse(text)
    except Exception as exc:  # whoosh raises assorted errors on malformed syntax
        raise BadQuery(f"无法解析的查询 (malformed query): {exc}") from exc
    none = np.zeros(0, dtype=np.int64)
    if q is None or q is wq.NullQuery:
        return none, [], lambda k: []
    searcher = lib.words.searcher()
    wmap = lib.words.docmap(searcher)
    try:
        wdocs = np.fromiter(searcher.docs_for_query(q), dtype=np.int64)
    except Exception as exc:
        if strict:
            raise BadQuery(f"无法执行的查询: {exc}") from exc
        return none, [], lambda k: []
    nums = wmap[wdocs] if len(wdocs) else none
    nums = np.unique(nums[lib.catalog.select(nums, mask)])

    def rank(k: int) -> list[tuple[int, float]]:
        allowed = None
        if len(nums) < len(lib.catalog):
            allowed = set(np.flatnonzero(np.isin(wmap, nums)).tolist())
        results = searcher.search(q, limit=max(k, 1), filter=allowed)
        out = [(int(wmap[hit.docnum]), float(hit.score)) for hit in results]
        return [(n, s) for n, s in out if n >= 0 and n < len(mask) and mask[n]]

    return nums, _positive_terms(q), rank


def _hit(doc: Document, text: str, folded: str, score: float, needles: list[str], is_phrase: bool) -> Hit:
    spans: list[tuple[int, int]] = []
    for needle in needles:
        start = folded.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = folded.find(needle, start + len(needle))
    matches = _merge(folded_to_stored(text, sorted(spans)))
    snippet, marks = _snippet(text, matches)
    return Hit(doc.id, doc.source, doc.title, doc.metadata, score, matches, snippet, marks, is_phrase)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _snippet(text: str, matches: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """A window of the stored text around the first matches, with the matches inside it."""
    if not matches:
        return text[:SNIPPET_CHARS].replace("\n", " "), []
    start = max(0, matches[0][0] - SNIPPET_BEFORE)
    end = min(len(text), max(start + SNIPPET_CHARS, matches[0][1]))
    window = text[start:end].replace("\n", " ")
    marks = [(max(s, start) - start, min(e, end) - start) for s, e in matches if s < end and e > start]
    return window, marks
