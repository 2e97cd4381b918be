"""The JSON API: the same context functions as the pages, returned as JSON."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from .documents import document_context, documents_context
from .duplicates import api_page, complete_answer, duplicates_context
from .index import get_index
from .listing import find
from .reports import compare_context, report_context
from .search import search_context
from .views import int_arg

bp = Blueprint("api", __name__)
MAX_PICK_QUERY = 100


@bp.get("/api/search")
def search() -> ResponseReturnValue:
    return jsonify(search_context())


@bp.get("/api/documents")
def documents() -> ResponseReturnValue:
    return jsonify(documents_context())


@bp.get("/api/documents/find")
def find_documents() -> ResponseReturnValue:
    """Materials by title, unit, author or id (the compare page's picker): ``?q=…&limit=10``."""
    q = request.args.get("q", "")[:MAX_PICK_QUERY]
    limit = int_arg("limit", 10, lo=1, hi=50)
    return jsonify({"query": q, "documents": find(get_index(), q, limit=limit)})


@bp.get("/api/documents/<doc_id>")
def document(doc_id: str) -> ResponseReturnValue:
    return jsonify(document_context(doc_id))


@bp.get("/api/documents/<doc_id>/report")
def report(doc_id: str) -> ResponseReturnValue:
    return jsonify(report_context(doc_id))


@bp.get("/api/compare")
def compare() -> ResponseReturnValue:
    return jsonify(compare_context())


@bp.get("/api/duplicates")
def duplicates() -> ResponseReturnValue:
    """One page of the overview (``?offset=&limit=``, see ``duplicates.api_page``)."""
    ctx = duplicates_context()
    if ctx.get("status") == "computing":
        return jsonify(ctx), 202, {"Retry-After": str(ctx["retry_after"])}
    if ctx.get("status") == "failed":
        return jsonify({**ctx, "code": "compare_failed"}), 500
    return jsonify(api_page(ctx))


@bp.get("/api/duplicates.json")
def duplicates_complete() -> ResponseReturnValue:
    """The complete overview as one download, streamed (see ``duplicates.complete_answer``)."""
    return complete_answer()


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness plus the library's size (opens the index, so a broken index fails here)."""
    return jsonify({"status": "ok", "documents": len(get_index())})
