"""查重检测 before adding: ``/check`` (page) and ``POST /api/check`` (multipart ``files``, like
``POST /api/documents``). Each file is read in the readers' sandbox, checked against the library
(``Library.report_text``) and reported; nothing is added to the library, and the check is audited.

Files are written to a private folder of their own under ``$DUIZHAO_DATA/checks`` (never the upload
scratch folder, which the upload jobs sweep) and removed when the request ends.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from indexer import sandbox
from indexer.errors import BadQuery, DuizhaoError
from indexer.readers import SUFFIXES
from indexer.text import clean_stored

from .audit import audit
from .index import get_index
from .roles import requires
from .upload import safe_name, save_limited

bp = Blueprint("check", __name__)
ENDPOINTS = {"check.submit", "check.api_check"}
MAX_FILES = 10  # each check aligns against the whole library: a few seconds per file


def check_files(files: list[FileStorage]) -> list[dict]:
    """One result per file: ``checked`` with its report, or ``rejected`` with a reason."""
    files = [f for f in files if f.filename]
    if not files:
        raise BadQuery("请选择要检测的文件")
    if len(files) > MAX_FILES:
        raise BadQuery(f"一次最多检测 {MAX_FILES} 个文件")
    lib = get_index()
    before = len(lib)
    limit = current_app.config["UPLOAD_MAX_FILE"]
    folder = Path(current_app.config["DATA"]) / "checks"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder))
    results = []
    try:
        for i, fs in enumerate(files):
            name = safe_name(fs.filename or "")
            res: dict = {"file": (fs.filename or "")[:300], "name": name, "status": "rejected"}
            results.append(res)
            if name is None:
                res["reason"] = "文件名不可用"
                continue
            if Path(name).suffix.lower() not in SUFFIXES:
                res["reason"] = f"不支持的文件类型（可用：{'、'.join(sorted(SUFFIXES))}）"
                continue
            dest = work / f"{i:03d}{Path(name).suffix.lower()}"
            if not save_limited(fs, dest, limit):
                res["reason"] = f"文件超过 {limit // 1048576} MB"
                continue
            try:
                text = sandbox.read_text(dest)
            except DuizhaoError as exc:
                res["reason"] = str(exc)
                continue
            if not text.strip():
                res["reason"] = "文件中没有可检测的文字"
                continue
            text = clean_stored(text)
            report = lib.report_text(text, title=name)
            res.update(status="checked", report=report, text=text)
            audit("check", name, copy_ratio=report["copy_ratio"], sources=len(report["sources"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len(get_index()) != before:  # the library is never written here; say so loudly if it changed
        current_app.logger.warning("library size changed during a check (another writer)")
    return results


@bp.get("/check")
@requires("report")
def form() -> str:
    return render_template("check.html", results=None, suffixes=sorted(SUFFIXES), max_files=MAX_FILES)


@bp.post("/check")
@requires("report")
def submit() -> str:
    results = check_files(request.files.getlist("files"))
    return render_template("check.html", results=results, suffixes=sorted(SUFFIXES), max_files=MAX_FILES)


@bp.post("/api/check")
@requires("report")
def api_check() -> ResponseReturnValue:
    """``{"files": [{"file", "name", "status", "reason"?, "report"?}], "documents": N}``; nothing added."""
    results = check_files(request.files.getlist("files"))
    for r in results:
        r.pop("text", None)
    return jsonify({"files": results, "documents": len(get_index())})


def init_app(app: Flask) -> None:
    """Let the check views take request bodies as large as uploads."""
    app.config["UPLOAD_ENDPOINTS"] = set(app.config.get("UPLOAD_ENDPOINTS", ())) | ENDPOINTS
