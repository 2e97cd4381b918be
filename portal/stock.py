"""The 套话 library page (``/stock``): every stock phrase and recurring passage with how many
materials carry it and which; admins add or remove the library's own phrases (audited). Reports and
the overview follow at once (their caches are keyed by the phrase list)."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from indexer import stocklist

from .audit import audit
from .duplicates import start_compare
from .index import get_index
from .roles import requires
from .views import int_arg

bp = Blueprint("stock", __name__)
PAGE = 100


def stock_context() -> dict:
    lib = get_index()
    kind = request.args.get("kind", "").strip()
    offset = int_arg("offset", 0)
    compare = lib.duplicates(wait=False)
    if compare is None:  # the compare job computes it; a small library is scanned meanwhile
        start_compare()  # waits briefly for a small library's job: read what it left
        compare = lib.duplicates(wait=False)
    phrases = stocklist.usage(lib, compare) or []
    if kind:
        phrases = [p for p in phrases if p["kind"] == kind]
    titles = {d.id: d.title for d in lib.live.values()}
    recurring = []
    for b in (compare or {}).get("boilerplate", []):
        docs = sorted({o["doc"] for o in b["occurrences"]})
        recurring.append({"text": b["text"], "documents": docs})
    return {"phrases": phrases[offset:offset + PAGE], "total": len(phrases), "offset": offset, "limit": PAGE,
            "kind": kind, "recurring": recurring, "computing": compare is None, "titles": titles}


@bp.get("/stock")
@requires("read")
def index() -> str:
    return render_template("stock.html", ctx=stock_context())


@bp.get("/api/stock")
@requires("read")
def api_index() -> ResponseReturnValue:
    ctx = stock_context()
    ctx.pop("titles")
    return jsonify(ctx)


@bp.post("/stock/add")
@requires("users")
def add() -> ResponseReturnValue:
    phrase = stocklist.add_phrase(get_index(), request.form.get("phrase", ""))
    audit("stock_add", phrase)
    flash(f"已加入套话：{phrase}")
    return redirect(url_for("stock.index"))


@bp.post("/stock/remove")
@requires("users")
def remove() -> ResponseReturnValue:
    phrase = stocklist.remove_phrase(get_index(), request.form.get("phrase", ""))
    audit("stock_remove", phrase)
    flash(f"已删除套话：{phrase}")
    return redirect(url_for("stock.index"))
