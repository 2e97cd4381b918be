"""The documents list: the search page's filters, sorting, paging, and each material's 复制比.

The 复制比 shown here comes from the cached whole-corpus compare (``Library.compare(wait=False)``):
the share of a material's characters inside passages it shares with other materials (copying and
少量雷同 pairs; reuse of one's own material and boilerplate excluded). Listing never starts a
compare: without a cached one the column says so and the overview page computes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from indexer.errors import BadQuery

SORTS: dict[str, str] = {"added": "加入时间", "ratio": "复制比", "year": "年度", "unit": "单位",
                         "chars": "字数", "title": "标题"}
DEFAULT_SORT = "added"
ORDERS = ("asc", "desc")
COPY_TIERS = ("pairs", "minor_pairs")

_lock = threading.Lock()
_ratios: dict[str, tuple[object, dict[str, float]]] = {}  # index path -> (compare result, ratios)


def copy_ratios(lib: Any) -> dict[str, float] | None:
    """Each material's 复制比 from the cached corpus compare (None when none is cached yet)."""
    compare = getattr(lib, "compare", None)
    if compare is None:
        return None
    result = compare(wait=False)
    if not isinstance(result, dict):
        return None
    key = str(getattr(lib, "path", id(lib)))
    with _lock:
        cached = _ratios.get(key)
        if cached is not None and cached[0] is result:
            return cached[1]
    ratios = ratios_of(result, {d.id: d.chars for d in lib.live.values()})
    with _lock:
        _ratios[key] = (result, ratios)
    return ratios


def ratios_of(result: dict, chars: dict[str, int]) -> dict[str, float]:
    """Covered characters / characters for every material of ``chars``, from a compare result: its
    ``covered_chars`` (normalized characters, the unit of 字数) where the compare recorded them;
    otherwise (a Spark or older result) the stored-text characters its passages cover."""
    recorded = {d["id"]: d["covered_chars"] for d in result.get("documents") or [] if "covered_chars" in d}
    spans: dict[str, list[tuple[int, int]]] = {}
    for tier in COPY_TIERS:
        for pair in result.get(tier) or []:
            for passage in pair.get("passages") or []:
                for side in ("a", "b"):
                    s, e = passage[side]
                    spans.setdefault(pair[side], []).append((int(s), int(e)))
    out = {doc_id: 0.0 for doc_id in chars}
    for doc_id, covered in recorded.items():
        if chars.get(doc_id):
            out[doc_id] = min(1.0, covered / chars[doc_id])
    for doc_id, runs in spans.items():
        if not chars.get(doc_id) or doc_id in recorded:
            continue
        covered, end = 0, -1
        for s, e in sorted(runs):
            if e > end:
                covered += e - max(s, end)
                end = e
        out[doc_id] = min(1.0, covered / chars[doc_id])
    return out


def sort_key(sort: str, ratios: dict[str, float] | None) -> Callable[[Any], Any]:
    """The key of one sort column (a value of None sorts last whatever the order)."""
    if sort == "ratio":
        return lambda d: None if ratios is None else ratios.get(d.id)
    if sort == "chars":
        return lambda d: d.chars
    if sort == "added":
        return lambda d: (d.added, d.docnum)
    return lambda d: getattr(d, sort) or None


def page_of(lib: Any, *, filters: dict[str, str], sort: str = DEFAULT_SORT, order: str = "asc",
            limit: int = 50, offset: int = 0) -> dict:
    """A page of the library's materials (metadata, 复制比) filtered, sorted, with facet counts."""
    if sort not in SORTS:
        raise BadQuery(f"未知的排序方式“{sort[:20]}”，可用：{'、'.join(SORTS.values())}")
    if order not in ORDERS:
        raise BadQuery("排序方向只能是升序或降序")
    catalog = lib.catalog
    nums = np.flatnonzero(catalog.mask(filters))
    docs = [catalog.by_num[int(n)] for n in nums]
    ratios = copy_ratios(lib)
    key = sort_key(sort, ratios)
    present = [d for d in docs if key(d) is not None]
    missing = [d for d in docs if key(d) is None]
    present.sort(key=key, reverse=order == "desc")
    page = (present + missing)[offset:offset + limit]
    documents = []
    for d in page:
        item = d.to_dict()
        item["copy_ratio"] = None if ratios is None else ratios.get(d.id)
        documents.append(item)
    return {"total": len(docs), "limit": limit, "offset": offset, "sort": sort, "order": order,
            "filters": filters, "facets": catalog.facets(nums), "ratios_ready": ratios is not None,
            "documents": documents}


def find(lib: Any, query: str, *, limit: int = 10) -> list[dict]:
    """Materials whose title, unit, author or id contain ``query`` (the compare page's picker):
    title matches first, then unit, author and id; newest first within each."""
    q = query.strip().lower()
    if not q:
        return []
    ranked: list[tuple[int, float, Any]] = []
    for d in lib.live.values():
        fields = (d.title, d.unit, d.author, d.id)
        rank = next((i for i, v in enumerate(fields) if v and q in v.lower()), None)
        if rank is not None:
            ranked.append((rank, -d.added, d))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [{"id": d.id, "title": d.title, "unit": d.unit, "author": d.author, "year": d.year,
             "chars": d.chars} for _, _, d in ranked[:limit]]
