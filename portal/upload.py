"""Upload (``/upload``, ``POST /api/documents``) and delete (``DELETE /api/documents/<id>``, admin button).

Uploaded files get a safe name (path parts, control characters and ``..`` removed, Chinese kept), are
written (fsynced) to a private scratch folder under ``$DUIZHAO_DATA/uploads`` and the request answers
at once: an ``upload`` job (``indexer.jobs``, in its own process) adds them with the library, which
serializes writers on the index's file lock and makes a material visible only once its SQLite row is
committed. The page and ``GET /api/jobs/<id>`` follow the job file by file, so no request waits for
reading, indexing or reports. A rejected file is never written to the index; a refused request (bad
``metadata.csv``, too large) changes nothing at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import IO

from flask import (
    Blueprint,
    Flask,
    Request,
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

from indexer.errors import BadQuery, DuizhaoError
from indexer.jobs import Job
from indexer.limits import size_text
from indexer.metadata import CSV_NAME, read_metadata_csv
from indexer.readers import SUFFIXES
from indexer.uploads import FINAL, counts

from . import multipart
from .audit import audit
from .index import get_index
from .jobs import job_queue, public, scratch_dir, visible_job
from .roles import requires
from .views import doc_id_arg

bp = Blueprint("upload", __name__)
ENDPOINTS = {"upload.submit", "upload.api_upload", "documents.upload_version", "documents.api_replace"}
UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')
MAX_NAME_BYTES = 200
CHUNK = 1 << 16
MAX_LATE_ROWS = 2000
STATUS_NAMES = {"added": "已加入", "replaced": "新版本，已替换旧版本", "unchanged": "库中已有，未改变",
                "updated": "元数据已更新",
                "rejected": "未加入", "queued": "等待处理", "reading": "正在读取"}


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


class UploadRequest(Request):
    """Request bodies too large for memory spool into the private upload folder, never ``/tmp``."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return tempfile.SpooledTemporaryFile(max_size=512 * 1024, dir=scratch_dir())  # type: ignore[return-value]


def save_limited(fs: FileStorage, dest: Path, limit: int) -> bool:
    """Copy an upload to ``dest`` and flush it to disk; False (and nothing left) if over ``limit`` bytes."""
    size = 0
    with open(dest, "xb") as out:
        while chunk := fs.stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                break
            out.write(chunk)
        if size <= limit:
            out.flush()
            os.fsync(out.fileno())
    if size > limit:
        dest.unlink()
        return False
    return True


def fsync_dir(folder: Path) -> None:
    """Make the folder's entries (the stored files' names) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_files(files: list[FileStorage], metadata: FileStorage | None
                ) -> tuple[list[dict], list[tuple[dict, FileStorage]], FileStorage | None]:
    """One result per file sent (``queued`` or ``rejected`` with a reason), the accepted files, and
    the ``metadata.csv`` (given apart or among the files)."""
    cfg = current_app.config
    files = [f for f in files if f.filename]
    if not files and metadata is None:  # a metadata.csv alone updates materials already in
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
            res["reason"] = f"不支持的文件类型，可用：{'、'.join(sorted(SUFFIXES))}、metadata.csv"
        elif name.lower() in seen:
            res["reason"] = "同一批中有同名文件"
        else:
            seen.add(name.lower())
            res["status"] = "queued"
            accepted.append((res, fs))
    return results, accepted, metadata


def ingest_upload(files: list[FileStorage], metadata: FileStorage | None) -> Job:
    """Check and store the uploaded files, then start the job that adds them to the library.

    Returns once the files are on disk (fsynced): from then on the upload is acknowledged and never
    lost — the job adds them (see ``indexer.uploads``) and is restarted if its process dies. A refused
    request (bad ``metadata.csv``, nothing usable) stores nothing.
    """
    cfg = current_app.config
    results, accepted, metadata = check_files(files, metadata)
    queue = job_queue()
    user = g.get("user")
    job = queue.create("upload", state="receiving", owner=user.name if user else None, message="正在接收文件")
    work = scratch_dir() / f"job-{job.id}"
    try:
        work.mkdir(mode=0o700)
        if metadata is not None:
            check_metadata(metadata, work / CSV_NAME)
        for res, fs in list(accepted):
            if not save_limited(fs, work / res["name"], cfg["UPLOAD_MAX_FILE"]):
                res.update(status="rejected",
                           reason=f"文件过大，单个文件上限 {size_text(cfg['UPLOAD_MAX_FILE'])}")
                accepted.remove((res, fs))
        names = {res["name"] for res, _ in accepted}
        late = late_metadata(work / CSV_NAME, names) if metadata is not None else []
        fsync_dir(work)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)
        queue.fail(job.id, str(exc) if isinstance(exc, DuizhaoError) else "上传未完成，没有加入任何文件。")
        raise
    results = [r for r in results if r["status"] != "metadata"] + late
    # identity: every uploaded file is its own material, whatever its name (see indexer.store)
    params = {"folder": str(work), "files": results,
              "sources": {res["name"]: f"upload:{job.id}/{res['name']}" for res, _ in accepted}}
    body = {"results": results, "counts": counts(results)}
    if accepted:
        queue.update(job.id, state="queued", heartbeat=time.time(), params=params, result=body,
                     total=len(accepted), message="已收到文件，等待处理")
    else:
        shutil.rmtree(work, ignore_errors=True)
        queue.update(job.id, state="done", params=params, result=body, finished=time.time(), pid=None,
                     message="没有可加入的文件")
    if accepted:
        try:
            queue.launch(job.id)
        except (OSError, subprocess.SubprocessError):
            pass  # the files are stored: the job is started again on the next request (recover)
    job = queue.get(job.id)
    if job.active:  # the outcome is audited when someone first sees it finished (report_outcome)
        audit("upload", ", ".join(r["name"] or r["file"] for r in results), job=job.id, accepted=True,
              files=[{k: r.get(k) for k in ("name", "status", "reason") if r.get(k)} for r in results],
              metadata=metadata is not None)
    report_outcome(job)
    return job


def report_outcome(job: Job) -> None:
    """Audit a finished upload's per-file outcome, once (by whoever first sees it finished)."""
    if job.active or not job_queue().mark_reported(job.id):
        return
    results = (job.result or {}).get("results") or []
    audit("upload", ", ".join(r.get("name") or r.get("file") or "" for r in results), job=job.id,
          user=job.owner, finished=True, error=job.error,
          files=[{k: r.get(k) for k in ("name", "status", "id", "reason") if r.get(k)} for r in results])


def upload_view(job: Job) -> dict:
    """An upload job as the page and the API show it: the job, one result per file, counts."""
    results = [dict(r) for r in ((job.result or {}).get("results") or job.params.get("files") or [])]
    for res in results:
        if job.state == "failed" and res["status"] not in FINAL:
            res.update(status="rejected", reason=job.error or "后台任务出错")
        if res.get("id") and res["status"] in ("added", "replaced"):
            res["report"] = url_for("reports.report", doc_id=res["id"])
    return {"job": public(job), "results": results, "counts": counts(results)}


def answer_status(job: Job) -> int:
    """202 while the job works, then 200, or 422 when a file was rejected."""
    if job.active:
        return 202
    return 422 if any(r["status"] == "rejected" for r in upload_view(job)["results"]) else 200


def late_metadata(csv_path: Path, names: set[str]) -> list[dict]:
    """Rows of an uploaded ``metadata.csv`` that name no file of this upload describe materials
    already in the library (by id or file name): update them now, one result per row."""
    rows = read_metadata_csv(csv_path)
    late = {k: v for k, v in rows.items() if k not in names and k.rsplit("/", 1)[-1] not in names}
    if not late:
        return []
    if len(late) > MAX_LATE_ROWS:
        raise BadQuery(f"metadata.csv 一次最多更新 {MAX_LATE_ROWS} 份已有材料")
    user = g.get("user")
    with get_index().writer(user=user.name if user else None) as w:
        done = w.apply_metadata(late)
    out = []
    for r in done:
        res = {"file": r.path, "name": r.path, "status": "rejected" if r.status == "skipped" else r.status}
        if r.id:
            res["id"] = r.id
        if r.reason:
            res["reason"] = r.reason
        out.append(res)
    if any(r["status"] == "updated" for r in out):
        audit("metadata", ", ".join(r["name"] for r in out if r["status"] == "updated"), via="metadata.csv",
              files=[{k: r.get(k) for k in ("name", "status", "id", "reason") if r.get(k)} for r in out])
    return out


def check_metadata(fs: FileStorage, dest: Path) -> None:
    """Write the uploaded ``metadata.csv`` and read it back; a bad one refuses the whole upload."""
    if not save_limited(fs, dest, 5 * 1024 * 1024):
        raise BadQuery("metadata.csv 过大，上限 5 MB。")
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


@bp.get("/upload")
@requires("upload")
def form() -> str:
    """The upload form."""
    return render_template("upload.html", view=None, suffixes=sorted(SUFFIXES), status_names=STATUS_NAMES)


@bp.post("/upload")
@requires("upload")
def submit() -> ResponseReturnValue:
    """Upload from the form: the files are stored, then the page follows the job file by file."""
    job = ingest_upload(request.files.getlist("files"), metadata_field())
    return render_template("upload.html", view=upload_view(job), suffixes=sorted(SUFFIXES),
                           status_names=STATUS_NAMES), answer_status(job)


@bp.get("/upload/jobs/<job_id>")
@requires("upload")
def job_page(job_id: str) -> ResponseReturnValue:
    """The progress and per-file results of one upload (refreshes itself while it works)."""
    job = visible_job(job_id)
    if job.kind != "upload":
        abort(404)
    report_outcome(job)
    return render_template("upload.html", view=upload_view(job), suffixes=sorted(SUFFIXES),
                           status_names=STATUS_NAMES), answer_status(job)


@bp.post("/api/documents")
@requires("upload")
def api_upload() -> ResponseReturnValue:
    """Multipart ``files`` (one or more) and optional ``metadata``. The files are stored and a job adds
    them: 202 with the job (``job.url`` to follow it) while it works; once done (at once for jobs run
    inline) 200, or 422 if any file was rejected, with one result per file."""
    job = ingest_upload(request.files.getlist("files"), metadata_field())
    view = upload_view(job)
    status = answer_status(job)
    headers = {"Location": view["job"]["url"]} if status == 202 else {}
    return jsonify(view), status, headers


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
    multipart.install()  # a file name sent in GBK is decoded, not dropped with the whole form
