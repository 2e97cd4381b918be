"""Search (``/``): one box, phrase/words/auto, facet filters with counts, paged hits."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from indexer.errors import BadQuery
from indexer.search import MAX_LIMIT, MODES

from .audit import audit
from .index import get_index
from .views import filters_arg, int_arg, page_size

bp = Blueprint("search", __name__)


def search_context() -> dict:
    """The search of this request as JSON-ready data (also what ``/api/search`` returns)."""
    q = request.args.get("q", "")
    mode = request.args.get("mode", "auto") or "auto"
    if mode not in MODES:
        raise BadQuery(f"未知的检索方式“{mode[:20]}”，可用：{'、'.join(MODES)}")
    limit = int_arg("limit", page_size(), lo=0, hi=MAX_LIMIT)
    offset = int_arg("offset", 0)
    filters = filters_arg()
    result = get_index().search(q, mode=mode, limit=limit, offset=offset, filters=filters).to_dict()
    result["filters"] = filters
    audit("search", q, mode=mode, filters=filters, total=result["total"], offset=offset)
    return result


@bp.get("/")
def index() -> str:
    """The search page; without a query, the empty box and what the library holds."""
    if not request.args.get("q", "").strip():
        stats = get_index().stats()
        return render_template("search.html", result=None, stats=stats)
    result = search_context()
    return render_template("search.html", result=result, stats=None)
