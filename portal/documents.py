"""Documents: the list (``/documents``) and one document (``/documents/<id>``) with its text marked."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from indexer.search import parse_query
from indexer.text import fold, folded_to_stored
from indexer.words import words

from .audit import audit
from .index import get_index
from .listing import DEFAULT_SORT, page_of
from .views import doc_id_arg, filters_arg, int_arg

bp = Blueprint("documents", __name__)
SYNTAX = {"AND", "OR", "NOT"}


def documents_context() -> dict:
    """A page of the library's documents: the search page's filters, ``sort``/``order`` and each
    material's 复制比 from the cached corpus compare (``portal.listing``)."""
    limit = int_arg("limit", 50, lo=0, hi=1000)
    offset = int_arg("offset", 0)
    filters = filters_arg()
    ctx = page_of(get_index(), filters=filters, sort=request.args.get("sort") or DEFAULT_SORT,
                  order=request.args.get("order") or "asc", limit=limit, offset=offset)
    audit("list", None, offset=offset, limit=limit, filters=filters or None, sort=ctx["sort"])
    return ctx


def query_matches(text: str, query: str, mode: str) -> list[list[int]]:
    """Where ``query`` matches ``text``, as stored-text spans (as search would mark them).

    Portal-side adapter until the library offers matches for one document: the whole phrase
    (folded), else in words/auto mode each positive word of the query.
    """
    mode, q = parse_query(query, mode)
    folded = fold(text)
    needles = [fold(q)]
    if mode != "phrase" and needles[0] not in folded:
        terms = [t for t in q.split() if t not in SYNTAX and ":" not in t]
        needles = sorted({fold(w) for w in words(" ".join(terms)) if fold(w)}, key=len, reverse=True)
    spans: list[tuple[int, int]] = []
    for needle in needles:
        start = folded.find(needle)
        while start >= 0 and len(spans) < 10_000:
            spans.append((start, start + len(needle)))
            start = folded.find(needle, start + len(needle))
    merged: list[list[int]] = []
    for s, e in folded_to_stored(text, sorted(spans)):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return merged


def document_context(doc_id: str) -> dict:
    """One document with its text; with ``q`` (and ``mode``) in the request, where it matches."""
    doc = get_index().get(doc_id_arg(doc_id))
    out = doc.to_dict(with_text=True)
    out["metadata"] = doc.metadata
    audit("view", doc.id, title=doc.title, source=doc.source, query=request.args.get("q") or None)
    q = request.args.get("q", "")
    if q.strip():
        out["query"] = q
        out["matches"] = query_matches(doc.text or "", q, request.args.get("mode", "auto") or "auto")
    return out


@bp.get("/documents")
def listing() -> str:
    """All documents, paged."""
    ctx = documents_context()
    return render_template("documents.html", **ctx)


@bp.get("/documents/<doc_id>")
def show(doc_id: str) -> str:
    """Metadata and full text: search matches highlighted, copied passages marked by source."""
    doc = document_context(doc_id)
    lib = get_index()
    report = lib.report(doc["id"]) if hasattr(lib, "report") else None
    return render_template("document.html", doc=doc, report=report)
