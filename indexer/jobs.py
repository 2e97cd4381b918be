"""Background jobs: long work (the corpus compare, ingesting uploads) in processes of their own.

A web request must never wait minutes, and work started from a gunicorn worker must outlive that
worker (it is recycled after ``max_requests`` and killed on timeouts). So a job is a row in a small
SQLite table (``jobs/jobs.sqlite`` in the index folder) and a detached process
(``python -m indexer.jobs run INDEX ID``, started through a short-lived middle process so it is never
a child of the web worker). The process claims its row, beats a heartbeat while it works, records
progress (done of total, a message), and finally the result or a Chinese reason.

A job whose process died (its pid gone; or hung, no heartbeat for ``STALE_SECONDS``: then killed) is found by
``JobQueue.recover`` — called when the portal starts and whenever it reads jobs — and started again
(jobs are written to be resumed) or, after ``MAX_ATTEMPTS``, marked failed with a reason. At most one
compare runs per index: starting one while another is alive returns the running one, and the
compare itself holds the index's compare lock. With ``inline=True`` (tests, or
``DUIZHAO_JOBS_INLINE=1``) a job runs in the calling process before ``start`` returns.

The library owns jobs; the portal only starts them and reads their state.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DuizhaoError

FOLDER = "jobs"
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 600.0  # a live job process without a heartbeat for this long is hung: killed, restarted
SPAWN_GRACE_SECONDS = 30.0  # a queued job nobody claimed within this long is started again
RECEIVE_GRACE_SECONDS = 3600.0  # a job still receiving its files after this long was abandoned
MAX_ATTEMPTS = 3
KEEP_SECONDS = 30 * 24 * 3600  # finished jobs are forgotten after a month
ACTIVE = ("receiving", "queued", "running")
FINISHED = ("done", "failed")
KINDS: dict[str, str] = {  # kind -> "module:function(lib, job: JobContext) -> dict"
    "compare": "indexer.jobs:run_compare",
    "upload": "indexer.uploads:run_upload",
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0, message TEXT, params TEXT NOT NULL DEFAULT '{}', result TEXT,
    error TEXT, owner TEXT, pid INTEGER, heartbeat REAL, attempts INTEGER NOT NULL DEFAULT 0,
    reported INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, started REAL, finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_kind_state ON jobs(kind, state);
"""


class JobNotFound(DuizhaoError):
    def __init__(self, job_id: str):
        super().__init__("没有这个后台任务，可能已过期清理。")
        self.job_id = job_id


def inline_default() -> bool:
    """Jobs run in the calling process when ``DUIZHAO_JOBS_INLINE`` is set (tests, debugging)."""
    return os.environ.get("DUIZHAO_JOBS_INLINE", "").lower() not in ("", "0", "false", "no")


@dataclass
class Job:
    """One job's row. ``params`` are the runner's input (paths; never shown), ``result`` its output."""

    id: str
    kind: str
    state: str
    done: int = 0
    total: int = 0
    message: str | None = None
    params: dict = field(default_factory=dict)
    result: dict | None = None
    error: str | None = None
    owner: str | None = None
    pid: int | None = None
    heartbeat: float | None = None
    attempts: int = 0
    reported: int = 0
    created: float = 0.0
    started: float | None = None
    finished: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_dict(self) -> dict:
        """The public view of the job (the ``/api/jobs/<id>`` shape, without ``params``)."""
        out = {k: getattr(self, k) for k in ("id", "kind", "state", "done", "total", "message", "error",
                                             "created", "started", "finished", "attempts")}
        out["result"] = self.result
        return out


def _cmdline(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return None


def job_alive(job: Job) -> bool:
    """Whether the job's own process is alive: its pid exists and, for a job process, is still
    running this job (not a reused pid). A job run inline is alive while its host process is."""
    if not pid_alive(job.pid):
        return False
    cmdline = _cmdline(job.pid)
    return cmdline is None or job.id.encode() in cmdline or b"indexer.jobs" not in cmdline


def own_process(job: Job) -> bool:
    """Whether ``job.pid`` is a ``python -m indexer.jobs run`` process of this very job."""
    cmdline = _cmdline(job.pid) if job.pid else None
    return cmdline is not None and job.id.encode() in cmdline and pid_alive(job.pid)


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class JobQueue:
    """The jobs of one index folder."""

    def __init__(self, index: Path | str, *, inline: bool | None = None):
        self.index = Path(index).resolve()
        self.folder = self.index / FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self.inline = inline_default() if inline is None else inline
        self.db = sqlite3.connect(self.folder / "jobs.sqlite", timeout=30, isolation_level=None,
                                  check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._mutex = threading.Lock()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- rows --------------------------------------------------------------------------------

    def _row(self, row: sqlite3.Row | None) -> Job | None:
        if row is None:
            return None
        data = dict(row)
        data["params"] = json.loads(data["params"] or "{}")
        data["result"] = json.loads(data["result"]) if data["result"] else None
        return Job(**data)

    def _fetch(self, job_id: str) -> Job | None:
        with self._mutex:
            return self._row(self.db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone())

    def update(self, job_id: str, **fields: Any) -> None:
        """Set columns of a job (``params``/``result`` as dicts)."""
        for name in ("params", "result"):
            if name in fields and fields[name] is not None:
                fields[name] = json.dumps(fields[name], ensure_ascii=False)
        cols = ", ".join(f"{k}=?" for k in fields)
        with self._mutex:
            self.db.execute(f"UPDATE jobs SET {cols} WHERE id=?", (*fields.values(), job_id))

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize decisions about starting jobs across processes (a file lock)."""
        with open(self.folder / "queue.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def create(self, kind: str, params: dict | None = None, *, state: str = "queued", total: int = 0,
               owner: str | None = None, message: str | None = None) -> Job:
        """A new job row (not started; see ``launch``). ``state="receiving"`` while a request still
        writes the job's input: it belongs to this process until ``update(state="queued")``."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        job = Job(id=uuid.uuid4().hex, kind=kind, state=state, total=total, params=params or {}, owner=owner,
                  message=message, created=time.time(), pid=os.getpid() if state == "receiving" else None,
                  heartbeat=time.time() if state == "receiving" else None)
        with self._mutex:
            self.db.execute(
                "INSERT INTO jobs (id, kind, state, total, message, params, owner, pid, heartbeat, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, kind, state, total, message, json.dumps(job.params, ensure_ascii=False), owner,
                 job.pid, job.heartbeat, job.created))
        return job

    def start(self, kind: str, params: dict | None = None, **options: Any) -> Job:
        """Create a job and run it (in its own process, or here when inline); returns its row."""
        job = self.create(kind, params, **options)
        self.launch(job.id)
        return self.get(job.id)

    def launch(self, job_id: str) -> None:
        """Run a queued job: in this process when inline, else in a detached process."""
        if self.inline:
            run_job(self.index, job_id)
            return
        log = self.folder / f"{job_id}.log"
        cmd = [sys.executable, "-m", "indexer.jobs", "run", str(self.index), job_id]
        # The middle process starts the job in a new session and exits at once, so the job is
        # never a child of this (web worker) process: no zombie, and it outlives the worker.
        # The job imports this very copy of ``indexer``, however the caller found it (installed, or
        # a source checkout on the path or in the working directory).
        root = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path}
        subprocess.run([sys.executable, "-I", "-S", "-c", _SPAWN, str(log), *cmd], check=True, timeout=60,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=str(self.index), env=env)

    # -- reading and recovery ----------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        """A job's row, after checking that an active job's process is still alive."""
        job = self._fetch(job_id)
        if job is None:
            raise JobNotFound(job_id)
        if job.active and self.is_dead(job):
            self.recover()
            job = self._fetch(job_id) or job
        return job

    def jobs(self, *, kind: str | None = None, active: bool | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest first."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if kind:
            sql += " AND kind=?"
            args.append(kind)
        if active is not None:
            sql += f" AND state {'IN' if active else 'NOT IN'} ({','.join('?' * len(ACTIVE))})"
            args.extend(ACTIVE)
        with self._mutex:
            rows = self.db.execute(sql + " ORDER BY created DESC LIMIT ?", (*args, limit)).fetchall()
        return [self._row(r) for r in rows]

    def is_dead(self, job: Job, now: float | None = None) -> bool:
        """Whether an active job has nobody working on it any more."""
        now = now or time.time()
        if job.state == "receiving":
            return not pid_alive(job.pid) or now - job.created > RECEIVE_GRACE_SECONDS
        if job.state == "queued":
            return now - (job.heartbeat or job.created) > SPAWN_GRACE_SECONDS
        if job.state == "running":
            return not job_alive(job) or now - (job.heartbeat or 0) > STALE_SECONDS
        return False

    def recover(self) -> list[Job]:
        """Restart (or, after ``MAX_ATTEMPTS``, fail) every active job whose process died; forget
        finished jobs older than ``KEEP_SECONDS``. Returns the jobs it touched."""
        touched = []
        with self.locked():
            now = time.time()
            for job in self.jobs(active=True, limit=1000):
                if not self.is_dead(job, now):
                    continue
                if job.state == "running" and own_process(job):  # hung: never two processes on one job
                    try:
                        os.kill(job.pid, signal.SIGKILL)
                    except OSError:
                        pass
                if job.state == "receiving":
                    self.fail(job.id, "上传在文件收齐之前中断，没有加入任何文件，请重新上传。")
                elif job.attempts >= MAX_ATTEMPTS:
                    self.fail(job.id, f"后台任务的进程意外终止，已尝试 {job.attempts} 次仍未完成，"
                                      "请重新提交。")
                else:
                    self.update(job.id, state="queued", pid=None, heartbeat=now,
                                message="后台任务的进程意外终止，正在重新开始。")
                    touched.append(job)
                    continue
                touched.append(job)
            with self._mutex:
                self.db.execute("DELETE FROM jobs WHERE state IN ('done', 'failed') AND created < ?",
                                (now - KEEP_SECONDS,))
        for job in touched:
            current = self._fetch(job.id)
            if current is not None and current.state == "queued":
                try:
                    self.launch(job.id)
                except (OSError, subprocess.SubprocessError) as exc:
                    self.fail(job.id, f"无法启动后台任务：{exc}")
            elif current is not None and current.state == "failed":
                cleanup(self.index, current)
        return touched

    def fail(self, job_id: str, reason: str) -> None:
        self.update(job_id, state="failed", error=reason, message=reason, finished=time.time(), pid=None)

    def mark_reported(self, job_id: str) -> bool:
        """True once for a finished job (the portal audits its outcome exactly once)."""
        with self._mutex:
            cur = self.db.execute("UPDATE jobs SET reported=1 WHERE id=? AND reported=0 AND state IN "
                                  "('done', 'failed')", (job_id,))
        return cur.rowcount == 1

    # -- the compare -------------------------------------------------------------------------

    def start_compare(self, lib) -> Job | None:
        """The job computing the corpus compare of the library's current state: the one already
        running for it, or a new one. None if that compare is cached already."""
        key = lib.cache_key()
        if lib.compare(wait=False) is not None:
            return None
        with self.locked():
            for job in self.jobs(kind="compare", active=True):
                if job.params.get("key") == key and not self.is_dead(job):
                    return job
            job = self.create("compare", {"key": key}, message="等待开始比对")
        self.launch(job.id)
        return self.get(job.id)

    def compare_job(self, lib) -> Job | None:
        """The newest compare job for the library's current state, if any."""
        key = lib.cache_key()
        for job in self.jobs(kind="compare", limit=20):
            if job.params.get("key") == key:
                return self.get(job.id) if job.active else job
        return None


_SPAWN = ("import subprocess, sys\n"
          "log = open(sys.argv[1], 'ab')\n"
          "subprocess.Popen(sys.argv[2:], start_new_session=True, stdin=subprocess.DEVNULL,"
          " stdout=log, stderr=log, close_fds=True)\n")


@dataclass
class JobContext:
    """What a runner gets: its job, and ``progress`` to report how far it is."""

    queue: JobQueue
    job: Job

    def progress(self, done: int | None = None, total: int | None = None, message: str | None = None,
                 **fields: Any) -> None:
        values = {k: v for k, v in (("done", done), ("total", total), ("message", message)) if v is not None}
        values.update(fields)
        values["heartbeat"] = time.time()
        self.queue.update(self.job.id, **values)


def _runner(kind: str) -> Callable:
    module, _, name = KINDS[kind].partition(":")
    import importlib

    return getattr(importlib.import_module(module), name)


def _beat(db_path: Path, job_id: str, stop: threading.Event) -> None:
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                conn.execute("UPDATE jobs SET heartbeat=? WHERE id=? AND pid=?",
                             (time.time(), job_id, os.getpid()))
            except sqlite3.Error:
                pass
    finally:
        conn.close()


def run_job(index: Path | str, job_id: str) -> Job | None:
    """Claim a queued job and run it here; returns its final row (None if someone else has it)."""
    queue = JobQueue(index, inline=True)
    try:
        now = time.time()
        with queue._mutex:
            cur = queue.db.execute(
                "UPDATE jobs SET state='running', pid=?, heartbeat=?, started=COALESCE(started, ?), "
                "attempts=attempts+1 WHERE id=? AND state='queued'", (os.getpid(), now, now, job_id))
        if cur.rowcount != 1:
            return queue._fetch(job_id)
        job = queue._fetch(job_id)
        stop = threading.Event()
        beat = threading.Thread(target=_beat, args=(queue.folder / "jobs.sqlite", job_id, stop), daemon=True,
                                name="duizhao-heartbeat")
        beat.start()
        try:
            from .library import Library  # after the claim: importing it takes a while

            with Library(queue.index) as lib:
                result = _runner(job.kind)(lib, JobContext(queue, job))
            queue.update(job_id, state="done", result=result, finished=time.time(), pid=None, error=None,
                         message="已完成")
        except Exception as exc:  # a job never dies silently: the reason goes on its row
            detail = str(exc) if isinstance(exc, DuizhaoError) else type(exc).__name__
            queue.fail(job_id, f"后台任务出错：{detail}")
            traceback.print_exc()
        finally:
            stop.set()
            beat.join()
            cleanup(queue.index, queue._fetch(job_id))
        return queue._fetch(job_id)
    finally:
        queue.close()


def cleanup(index: Path, job: Job | None) -> None:
    """Remove what a finished job kept on disk (an upload's stored files)."""
    if job is None or job.active:
        return
    folder = job.params.get("folder")
    if folder:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    if job.state == "done":  # a failed job's log (its traceback) stays for the administrator
        (Path(index) / FOLDER / f"{job.id}.log").unlink(missing_ok=True)


# -- the compare job ---------------------------------------------------------------------------

DELETION_RETRIES = 3


def run_compare(lib, ctx: JobContext) -> dict:
    """The whole-corpus compare, cached by the library for its state; started over (at most
    ``DELETION_RETRIES`` times) when materials are removed while it runs."""
    from .errors import DocumentNotFound

    for attempt in range(DELETION_RETRIES + 1):
        key = lib.cache_key()
        ctx.progress(0, len(lib), "正在读取材料指纹")

        def progress(done: int, total: int) -> None:
            ctx.progress(done, total, "正在比对材料对")

        try:
            result = lib.compare(wait=True, progress=progress)
        except (DocumentNotFound, KeyError):
            if attempt == DELETION_RETRIES or lib.cache_key() == key:
                raise  # not a material removed meanwhile: a real error
            ctx.progress(0, 0, "比对期间有材料被删除，重新开始比对")
            continue
        return {"key": key, "documents": len(result["documents"]), "pairs": len(result["pairs"])}
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    """``python -m indexer.jobs run INDEX ID`` (what ``launch`` starts), ``list INDEX``, ``recover INDEX``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m indexer.jobs", description="对照的后台任务")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="运行一个后台任务")
    run.add_argument("index")
    run.add_argument("job_id")
    for name, text in (("list", "列出后台任务"), ("recover", "重新开始进程已终止的任务")):
        sub.add_parser(name, help=text).add_argument("index")
    args = parser.parse_args(argv)
    if args.command == "run":
        job = run_job(args.index, args.job_id)
        return 0 if job is not None and job.state == "done" else 1
    with JobQueue(args.index) as queue:
        if args.command == "recover":
            queue.recover()
        for job in queue.jobs():
            print(json.dumps(job.to_dict() | {"result": None}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
