"""Helpers shared by the views: request parameters, URL building and template filters."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Flask, current_app, request, url_for

from indexer.errors import BadQuery, DocumentNotFound
from indexer.store import file_name

from . import charts, highlight

FACETS = ("unit", "year", "role", "meeting")
FACET_NAMES = {"unit": "单位", "year": "年度", "role": "职务", "meeting": "会议", "author": "作者"}
MODE_NAMES = {"auto": "智能", "phrase": "短语", "words": "词语"}
MAX_OFFSET = 1_000_000
MAX_ID = 128
URL_PARAMS = ("q", "mode", *FACETS, "offset", "limit", "a", "b", "user", "action", "from", "to",
              "sort", "order", "kind", "tier", "min_ratio", "max_ratio", "coffset", "format")


def int_arg(name: str, default: int, *, lo: int = 0, hi: int = MAX_OFFSET) -> int:
    """An integer query parameter in ``[lo, hi]``; anything else is a ``BadQuery`` (400)."""
    raw = request.args.get(name, "")
    if raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"参数 {name} 须为整数") from None
    if not lo <= value <= hi:
        raise BadQuery(f"参数 {name} 须在 {lo}–{hi} 之间")
    return value


def page_size() -> int:
    return int(current_app.config["PAGE_SIZE"])


def filters_arg() -> dict[str, str]:
    """The facet filters of the request (unit, year, role, meeting), non-empty ones only."""
    return {f: request.args[f].strip() for f in FACETS if request.args.get(f, "").strip()}


def doc_id_arg(value: str) -> str:
    """A document id from the URL (length-capped; the library says whether it exists)."""
    value = (value or "").strip()
    if not value or len(value) > MAX_ID:
        raise DocumentNotFound(value[:MAX_ID])
    return value


def url_with(**changes: Any) -> str:
    """This page's URL with some query parameters changed (``None`` removes one)."""
    args = {k: v for k, v in request.args.items() if k in URL_PARAMS and v != ""}
    for key, value in changes.items():
        args.pop(key, None)
        if value not in (None, ""):
            args[key] = value
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def pct(value: float | None, digits: int = 1) -> str:
    """0.1234 → '12.3%'."""
    return "—" if value is None else f"{100 * float(value):.{digits}f}%"


def when(value: float | None) -> str:
    """A UNIX time as local ``2026-11-22 08:08``."""
    return "—" if not value else datetime.fromtimestamp(float(value)).strftime("%Y-%m-%d %H:%M")


def attachment(name: str, fallback: str) -> str:
    """``Content-Disposition`` of a download named ``name`` (Chinese titles included): RFC 6266
    ``filename*`` in UTF-8, and an ASCII ``filename`` made of ``fallback`` for old clients."""
    stem, _, ext = name.rpartition(".")
    stem = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', "_", stem).strip(" ._")[:120] or fallback
    ext = re.sub(r"[^A-Za-z0-9]", "", ext)[:8] or "bin"
    plain = re.sub(r"[^A-Za-z0-9_-]", "", fallback)[:16] or "download"
    utf8 = quote(f"{stem}.{ext}", safe="")
    return f"attachment; filename=\"duizhao-{plain}.{ext}\"; filename*=UTF-8''{utf8}"


def init_app(app: Flask) -> None:
    """Make the helpers available in templates."""
    app.jinja_env.globals.update(
        url_with=url_with, pieces=highlight.pieces, Mark=highlight.Mark, spans_marks=highlight.spans_marks,
        markdown_marks=highlight.markdown_marks,
        edit_sides=highlight.edit_sides, source_colours=highlight.source_colours,
        FACETS=FACETS, FACET_NAMES=FACET_NAMES, MODE_NAMES=MODE_NAMES, overview_charts=charts.overview_charts,
    )
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["pct"] = pct
    app.jinja_env.filters["file_name"] = file_name
    app.jinja_env.filters["when"] = when
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
