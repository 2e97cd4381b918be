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
from whoosh import query as wq

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
    live = lib.live
    keep = _filter(live, filters)

    ranked: list[tuple[int, float, bool]] = []  # (docnum, score, whole phrase)
    words: list[str] = []
    if mode in ("phrase", "auto") and not (mode == "auto" and _has_syntax(text)):
        found = lib.segments.find(fold(text))
        order = np.lexsort((found.docnums, -found.counts))
        pairs = zip(found.docnums[order].tolist(), found.counts[order].tolist())
        ranked = [(n, float(c), True) for n, c in pairs if n in live and keep(n)]
    if mode in ("words", "auto"):
        in_phrase = {n for n, _, _ in ranked}
        word_hits, words = _words_search(lib, text, filters, live, keep, strict=mode == "words")
        ranked += [(n, s, False) for n, s in word_hits if n not in in_phrase]
    total = len(ranked)
    page = ranked[offset:offset + limit]
    texts = lib.texts(n for n, _, _ in page)
    phrase_needle = fold(text)
    word_needles = sorted({fold(w) for w in words if fold(w)}, key=len, reverse=True)
    hits = [_hit(live[n], texts.get(n, ""), lib.folded(n), score,
                 [phrase_needle] if is_phrase else word_needles, is_phrase)
            for n, score, is_phrase in page]
    facets = _facets(live, [n for n, _, _ in ranked])
    return SearchResult(query, mode, total, hits, limit, offset, facets)


def _filter(live: dict[int, Document], filters: dict[str, str]):
    if not filters:
        return lambda n: True
    return lambda n: all(getattr(live[n], k) == v for k, v in filters.items())


def _has_syntax(text: str) -> bool:
    tokens = text.split()
    return any(t in ("AND", "OR", "NOT") or (":" in t and t.split(":", 1)[0] in META_FIELDS) for t in tokens)


def _positive_terms(q) -> list[str]:
    """The words of the parsed query outside NOT branches, to highlight."""
    if isinstance(q, wq.Not):
        return []
    if isinstance(q, wq.Term):
        return [q.text] if q.fieldname == "words" else []
    out = []
    for child in q.children() if hasattr(q, "children") else []:
        out.extend(_positive_terms(child))
    return out


def _words_search(lib: Library, text: str, filters: dict[str, str], live, keep, *, strict: bool):
    parser = lib.words.parser()
    try:
        q = parser.parse(text)
    except Exception as exc:  # whoosh raises assorted errors on malformed syntax
        raise BadQuery(f"无法解析的查询 (malformed query): {exc}") from exc
    if q is None or q is wq.NullQuery:
        return [], []
    if filters:
        q = wq.And([q] + [wq.Term(k, v) for k, v in filters.items()])
    searcher = lib.words.searcher()
    docmap = lib.words.docmap(searcher)
    try:
        results = searcher.search(q, limit=None, scored=True)
    except Exception as exc:
        if strict:
            raise BadQuery(f"无法执行的查询: {exc}") from exc
        return [], []
    hits = []
    for wdoc, score in zip(results.docs(), results.items()):
        n = docmap.get(wdoc)
        if n is not None and n in live and keep(n):
            hits.append((n, float(score[1])))
    return hits, _positive_terms(q)


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


def _facets(live: dict[int, Document], docnums: list[int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for f in ("unit", "year", "role", "meeting"):
        counts: dict[str, int] = {}
        for n in docnums:
            v = getattr(live[n], f)
            if v:
                counts[v] = counts.get(v, 0) + 1
        if counts:
            out[f] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:30])
    return out
