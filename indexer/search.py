"""Searching the library: exact phrases (Ctrl-F over the archive), ranked words, or both.

- ``phrase``: a document matches if and only if its folded text contains the folded query; every
  occurrence is returned as a span of the stored text. Ranked by number of occurrences.
- ``words``: jieba words ranked by BM25 (Whoosh), with AND/OR/NOT and ``unit:``/``year:``/``role:``.
- ``auto`` (default): documents containing the whole phrase first, then those with all the words.
A query in double quotes is a phrase query whatever the mode.
"""

from __future__ import annotations

import re
import time
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
MAX_QUERY_TERMS = 64  # words and filters in one word query
QUERY_SECONDS = 2.0  # time budget of the word part of one query (matching and ranking)
RANGE_FIELDS = ("year",)  # the only field a [a TO b] range may be asked of: a handful of terms
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
    name: str = ""  # the file name shown to people (``source`` is a path or ``upload:…``)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "source": self.source, "name": self.name, "title": self.title, **self.metadata,
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
    phrase_total: int | None = None  # documents containing the whole phrase (None: not looked for)

    def to_dict(self) -> dict:
        return {"query": self.query, "mode": self.mode, "total": self.total, "limit": self.limit,
                "offset": self.offset, "phrase_total": self.phrase_total,
                "hits": [h.to_dict() for h in self.hits], "facets": self.facets}


def parse_query(query: str, mode: str) -> tuple[str, str]:
    """Validate the query; returns (mode, text). Quoted text is a phrase query."""
    if not isinstance(query, str):
        raise BadQuery("查询必须是文字。")
    if mode not in MODES:
        raise BadQuery(f"未知的检索方式“{mode[:20]}”，可用：{'、'.join(MODES)}")
    text = query.strip()
    if "\x00" in text:
        raise BadQuery("查询含有非法的空字符。")
    if len(text) > MAX_QUERY_CHARS:
        raise BadQuery(f"查询过长：最多 {MAX_QUERY_CHARS} 个字符。")
    if len(text) >= 2 and (text[0], text[-1]) in _QUOTES:
        text, mode = text[1:-1].strip(), "phrase"
    if not fold(text):
        raise BadQuery("查询为空。")
    if mode == "words":
        check_word_syntax(text)
    return mode, text


_WORD_TOKEN = re.compile(r"[()]|[^\s()]+")
_OPERATORS = ("AND", "OR", "NOT")


def check_word_syntax(text: str) -> None:
    """A words-mode query whose syntax is malformed (unpaired brackets, an operator with nothing to
    join, an empty field filter) is refused with the reason, rather than silently matching nothing."""
    example = "例如：巡视 AND 整改 NOT 形式主义 year:2021"
    for opening, closing in (("(", ")"), ("[", "]"), ("{", "}")):
        depth = 0
        for ch in text:
            depth += (ch == opening) - (ch == closing)
            if depth < 0:
                break
        if depth:
            raise BadQuery(f"词语检索的写法有误：括号“{opening}{closing}”没有配对。{example}")
    tokens = _WORD_TOKEN.findall(text)
    for i, tok in enumerate(tokens):
        before = tokens[i - 1] if i else None
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok in ("AND", "OR") and (before in (None, "(", *_OPERATORS) or after in (None, ")", "AND", "OR")):
            raise BadQuery(f"词语检索的写法有误：{tok} 的两边都要有检索词。{example}")
        if tok == "NOT" and after in (None, ")", "AND", "OR"):
            raise BadQuery(f"词语检索的写法有误：NOT 后面要有检索词。{example}")
        if tok == "(" and after == ")":
            raise BadQuery(f"词语检索的写法有误：括号里没有检索词。{example}")
        field_name, colon, value = tok.partition(":")
        if colon and field_name in META_FIELDS and not value and after in (None, ")", *_OPERATORS):
            raise BadQuery(f"词语检索的写法有误：{field_name}: 后面要写筛选的值。{example}")
    if not any(t not in ("(", ")", *_OPERATORS) for t in tokens):
        raise BadQuery(f"词语检索的写法有误：没有要检索的词。{example}")


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
    looked = mode == "phrase" or (mode == "auto" and not _has_syntax(text))
    return SearchResult(query, mode, total, hits, limit, offset, catalog.facets(matching),
                        phrase_total=len(phrase_nums) if looked else None)


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
    """All matching docnums (unranked, sorted), the words to highlight, and a ranking function.

    The query is parsed by Whoosh, then checked (``check_word_query``): only words and the filter
    fields, year ranges only, at most ``MAX_QUERY_TERMS`` terms; matching and ranking together get
    ``QUERY_SECONDS``. Whoosh's own messages are never shown."""
    from whoosh import query as wq
    from whoosh.collectors import FilterCollector, TimeLimit, TimeLimitCollector

    _refuse_unsearchable_fields(lib, text)
    try:
        q = lib.words.parser().parse(text)
    except Exception as exc:  # whoosh raises assorted errors on malformed syntax
        raise BadQuery(MALFORMED) from exc
    none = np.zeros(0, dtype=np.int64)
    if q is None or q is wq.NullQuery:
        return none, [], lambda k: []
    check_word_query(q)
    deadline = time.monotonic() + QUERY_SECONDS
    searcher = lib.words.searcher()
    wmap = lib.words.docmap(searcher)
    scored = _scored(lib, searcher, q, wmap, mask, deadline)
    if scored is not None:  # the usual query: matched and ranked at once over posting arrays
        nums, scores = scored
        order = np.lexsort((nums, -scores))
        unique, first = np.unique(nums[order], return_index=True)
        if len(unique) < len(nums):  # one material twice in Whoosh: its best score counts
            order = order[np.sort(first)]

        def ranked(k: int) -> list[tuple[int, float]]:
            top = order[:k]
            return list(zip(nums[top].tolist(), scores[top].tolist()))

        return unique, _positive_terms(q), ranked
    try:
        wdocs = np.fromiter(_until(searcher.docs_for_query(q), deadline), dtype=np.int64)
    except BadQuery:
        raise
    except Exception as exc:
        if strict:
            raise BadQuery(MALFORMED) from exc
        return none, [], lambda k: []
    nums = wmap[wdocs] if len(wdocs) else none
    nums = np.unique(nums[lib.catalog.select(nums, mask)])

    def rank(k: int) -> list[tuple[int, float]]:
        allowed = None
        if len(nums) < len(lib.catalog):
            allowed = set(np.flatnonzero(np.isin(wmap, nums)).tolist())
        left = deadline - time.monotonic()
        if left <= 0:
            raise BadQuery(TOO_SLOW)
        # the filter outermost: a TimeLimitCollector around a FilterCollector runs its child's
        # matches itself and so never applied the filter (pages of a filtered query came out short)
        collector = TimeLimitCollector(searcher.collector(limit=max(k, 1)), timelimit=left)
        if allowed is not None:
            collector = FilterCollector(collector, allow=allowed)
        try:
            searcher.search_with_collector(q, collector)
        except TimeLimit:
            raise BadQuery(TOO_SLOW) from None
        out = [(int(wmap[hit.docnum]), float(hit.score)) for hit in collector.results()]
        return [(n, s) for n, s in out if n >= 0 and n < len(mask) and mask[n]]

    return nums, _positive_terms(q), rank


def _scored(lib: Library, searcher, q, wmap: np.ndarray, mask: np.ndarray, deadline: float):
    """Every document matching ``q`` with its BM25 score, Whoosh's own figures (its BM25F with the
    same idf, average length, quantized lengths and weights), computed over posting arrays: our
    docnums (live, in ``mask``) and scores; None when the query has parts this does not evaluate
    (ranges, other weightings), which Whoosh then runs itself.

    Whoosh scores a posting at a time in Python: a query of common words ("政治站位 整改落实" matches
    8,376 of 10,000 materials) took 0.3 s to rank; here it is a few array operations per word."""
    from whoosh import scoring

    weighting = searcher.weighting
    if type(weighting) is not scoring.BM25F or "words" in weighting._field_B or not _plain(q):
        return None
    size = len(wmap)
    lengths = lib.words.lengths(searcher)
    avgfl = searcher.avg_field_length("words") or 1
    B, K1 = weighting.B, weighting.K1

    def term(node) -> tuple[np.ndarray, np.ndarray]:
        if time.monotonic() > deadline:
            raise BadQuery(TOO_SLOW)
        ids, weights = lib.words.postings(searcher, node.fieldname, node.text)
        matched = np.zeros(size, dtype=bool)
        score = np.zeros(size, dtype=np.float64)
        keep = ids < size
        ids, weights = ids[keep], weights[keep]
        matched[ids] = True
        if not len(ids):  # (no idf either: an empty index has none)
            return matched, score
        if node.fieldname == "words":
            idf = searcher.idf("words", node.text)
            score[ids] = idf * ((weights * (K1 + 1)) / (weights + K1 * ((1 - B) + B * lengths[ids] / avgfl)))
        else:  # a filter field is not scorable: Whoosh adds the posting's weight
            score[ids] = weights
        return matched, score

    def evaluate(node) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(node, wq.Term):
            return term(node)
        if isinstance(node, wq.Not):  # Whoosh's inverse matcher scores 1.0 where it matches
            matched, _ = evaluate(node.query)
            return ~matched, (~matched).astype(np.float64)
        if isinstance(node, wq.And):
            parts = []
            for child in node.children():  # an And with a part matching nothing matches nothing
                parts.append(evaluate(child))
                if not parts[-1][0].any():
                    return parts[-1][0], parts[-1][1]
            matched = np.logical_and.reduce([m for m, _ in parts])
        else:
            parts = [evaluate(child) for child in node.children()]
            matched = np.logical_or.reduce([m for m, _ in parts])
        score = np.zeros(size, dtype=np.float64)
        for m, sc in parts:
            score += np.where(m, sc, 0.0)
        return matched, score

    from whoosh import query as wq

    matched, score = evaluate(q)
    wdocs = np.flatnonzero(matched)
    nums = wmap[wdocs]
    keep = lib.catalog.select(nums, mask) & (nums >= 0)
    return nums[keep], score[wdocs[keep]]


def _plain(q) -> bool:
    """``q`` is made of terms under And, Or and Not only (with no boosts, scaling or minimum
    match), with at least one term outside a Not: what ``_scored`` evaluates as Whoosh would."""
    from whoosh import query as wq

    def ok(node, negated: bool) -> tuple[bool, bool]:  # (evaluable, has a positive term)
        if getattr(node, "boost", 1.0) != 1.0:
            return False, False
        if type(node) is wq.Term:
            return True, not negated
        if type(node) is wq.Not:
            good, _ = ok(node.query, True)
            return good, False
        if type(node) is wq.And or (type(node) is wq.Or and not node.minmatch and node.scale is None):
            results = [ok(child, negated) for child in node.children()]
            if not results:
                return False, False
            return all(g for g, _ in results), any(p for _, p in results)
        return False, False

    good, positive = ok(q, False)
    return good and positive


MALFORMED = "无法理解这个词语检索的写法。例如：巡视 AND 整改 NOT 形式主义 year:2021"
TOO_SLOW = f"查询过于复杂，超过 {QUERY_SECONDS:g} 秒的时间上限；请减少词语或加上筛选条件。"
_FIELD = re.compile(r"(?<![\w:])(\w+):")


def _refuse_unsearchable_fields(lib: Library, text: str) -> None:
    """Refuse ``title:x``, ``id:…`` and other schema fields that are stored but not for searching
    (Whoosh would answer with an internal message); unknown names are plain words, as in Whoosh."""
    known = set(lib.words.ix.schema.names())
    for name in _FIELD.findall(text):
        if name in known and name != "words" and name not in FILTER_FIELDS:
            raise BadQuery(_unsearchable(name))


def _unsearchable(name: str) -> str:
    return f"不能按“{name[:20]}”字段检索；可用的字段：{'、'.join(FILTER_FIELDS)}。"


def check_word_query(q) -> None:
    """Refuse what would make a word query expensive or meaningless: ranges over words, "every
    document" (``*:*``), prefixes, wildcards and fuzzy terms, fields that are not searchable, and more
    than ``MAX_QUERY_TERMS`` terms. Raises ``BadQuery`` with a Chinese reason."""
    from whoosh import query as wq

    terms = 0
    for node in _walk(q):
        if isinstance(node, (wq.TermRange, wq.NumericRange, wq.DateRange)):
            if node.fieldname not in RANGE_FIELDS:
                raise BadQuery("不支持按词语范围检索；范围只能用于年度，如 year:[2019 TO 2021]。")
            terms += 1
        elif isinstance(node, wq.Every):
            raise BadQuery("不支持匹配全部材料的查询（*:*）；请输入要找的词语。")
        elif isinstance(node, (wq.Prefix, wq.Wildcard, wq.FuzzyTerm, wq.Regex, wq.Variations)):
            raise BadQuery("不支持通配符、前缀或模糊检索；请输入完整的词语，或用引号检索原文片段。")
        elif isinstance(node, wq.Term):
            if node.fieldname != "words" and node.fieldname not in FILTER_FIELDS:
                raise BadQuery(_unsearchable(node.fieldname))
            terms += 1
        if terms > MAX_QUERY_TERMS:
            raise BadQuery(f"查询中的词语过多：最多 {MAX_QUERY_TERMS} 个。")


def _walk(q):
    """``q`` and every query inside it, depth first."""
    stack = [q]
    while stack:
        node = stack.pop()
        yield node
        if hasattr(node, "children"):
            stack.extend(node.children())


def _until(docs, deadline: float):
    """The docnums of ``docs``, refusing the query once ``deadline`` has passed."""
    for i, doc in enumerate(docs):
        if not i & 4095 and time.monotonic() > deadline:
            raise BadQuery(TOO_SLOW)
        yield doc


def _hit(doc: Document, text: str, folded: str, score: float, needles: list[str], is_phrase: bool) -> Hit:
    spans: list[tuple[int, int]] = []
    for needle in needles:
        start = folded.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = folded.find(needle, start + len(needle))
    matches = _merge(folded_to_stored(text, sorted(spans)))
    snippet, marks = _snippet(text, matches)
    return Hit(doc.id, doc.source, doc.title, doc.metadata, score, matches, snippet, marks, is_phrase,
               doc.display_name)


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
