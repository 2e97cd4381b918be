"""Corpus overview (``/duplicates``): pairs by shared characters, clusters, repeated passages."""

from __future__ import annotations

import time
from urllib.parse import quote

import numpy as np
from flask import Blueprint, render_template, request, url_for
from markupsafe import Markup, escape

from indexer.errors import BadQuery

from .audit import audit
from .index import detection, get_index
from .jobs import job_queue, public
from .views import int_arg

bp = Blueprint("duplicates", __name__)
WAIT_SECONDS = 2.0  # a small library's compare finishes while the request waits; else progress is shown
RETRY_AFTER = 3  # seconds between refreshes of the page while the compare job works


def start_compare():
    """The compare job of the library's current state (started if needed); None when the library
    computes its overview itself (a stand-in without jobs) or it is cached already."""
    lib = get_index()
    if not hasattr(lib, "cache_key"):
        return None
    queue = job_queue()
    job = queue.start_compare(lib)
    deadline = time.monotonic() + WAIT_SECONDS
    while job is not None and job.active and time.monotonic() < deadline:
        time.sleep(0.1)
        job = queue.get(job.id)
    return job


def duplicates_context() -> dict:
    """``lib.duplicates`` for the request's unit/year filter (the ``indexer compare --json`` shape);
    while the compare job works, ``status: computing`` and its progress (``job``)."""
    unit = request.args.get("unit", "").strip() or None
    year = request.args.get("year", "").strip() or None
    duplicates = detection("duplicates")
    audit("duplicates", None, unit=unit, year=year)
    filters = {k: v for k, v in (("unit", unit), ("year", year)) if v}
    out = duplicates(unit=unit, year=year, wait=False)
    if out is None:  # computed by a job in its own process; the page follows its progress
        job = start_compare()
        out = duplicates(unit=unit, year=year, wait=False)
        if out is None:
            empty = {"documents": [], "pairs": [], "boilerplate": [], "clusters": [], "filters": filters}
            if job is not None and job.state == "failed":
                return {**empty, "status": "failed", "error": job.error, "job": public(job)}
            return {**empty, "status": "computing", "retry_after": RETRY_AFTER,
                    "job": public(job) if job is not None else None}
    return {**out, "filters": filters, "listing": listing(out)}


TIERS = {"copying": ("pairs", "抄袭"), "minor": ("minor_pairs", "少量雷同"),
         "own": ("own_pairs", "与本人往年材料重复")}
PAGE = 50


def _ratio_arg(name: str) -> float | None:
    raw = request.args.get(name, "").strip().rstrip("%")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadQuery(f"参数 {name} 须为 0–100 之间的百分数") from None
    if not 0 <= value <= 100:
        raise BadQuery(f"参数 {name} 须为 0–100 之间的百分数")
    return value / 100


def listing(out: dict) -> dict:
    """One page of one tier's pairs (``?tier=copying|minor|own&min_ratio=&max_ratio=&offset=``) and
    one page of the clusters (``?coffset=``): every pair and cluster reachable, none cut off."""
    tier = request.args.get("tier", "copying")
    if tier not in TIERS:
        raise BadQuery("tier 只能是 copying、minor 或 own")
    lo, hi = _ratio_arg("min_ratio"), _ratio_arg("max_ratio")
    pairs = [p for p in out.get(TIERS[tier][0], [])
             if (lo is None or p.get("similarity", 0) >= lo) and (hi is None or p.get("similarity", 0) <= hi)]
    offset, coffset = int_arg("offset", 0), int_arg("coffset", 0)
    clusters = out.get("clusters", [])
    return {"tier": tier, "tier_name": TIERS[tier][1], "min_ratio": lo, "max_ratio": hi,
            "counts": {t: len(out.get(key, [])) for t, (key, _) in TIERS.items()},
            "pairs": pairs[offset:offset + PAGE], "total": len(pairs), "offset": offset, "limit": PAGE,
            "clusters": clusters[coffset:coffset + PAGE], "clusters_total": len(clusters),
            "coffset": coffset, "web_traces": out.get("web_traces", {})}


def doc_links(lib, listing: dict) -> dict[str, Markup]:
    """A link to each material named on one page of the overview (its pairs, clusters and web
    traces), keyed by id: made here once rather than by a template macro per mention (a page of
    clusters names a thousand materials)."""
    ids = {i for p in listing.get("pairs", []) for i in (p["a"], p["b"])}
    ids.update(i for c in listing.get("clusters", []) for i in c["documents"])
    ids.update(listing.get("web_traces", {}))
    base = url_for("documents.show", doc_id="~")[:-1]  # ids are URL-safe hex; quoted anyway
    by_id = lib.catalog.by_id
    links = {}
    for i in ids:
        doc = by_id.get(i)
        title = (doc.title if doc is not None else "") or i[:12]
        links[i] = Markup(f'<a href="{escape(base + quote(i, safe=""))}">{escape(title)}</a>')
    return links


def unit_year_choices(lib) -> dict[str, dict[str, int]]:
    """Every unit and year of the library with its count (the overview's filter choices), from the
    catalog's arrays: ``Library.stats`` would also walk the index folder for its disk size."""
    catalog = lib.catalog
    return catalog.facets(np.flatnonzero(catalog.live), top=None, fields=("unit", "year"))


@bp.get("/duplicates")
def overview() -> tuple[str, int]:
    """The overview page, with the unit/year choices of the whole library."""
    ctx = duplicates_context()
    lib = get_index()
    links = doc_links(lib, ctx["listing"]) if ctx.get("listing") else {}
    status = {"computing": 202, "failed": 500}.get(ctx.get("status"), 200)
    return render_template("duplicates.html", dup=ctx, facets=unit_year_choices(lib), links=links), status
