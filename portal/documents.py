"""Documents: the list (``/documents``), one material (``/documents/<id>``) with its text marked, its
earlier versions, and the changes people make to a material: a new version ("上传新版本",
``PUT /api/documents/<id>``) and metadata edits (the page's form, ``PATCH /api/documents/<id>``).

Roles: inspectors and admins edit metadata; a new version may come from an admin or from the user
who uploaded the material (no role below admin changes another user's material). Every change is
audited, and a replaced version stays in the library (not searchable), listed on the page.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from indexer.errors import BadQuery
from indexer.readers import SUFFIXES
from indexer.search import parse_query
from indexer.store import EDITABLE
from indexer.text import fold, folded_to_stored
from indexer.words import words

from .audit import audit
from .index import get_index
from .listing import DEFAULT_SORT, page_of
from .roles import requires
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
    versions = getattr(get_index(), "versions", None)
    out["versions"] = [v.to_dict() for v in versions(doc.id)] if versions else []
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
    user = g.get("user")
    return render_template("document.html", doc=doc, report=report,
                           may_replace=user is not None and may_replace(user, doc),
                           may_edit=user is not None and user.can("upload"),
                           suffixes=sorted(SUFFIXES))


@bp.get("/documents/<doc_id>/versions/<int:number>")
def version(doc_id: str, number: int) -> str:
    """An earlier version of a material: its text as it was, not searchable."""
    lib = get_index()
    doc = lib.resolve(doc_id_arg(doc_id))
    old = lib.version(doc.id, number)
    audit("view", doc.id, title=doc.title, version=number)
    return render_template("version.html", doc=doc.to_dict(), old=old.to_dict(with_text=True))


# -- new versions --------------------------------------------------------------------------------

def may_replace(user, doc: dict) -> bool:
    """Admins may put a new version of any material; others only of the materials they uploaded."""
    return user.can("delete") or (user.can("upload") and bool(doc.get("uploader"))
                                  and doc.get("uploader") == user.name)


def new_version(doc_id: str, fs: FileStorage | None) -> dict:
    """Store the uploaded file as the new version of a material (roles checked); the result and the
    material as it is now. A refused file changes nothing."""
    from .upload import safe_name, save_limited

    lib = get_index()
    doc = lib.resolve(doc_id_arg(doc_id)).to_dict()
    if not may_replace(g.user, doc):
        abort(403)
    name = safe_name(fs.filename or "") if fs is not None else None
    if fs is None or not fs.filename:
        raise BadQuery("请选择新版本的文件")
    if name is None or Path(name).suffix.lower() not in SUFFIXES:
        raise BadQuery(f"不支持的文件类型（可用：{'、'.join(sorted(SUFFIXES))}）")
    limit = current_limit()
    scratch = Path(current_app.config["DATA"]) / "uploads"  # private (0700), never /tmp
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ver-", dir=scratch))
    try:
        if not save_limited(fs, work / name, limit):
            raise BadQuery(f"文件过大，单个文件上限 {limit // (1024 * 1024)} MB。")
        result = lib.replace(doc["id"], work / name, name=name, user=g.user.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    now = lib.resolve(doc["id"])
    out = {"status": result.status, "id": doc["id"], "name": name, "version": now.version}
    if result.reason:
        out["reason"] = result.reason
    if result.status == "replaced":
        audit("replace", doc["id"], title=now.title, name=name, old_version=doc["version"],
              new_version=now.version, old_name=doc.get("name"), uploader=doc.get("uploader"))
    return {"result": out, "document": now.to_dict()}


def current_limit() -> int:
    return int(current_app.config["UPLOAD_MAX_FILE"])


@bp.post("/documents/<doc_id>/version")
@requires("upload")
def upload_version(doc_id: str) -> ResponseReturnValue:
    """The "上传新版本" form on a material's page."""
    done = new_version(doc_id, request.files.get("file"))["result"]
    if done["status"] == "replaced":
        flash(f"已上传新版本（第 {done['version']} 版）：{done['name']}；旧版本已保留")
    elif done["status"] == "unchanged":
        flash("新文件与当前版本内容相同，未改变")
    else:
        flash(f"未能上传新版本：{done.get('reason') or '无法读取'}")
    return redirect(url_for("documents.show", doc_id=done["id"]))


@bp.put("/api/documents/<doc_id>")
@requires("upload")
def api_replace(doc_id: str) -> ResponseReturnValue:
    """Multipart ``file``: the material's new version. 200 (``replaced`` or ``unchanged``), 422 if
    the file cannot be read, 403 for someone else's material (unless admin)."""
    body = new_version(doc_id, request.files.get("file"))
    return jsonify(body), 422 if body["result"]["status"] == "skipped" else 200


# -- metadata --------------------------------------------------------------------------------------

def edit_metadata(doc_id: str, values: dict) -> dict:
    """Change a material's title and metadata fields given in ``values`` (audited)."""
    values = {k: v for k, v in values.items() if k in EDITABLE}
    if not values:
        raise BadQuery(f"请给出要修改的字段：{'、'.join(EDITABLE)}")
    if not all(v is None or isinstance(v, str) for v in values.values()):
        raise BadQuery("字段的值须为文字")
    lib = get_index()
    before = lib.resolve(doc_id_arg(doc_id))
    after = lib.update_metadata(before.id, user=g.user.name, **values)
    changed = {k: [getattr(before, k), getattr(after, k)] for k in EDITABLE
               if getattr(before, k) != getattr(after, k)}
    if changed:
        audit("metadata", after.id, title=after.title, changes=changed)
    return {"document": after.to_dict(), "changed": sorted(changed)}


@bp.post("/documents/<doc_id>/metadata")
@requires("upload")
def metadata_form(doc_id: str) -> ResponseReturnValue:
    """The metadata form on a material's page (every field is sent; empty clears it)."""
    done = edit_metadata(doc_id, {k: request.form.get(k, "") for k in EDITABLE if k in request.form})
    flash("元数据已更新" if done["changed"] else "元数据没有变化")
    return redirect(url_for("documents.show", doc_id=done["document"]["id"]))


@bp.patch("/api/documents/<doc_id>")
@requires("upload")
def api_metadata(doc_id: str) -> ResponseReturnValue:
    """JSON ``{"unit": "…", "year": "…", …}``: the fields to change (``""`` or null clears one)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadQuery("请求体须为 JSON 对象")
    return jsonify(edit_metadata(doc_id, body))
