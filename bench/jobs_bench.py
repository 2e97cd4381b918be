#!/usr/bin/env python3
"""Background jobs under gunicorn: a large upload answers at once, and the corpus compare survives
``kill -9`` of the worker that started it.

    python bench/jobs_bench.py                                # e-2k corpus, 2 workers, a 49 MB .txt
    python bench/jobs_bench.py --docs /work/corpora/e-2k/docs --big-mb 49 --workers 2

Indexes ``--docs`` (``indexer add``) into a fresh temporary index, starts gunicorn with the
repository's gunicorn.conf.py (worker timeout as configured there) and an API token, then:

1. **Compare survives kill -9**: ``GET /api/duplicates`` starts the compare job (202 with its
   progress); every gunicorn worker is then SIGKILLed (the one that started the job among them).
   ``/api/duplicates`` is polled until 200. Reported: the job's pid before and after (the same pid
   and one attempt mean it survived, not restarted), time to 202, total time.
2. **Large upload**: a ``--big-mb`` MB .txt (materials of the corpus concatenated, with a unique
   marker) is posted to ``POST /api/documents``. Reported: the answer's status and time (time to
   202), the job's total time until done, the worker timeout, and whether the marker is then found
   by phrase search. The readers refuse more than 2,000,000 characters by default (a 49 MB .txt is
   ~17 million): ``--max-chars`` raises that limit to time the whole ingestion of such a file.

Prints one JSON object (also written to bench/out/jobs_bench.json). Loopback only; every request
has a timeout and the run a deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upload_load import free_port, portal_cli, search_total, start_gunicorn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEADLINE = 1800
TIMEOUT = 120


def call(base: str, token: str, path: str, *, data: bytes | None = None, headers: dict | None = None
         ) -> tuple[int, dict, dict]:
    req = urllib.request.Request(base + path, data=data, method="POST" if data is not None else "GET",
                                 headers={"Authorization": f"Bearer {token}", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def workers_of(master: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(b")", 1)[1].split()[1]) == master:
                out.append(int(entry.name))
    return out


def job_row(index: Path, job_id: str) -> dict:
    conn = sqlite3.connect(index / "jobs" / "jobs.sqlite", timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone())
    finally:
        conn.close()


def compare_survives_kill(base: str, token: str, index: Path, master: int) -> dict:
    t0 = time.perf_counter()
    status, body, _ = call(base, token, "/api/duplicates")
    first = time.perf_counter() - t0
    if status != 202:
        return {"error": f"expected 202 while computing, got {status}", "seconds_to_answer": first}
    job_id = body["job"]["id"]
    pid = None
    while pid is None and time.perf_counter() - t0 < 60:
        pid = job_row(index, job_id)["pid"]
        time.sleep(0.05)
    killed = workers_of(master)
    for w in killed:
        os.kill(w, signal.SIGKILL)
    progress = []
    while time.perf_counter() - t0 < DEADLINE / 2:
        try:
            status, body, _ = call(base, token, "/api/duplicates")
        except OSError:
            time.sleep(0.5)
            continue
        if status == 200:
            break
        job = body.get("job") or {}
        progress.append(f"{job.get('done')}/{job.get('total')}")
        time.sleep(1.0)
    row = job_row(index, job_id)
    return {"status_first": 202, "seconds_to_202": round(first, 3), "job": job_id, "job_pid_at_kill": pid,
            "workers_killed": killed, "final_status": status, "job_state": row["state"],
            "job_attempts": row["attempts"], "survived": row["attempts"] == 1 and row["state"] == "done",
            "total_seconds": round(time.perf_counter() - t0, 1), "pairs": len(body.get("pairs", [])),
            "progress_seen": progress[:3] + progress[-2:]}


def big_text(docs: Path, megabytes: float, marker: str) -> bytes:
    out, size = [f"超大材料\n{marker}\n"], 0
    files = sorted(docs.glob("*.txt"))
    i = 0
    while size < megabytes * 1024 * 1024 - 4096:
        text = files[i % len(files)].read_text(encoding="utf-8") + "\n"
        out.append(text)
        size += len(text.encode("utf-8"))
        i += 1
    data = "".join(out).encode("utf-8")
    return data[: int(megabytes * 1024 * 1024)].decode("utf-8", "ignore").encode("utf-8")


def large_upload(base: str, token: str, docs: Path, megabytes: float) -> dict:
    marker = "超大上传标记" + secrets.token_hex(4)
    data = big_text(docs, megabytes, marker)
    boundary = "----duizhao" + secrets.token_hex(8)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"超大材料.txt\"\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n")
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    t0 = time.perf_counter()
    status, answer, headers = call(base, token, "/api/documents", data=body,
                                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    answered = time.perf_counter() - t0
    out = {"bytes": len(data), "status": status, "seconds_to_answer": round(answered, 2),
           "first_answer": [r.get("status") for r in answer.get("results", [])]}
    url = answer.get("job", {}).get("url")
    if status == 202 and url:
        out["location"] = headers.get("Location")
        while time.perf_counter() - t0 < DEADLINE / 2:
            status, view, _ = call(base, token, url)
            if view["job"]["state"] not in ("receiving", "queued", "running"):
                break
            time.sleep(0.5)
        out.update(job_state=view["job"]["state"], job_seconds=round(time.perf_counter() - t0, 1),
                   final=[(r.get("status"), r.get("reason")) for r in view["results"]],
                   job_message=view["job"]["message"])
    out["marker_found"] = search_total(base, token, marker)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=Path, default=Path("/work/corpora/e-2k/docs"))
    ap.add_argument("--big-mb", type=float, default=49.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="build the index here (kept) instead of a temporary folder")
    ap.add_argument("--skip-compare", action="store_true", help="only the large upload")
    ap.add_argument("--max-chars", type=int, help="raise the readers' character limit "
                    "(DUIZHAO_READ_MAX_CHARS) so the large file is accepted and its whole ingestion is timed")
    args = ap.parse_args()
    signal.alarm(DEADLINE)
    with tempfile.TemporaryDirectory(prefix="duizhao-jobs-") as tmp:
        root = args.keep or Path(tmp)
        index, data = root / "index", Path(tmp) / "data"
        env = {**os.environ, "DUIZHAO_DATA": str(data), "DUIZHAO_INDEX": str(index),
               "DUIZHAO_WORKERS": str(args.workers), "DUIZHAO_ADMIN_PASSWORD": secrets.token_urlsafe(16)}
        env.pop("DUIZHAO_JOBS_INLINE", None)
        if args.max_chars:
            env["DUIZHAO_READ_MAX_CHARS"] = str(args.max_chars)
        t0 = time.perf_counter()
        if not (index / "documents.sqlite").exists():
            subprocess.run([str(BIN / "indexer"), "--index", str(index), "add", str(args.docs)], env=env,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=DEADLINE)
        indexed = time.perf_counter() - t0
        portal_cli(env, "user", "add", "bench", "--role", "inspector", "--generate")
        token = portal_cli(env, "token", "create", "bench", "--name", "jobs_bench").splitlines()[-1]
        port = free_port()
        server = start_gunicorn(env, port)
        base = f"http://127.0.0.1:{port}"
        try:
            import importlib.util

            spec = importlib.util.spec_from_file_location("gconf", ROOT / "gunicorn.conf.py")
            gconf = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(gconf)
            result = {"docs": len(list(args.docs.glob("*.txt"))), "index_seconds": round(indexed, 1),
                      "workers": args.workers, "worker_timeout": gconf.timeout, "cores": os.cpu_count()}
            if not args.skip_compare:
                result["compare_kill"] = compare_survives_kill(base, token, index, server.pid)
            result["max_chars"] = args.max_chars
            result["large_upload"] = large_upload(base, token, args.docs, args.big_mb)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    name = "jobs_bench" + (f"-chars{args.max_chars}" if args.max_chars else "") + ".json"
    (out / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
