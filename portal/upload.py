"""Upload (``/upload``, ``POST /api/documents``) and delete (``DELETE /api/documents/<id>``, admin button).

Uploaded files get a safe name (path parts, control characters and ``..`` removed, Chinese kept), are
written to a private folder under ``$DUIZHAO_DATA/uploads`` and handed to ``Library.add``, which
serializes writers on the index's file lock (any number of gunicorn workers may upload at once) and
makes a document visible only once its SQLite row is committed. A rejected file is never written to
the index; a refused request (bad ``metadata.csv``, too large) changes nothing at all.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import IO

from flask import (
    Blueprint,
    Flask,
    Request,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from indexer.errors import BadQuery, DuizhaoError
from indexer.metadata import CSV_NAME, read_metadata_csv
from indexer.readers import SUFFIXES

from .audit import audit
from .index import get_index
from .roles import requires
from .views import doc_id_arg

bp = Blueprint("upload", __name__)
ENDPOINTS = {"upload.submit", "upload.api_upload"}
UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')
MAX_NAME_BYTES = 200
STALE_SECONDS = 3600
CHUNK = 1 << 16
REPORTS_AT_ONCE = 20
STATUS_NAMES = {"added": "已加入", "replaced": "已替换旧版本", "unchanged": "库中已有，未改变",
                "rejected": "未加入"}


def safe_name(raw: str) -> str | None:
    """A file name safe to write and show: last path part, no control characters, no ``..``, CJK kept."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").split("/")[-1]
    name = "".join(" " if unicodedata.category(c).startswith("Z") else c for c in name
                   if not unicodedata.category(c).startswith("C"))
    name = UNSAFE.sub("_", name)
    name = re.sub(r"\.{2,}", ".", name).strip(" .")
    stem, dot, suffix = name.rpartition(".")
    while len(name.encode("utf-8")) > MAX_NAME_BYTES and stem:
        stem = stem[:-1]
        name = f"{stem}{dot}{suffix}"
    return name if name and name not in (".", "..") else None


def upload_dir() -> Path:
    """The private folder (0700) holding uploads while they are indexed."""
    folder = Path(current_app.config["DATA"]) / "uploads"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


class UploadRequest(Request):
    """Request bodies too large for memory spool into the private upload folder, never ``/tmp``."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return tempfile.SpooledTemporaryFile(max_size=512 * 1024, dir=upload_dir())  # type: ignore[return-value]


def clean_stale(folder: Path) -> None:
    """Remove the working folders of uploads whose worker was killed mid-way (older than an hour)."""
    cutoff = time.time() - STALE_SECONDS
    for entry in folder.glob("up-*"):
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass


def save_limited(fs: FileStorage, dest: Path, limit: int) -> bool:
    """Copy an upload to ``dest``; False (and nothing left) if it is over ``limit`` bytes."""
    size = 0
    with open(dest, "xb") as out:
        while chunk := fs.stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                break
            out.write(chunk)
    if size > limit:
        dest.unlink()
        return False
    return True


def summary(lib: object, doc_id: str) -> dict | None:
    """The copy figures of a new document, if the library can compute them (else None)."""
    report = getattr(lib, "report", None)
    if report is None:
        return None
    try:
        rep = report(doc_id)
    except (DuizhaoError, KeyError, ValueError):
        return None
    return {k: rep.get(k) for k in ("copy_ratio", "copy_ratio_with_boilerplate", "max_single_ratio")} | {
        "sources": len(rep.get("sources", []))}


def ingest_upload(files: list[FileStorage], metadata: FileStorage | None) -> list[dict]:
    """Check, store and index the uploaded files; one result per file, in the order sent."""
    cfg = current_app.config
    files = [f for f in files if f.filename]
    if not files:
        raise BadQuery("请选择要上传的文件")
    if len(files) > cfg["UPLOAD_MAX_FILES"]:
        raise BadQuery(f"一次最多上传 {cfg['UPLOAD_MAX_FILES']} 个文件")
    results: list[dict] = []
    accepted: list[tuple[dict, FileStorage]] = []
    seen: set[str] = set()
    for fs in files:
        name = safe_name(fs.filename or "")
        res = {"file": (fs.filename or "")[:300], "name": name, "status": "rejected"}
        results.append(res)
        if name and name.lower() == CSV_NAME and metadata is None:
            metadata, res["status"] = fs, "metadata"
        elif name is None:
            res["reason"] = "文件名不可用"
        elif Path(name).suffix.lower() not in SUFFIXES:
            res["reason"] = f"不支持的文件类型（可用: {', '.join(sorted(SUFFIXES))}, metadata.csv）"
        elif name.lower() in seen:
            res["reason"] = "同一批中有同名文件"
        else:
            seen.add(name.lower())
            accepted.append((res, fs))
    root = upload_dir()
    clean_stale(root)
    work = Path(tempfile.mkdtemp(prefix="up-", dir=root))
    try:
        if metadata is not None:
            check_metadata(metadata, work / CSV_NAME)
        for res, fs in list(accepted):
            if not save_limited(fs, work / res["name"], cfg["UPLOAD_MAX_FILE"]):
                res["reason"] = f"文件过大（单个文件上限 {cfg['UPLOAD_MAX_FILE'] // (1024 * 1024)} MB）"
                accepted.remove((res, fs))
        if accepted:
            lib = get_index()
            by_source = {r.source: r for r in lib.add([work]).results}
            for res, _ in accepted:
                done = by_source.get(res["name"])
                if done is None:
                    res["reason"] = "未能读取"
                    continue
                res["status"] = "rejected" if done.status == "skipped" else done.status
                if done.id:
                    res["id"] = done.id
                if done.reason:
                    res["reason"] = done.reason
            new = [r for r in results if r["status"] in ("added", "replaced")]
            for res in new:
                res["report"] = url_for("reports.report", doc_id=res["id"])
                if len(new) <= REPORTS_AT_ONCE and (figures := summary(lib, res["id"])):
                    res["figures"] = figures
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = [r for r in results if r["status"] != "metadata"]
    audit("upload", ", ".join(r["name"] or r["file"] for r in results),
          files=[{k: r.get(k) for k in ("name", "status", "id", "reason") if r.get(k)} for r in results],
          metadata=metadata is not None)
    return results


def check_metadata(fs: FileStorage, dest: Path) -> None:
    """Write the uploaded ``metadata.csv`` and read it back; a bad one refuses the whole upload."""
    if not save_limited(fs, dest, 5 * 1024 * 1024):
        raise BadQuery("metadata.csv 过大（上限 5 MB）")
    try:
        read_metadata_csv(dest)
    except (ValueError, UnicodeError, OSError) as exc:
        why = str(exc).replace(str(dest), CSV_NAME)
        raise BadQuery(f"metadata.csv 无法读取，未加入任何文件：{why}") from None


def metadata_field() -> FileStorage | None:
    """The optional ``metadata`` field: a CSV file, or the CSV as text."""
    fs = request.files.get("metadata")
    if fs is not None and fs.filename:
        return fs
    text = request.form.get("metadata", "")
    if text.strip():
        import io

        return FileStorage(io.BytesIO(text.encode("utf-8")), filename=CSV_NAME)
    return None


def counts(results: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


@bp.get("/upload")
@requires("upload")
def form() -> str:
    """The upload form."""
    return render_template("upload.html", results=None, suffixes=sorted(SUFFIXES))


@bp.post("/upload")
@requires("upload")
def submit() -> ResponseReturnValue:
    """Upload from the form; the same page with a result line per file."""
    results = ingest_upload(request.files.getlist("files"), metadata_field())
    status = 422 if any(r["status"] == "rejected" for r in results) else 200
    return render_template("upload.html", results=results, counts=counts(results), suffixes=sorted(SUFFIXES),
                           status_names=STATUS_NAMES), status


@bp.post("/api/documents")
@requires("upload")
def api_upload() -> ResponseReturnValue:
    """Multipart ``files`` (one or more) and optional ``metadata``; 200, or 422 if any file was rejected."""
    results = ingest_upload(request.files.getlist("files"), metadata_field())
    status = 422 if any(r["status"] == "rejected" for r in results) else 200
    return jsonify({"results": results, "counts": counts(results)}), status


def delete_document(doc_id: str) -> dict:
    """Remove a document from the library and record who did."""
    doc = get_index().remove(doc_id_arg(doc_id))
    audit("delete", doc.id, title=doc.title, source=doc.source)
    return doc.to_dict()


@bp.delete("/api/documents/<doc_id>")
@requires("delete")
def api_delete(doc_id: str) -> ResponseReturnValue:
    return jsonify({"removed": delete_document(doc_id)})


@bp.post("/documents/<doc_id>/delete")
@requires("delete")
def delete(doc_id: str) -> ResponseReturnValue:
    """The admin's delete button on a document page."""
    doc = delete_document(doc_id)
    flash(f"已删除材料：{doc.get('title') or doc['id']}")
    return redirect(url_for("documents.listing"))


def init_app(app: Flask) -> None:
    """Spool big request bodies into the private upload folder; tell the gate which views take uploads."""
    app.request_class = UploadRequest
    app.config["UPLOAD_ENDPOINTS"] = ENDPOINTS
