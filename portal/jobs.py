"""Background jobs seen from the portal: ``GET /api/jobs/<id>``, and housekeeping when a worker starts.

The portal only starts jobs and reads them (``indexer.jobs`` runs them in their own processes). On the
first request of each worker process, jobs whose process died are restarted or failed
(``JobQueue.recover``) and upload scratch folders that no live job needs are removed — also those
left by a worker that was killed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

from flask import Blueprint, Flask, current_app, g, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import Forbidden

from indexer.jobs import Job, JobQueue

bp = Blueprint("jobs", __name__)
EXTENSION = "duizhao.jobs"
SCRATCH_GRACE_SECONDS = 600  # a scratch entry not named for a job is kept this long (being written)


def job_queue() -> JobQueue:
    """This process's queue of the app's index (jobs inline when ``JOBS_INLINE`` is set)."""
    ext = current_app.extensions
    entry = ext.get(EXTENSION)
    if entry is None or entry[0] != os.getpid():
        inline = bool(current_app.config.get("JOBS_INLINE"))
        entry = (os.getpid(), JobQueue(current_app.config["INDEX"], inline=inline))
        ext[EXTENSION] = entry
    return entry[1]


def scratch_dir() -> Path:
    """The private folder (0700) holding uploaded files until their job has ingested them."""
    folder = Path(current_app.config["DATA"]) / "uploads"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def sweep_scratch(queue: JobQueue, folder: Path) -> list[str]:
    """Remove scratch entries no active job needs; returns their names."""
    needed = {Path(j.params["folder"]).name for j in queue.jobs(kind="upload", active=True, limit=10_000)
              if j.params.get("folder")}
    needed |= {f"job-{j.id}" for j in queue.jobs(kind="upload", active=True, limit=10_000)}
    removed = []
    cutoff = time.time() - SCRATCH_GRACE_SECONDS
    for entry in folder.iterdir():
        if entry.name in needed:
            continue
        try:
            if not entry.name.startswith("job-") and entry.stat().st_mtime > cutoff:
                continue
        except OSError:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def housekeeping() -> None:
    """Restart or fail jobs whose process died, then remove scratch that no live job needs."""
    queue = job_queue()
    try:
        queue.recover()
        sweep_scratch(queue, scratch_dir())
    except (OSError, sqlite3.Error):  # never keep the portal from answering; retried next start
        current_app.logger.exception("housekeeping of background jobs failed")


def visible_job(job_id: str) -> Job:
    """The job, if the current user may see it (its owner, or an admin); else 404/403."""
    job = job_queue().get(job_id)  # JobNotFound: 404
    user = g.get("user")
    if job.owner and (user is None or (user.name != job.owner and not user.can("users"))):
        raise Forbidden("这是其他用户的任务。")
    return job


@bp.get("/api/jobs/<job_id>")
def api_job(job_id: str) -> ResponseReturnValue:
    """A job's state and progress; an upload's per-file results (see ``upload.upload_view``)."""
    job = visible_job(job_id)
    if job.kind == "upload":
        from .upload import report_outcome, upload_view

        report_outcome(job)
        return jsonify(upload_view(job))
    return jsonify({"job": public(job)})


def public(job: Job) -> dict:
    """The job as the API shows it, with its URL."""
    from flask import url_for

    out = job.to_dict()
    out["url"] = url_for("jobs.api_job", job_id=job.id)
    return out


def init_app(app: Flask) -> None:
    """Housekeeping once per worker process, on its first request."""
    app.config.setdefault("JOBS_INLINE", False)

    @app.before_request
    def start_of_worker() -> None:
        key = "duizhao.jobs.housekeeping"
        if app.extensions.get(key) != os.getpid():
            app.extensions[key] = os.getpid()
            housekeeping()
