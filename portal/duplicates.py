"""Corpus overview (``/duplicates``): pairs by shared characters, clusters, repeated passages."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from .audit import audit
from .index import detection, get_index

bp = Blueprint("duplicates", __name__)


def duplicates_context() -> dict:
    """``lib.duplicates`` for the request's unit/year filter (the ``indexer compare --json`` shape)."""
    unit = request.args.get("unit", "").strip() or None
    year = request.args.get("year", "").strip() or None
    duplicates = detection("duplicates")
    audit("duplicates", None, unit=unit, year=year)
    out = duplicates(unit=unit, year=year)
    return {**out, "filters": {k: v for k, v in (("unit", unit), ("year", year)) if v}}


@bp.get("/duplicates")
def overview() -> str:
    """The overview page, with the unit/year choices of the whole library."""
    ctx = duplicates_context()
    facets = get_index().stats().get("facets", {})
    return render_template("duplicates.html", dup=ctx, facets=facets)
