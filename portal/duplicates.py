"""Corpus overview (``/duplicates``): pairs by shared characters, clusters, repeated passages."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from .audit import audit
from .index import detection, get_index

bp = Blueprint("duplicates", __name__)
WAIT_SECONDS = 10.0  # then the page says it is still computing and refreshes itself


def duplicates_context() -> dict:
    """``lib.duplicates`` for the request's unit/year filter (the ``indexer compare --json`` shape)."""
    unit = request.args.get("unit", "").strip() or None
    year = request.args.get("year", "").strip() or None
    duplicates = detection("duplicates")
    audit("duplicates", None, unit=unit, year=year)
    filters = {k: v for k, v in (("unit", unit), ("year", year)) if v}
    out = duplicates(unit=unit, year=year, wait=WAIT_SECONDS)
    if out is None:  # a large library takes a while: computed in the background, page refreshes
        return {"status": "computing", "retry_after": 5, "filters": filters,
                "documents": [], "pairs": [], "boilerplate": [], "clusters": []}
    return {**out, "filters": filters}


@bp.get("/duplicates")
def overview() -> tuple[str, int]:
    """The overview page, with the unit/year choices of the whole library."""
    ctx = duplicates_context()
    facets = get_index().stats().get("facets", {})
    status = 202 if ctx.get("status") == "computing" else 200
    return render_template("duplicates.html", dup=ctx, facets=facets), status
