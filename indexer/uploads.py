"""The upload job: ingest files a web request stored, file by file, with per-file results.

The portal writes the uploaded files (fsynced) into a scratch folder and records an ``upload`` job
(see ``indexer.jobs``) whose ``params`` are::

    {"folder": "/…/data/uploads/job-<id>",
     "files": [{"file": "原名", "name": "stored name", "status": "queued" | "rejected", "reason": …}],
     "sources": {"stored name": "source name in the library"}}   # optional; default: the name

This runner reads the queued files one at a time (progress per file), commits them in batches of at
most ``BATCH_CHARS`` characters, and keeps every file's result in the job's ``result`` as soon as it
is known. A job restarted after its process died skips files that already have a result, so an
acknowledged upload is never lost nor added twice. Copy figures of the new materials are computed
last (and cached, see ``report_cache``), so the first view of their reports is instant.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from . import ingest
from .jobs import JobContext

BATCH_CHARS = 8_000_000  # characters read before a commit: bounds the job's memory
REPORTS_AT_ONCE = 20  # copy figures are computed for at most this many new materials
FIGURES_MAX_CHARS = 2_000_000  # and only for materials up to this long (the report page computes the rest)
FINAL = {"added", "replaced", "unchanged", "rejected", "updated"}


def counts(results: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def run_upload(lib, ctx: JobContext) -> dict:
    """Ingest the job's queued files; returns ``{"results": [...], "counts": {...}}``."""
    params = ctx.job.params
    folder = Path(params["folder"])
    previous = (ctx.job.result or {}).get("results")
    results: list[dict] = [dict(r) for r in (previous or params["files"])]
    todo = [r for r in results if r["status"] not in FINAL]

    def save(message: str) -> None:
        done = sum(1 for r in todo if r["status"] in FINAL)
        ctx.progress(done, len(todo), message, result={"results": results, "counts": counts(results)})

    save("正在读取文件")
    sources = params.get("sources") or {}
    batch: list[tuple[dict, ingest.FileJob, ingest.Prepared]] = []
    size = 0
    for res in todo:
        path = folder / res["name"]
        jobs, problems = ingest.collect([path])
        if problems or not jobs:
            res.update(status="rejected", reason="文件在处理前丢失，请重新上传")
            continue
        job = jobs[0]
        job.source = sources.get(res["name"], job.source)
        res["status"] = "reading"
        save(f"正在读取：{res['name']}")
        prep = ingest.prepare(job)
        batch.append((res, job, prep))
        size += len(prep.text)
        if size >= BATCH_CHARS:
            _commit(lib, batch, ctx.job.owner)
            batch, size = [], 0
            save("已保存一批文件")
    if batch:
        save("正在写入索引")
        _commit(lib, batch, ctx.job.owner)
    save("文件已全部处理")
    new = [r for r in results if r["status"] in ("added", "replaced")]
    if new and len(new) <= REPORTS_AT_ONCE:
        for i, res in enumerate(new):
            ctx.progress(message=f"正在计算复制比：{res['name']}（{i + 1}/{len(new)}）")
            if lib.resolve(res["id"]).chars > FIGURES_MAX_CHARS:
                continue
            if figures := summary(lib, res["id"]):
                res["figures"] = figures
    return {"results": results, "counts": counts(results)}


def _commit(lib, batch: list[tuple[dict, ingest.FileJob, ingest.Prepared]], user: str | None = None) -> None:
    """Add one batch of read files to the library and record each file's outcome."""
    by_path = {str(job.path): res for res, job, _ in batch}

    def record(done) -> None:
        res = by_path.get(done.path)
        if res is None:
            return
        res["status"] = "rejected" if done.status == "skipped" else done.status
        if done.id:
            res["id"] = done.id
        if done.reason:
            res["reason"] = done.reason

    before = {job.source: lib.store.by_source(job.source) for _, job, _ in batch}
    try:
        with lib.writer(user=user) as w:  # the uploader owns the new materials
            w.add_jobs([job for _, job, _ in batch], prepared=[prep for _, _, prep in batch],
                       on_result=record)
    except Exception as exc:  # say exactly what was stored: the library decides, not the exception
        traceback.print_exc()  # into the job's log
        lib.refresh()
        for res, job, _ in batch:
            if res["status"] not in FINAL:
                now, was = lib.store.by_source(job.source), before[job.source]
                if now is not None and (was is None or now.id != was.id):
                    res.update(status="added" if was is None else "replaced", id=now.id)
                else:
                    res.update(status="rejected", reason=f"加入索引时出错：{type(exc).__name__}")
    for res, _, _ in batch:
        if res["status"] not in FINAL:
            res.update(status="rejected", reason="未能读取")


def summary(lib, doc_id: str) -> dict | None:
    """The copy figures of a new material (None if they cannot be computed)."""
    try:
        rep = lib.report(doc_id)
    except Exception:  # figures are a courtesy: the material is stored whatever happens here
        return None
    return {k: rep.get(k) for k in ("copy_ratio", "copy_ratio_with_boilerplate", "max_single_ratio")} | {
        "sources": len(rep.get("sources", []))}
