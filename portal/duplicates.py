"""Corpus overview (``/duplicates``): pairs by shared characters, clusters, repeated passages."""

from __future__ import annotations

import json
import os
import time
from urllib.parse import quote

import numpy as np
from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from indexer.errors import BadQuery

from .audit import audit
from .index import detection, get_index
from .jobs import job_queue, public
from .roles import requires
from .views import attachment, int_arg, url_with

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


# -- the API's pages (``/api/duplicates``) and the complete result (``/api/duplicates.json``) ----------

API_LIMIT = 50  # items of each list per API answer, by default
API_MAX_LIMIT = 1000
LISTS = ("documents", "pairs", "minor_pairs", "own_pairs", "boilerplate", "clusters")
MAPS = ("web_traces", "stock_usage")  # {document or phrase: list}: paged by their keys


def api_page(ctx: dict) -> dict:
    """One page of the overview for the API (``?offset=&limit=``): every list of the compare
    result (``documents``, ``pairs``, ``minor_pairs``, ``own_pairs``, ``boilerplate``, ``clusters``)
    and every map (``web_traces``, ``stock_usage``) cut to ``[offset, offset + limit)``, and the
    lists inside their items to ``limit`` (a passage of boilerplate occurs in thousands of
    materials: its ``occurrences``, with ``occurrences_total`` beside). ``page`` says the totals
    and links to the next and previous pages and to the complete result, streamed from the cache.
    The 10,000-material compare is 95 MB of JSON: sent whole it took seconds and held it twice."""
    limit = int_arg("limit", API_LIMIT, lo=1, hi=API_MAX_LIMIT)
    offset = int_arg("offset", 0)
    out = {k: v for k, v in ctx.items() if k not in LISTS and k not in MAPS}
    totals: dict[str, int] = {}
    for key in LISTS:
        if key in ctx:
            items = ctx[key]
            totals[key] = len(items)
            out[key] = items[offset:offset + limit]
    out["boilerplate"] = [{**b, "occurrences": b.get("occurrences", [])[:limit],
                           "occurrences_total": len(b.get("occurrences", []))}
                          for b in out.get("boilerplate", [])]
    stock_totals = {}
    for key in MAPS:
        if key in ctx:
            whole = ctx[key]
            totals[key] = len(whole)
            keys = list(whole)[offset:offset + limit]
            out[key] = {k: whole[k][:limit] for k in keys}
            if key == "stock_usage":
                stock_totals = {k: len(whole[k]) for k in keys}
    if "listing" in out:
        out["listing"] = {**out["listing"], "web_traces": out.get("web_traces", {})}
    more = offset + limit < max(totals.values(), default=0)
    unit, year = ctx.get("filters", {}).get("unit"), ctx.get("filters", {}).get("year")
    out["page"] = {
        "offset": offset, "limit": limit, "max_limit": API_MAX_LIMIT, "totals": totals,
        "stock_usage_totals": stock_totals,
        "next": url_with(offset=offset + limit, limit=limit) if more else None,
        "previous": url_with(offset=max(0, offset - limit), limit=limit) if offset > 0 else None,
        "complete": url_for("api.duplicates_complete", unit=unit, year=year),
    }
    return out


def complete_answer() -> Response | tuple:
    """The whole overview as one JSON document, streamed: the cached compare file itself when no
    unit or year is asked for (never loaded), else the filtered result encoded piece by piece."""
    unit = request.args.get("unit", "").strip() or None
    year = request.args.get("year", "").strip() or None
    lib = get_index()
    opener = getattr(lib, "cached_compare_file", None)
    fh = opener() if opener is not None and not unit and not year else None
    if fh is None:
        ctx = duplicates_context()
        if ctx.get("status") == "computing":
            return jsonify(ctx), 202, {"Retry-After": str(ctx["retry_after"])}
        if ctx.get("status") == "failed":
            return jsonify({**ctx, "code": "compare_failed"}), 500
        fh = opener() if opener is not None and not unit and not year else None
        if fh is None:
            whole = {k: v for k, v in ctx.items() if k != "listing"}
            return _download(Response(_encoded(whole), mimetype="application/json"))
    else:
        audit("duplicates", None, complete=True)
    resp = send_file(fh, mimetype="application/json", conditional=False, max_age=0)
    resp.content_length = os.fstat(fh.fileno()).st_size
    return _download(resp)


def _download(resp: Response) -> Response:
    resp.headers["Content-Disposition"] = attachment("重复总览.json", "duplicates")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _encoded(obj: dict, chunk: int = 1 << 16):
    """``obj`` as UTF-8 JSON in pieces of about ``chunk`` bytes (never the whole text at once)."""
    parts: list[str] = []
    size = 0
    for piece in json.JSONEncoder(ensure_ascii=False).iterencode(obj):
        parts.append(piece)
        size += len(piece)
        if size >= chunk:
            yield "".join(parts).encode("utf-8")
            parts, size = [], 0
    if parts:
        yield "".join(parts).encode("utf-8")


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


@bp.post("/duplicates/import")
@requires("users")
def import_spark() -> ResponseReturnValue:
    """An admin loads a Spark compare result (a folder on the server, ``indexer compare --import``)
    into the overview; it is checked against the library's materials and detection options first."""
    from indexer.spark.result import ResultMismatch, import_result

    folder = request.form.get("result", "").strip()
    if not folder:
        flash("请填写 Spark 比对结果所在的文件夹（服务器上的路径）", "error")
        return redirect(url_for("duplicates.overview"))
    try:
        info = import_result(get_index(), folder)
    except ResultMismatch as exc:
        audit("compare_import", folder, imported=False)
        flash(f"未导入：{exc}", "error")
    else:
        audit("compare_import", folder, imported=True, documents=info["documents"], pairs=info["pairs"])
        flash(f"已导入 Spark 比对结果：{info['documents']} 份材料，{info['pairs']} 对抄袭，"
              f"{info['boilerplate']} 段套话")
    return redirect(url_for("duplicates.overview"))
