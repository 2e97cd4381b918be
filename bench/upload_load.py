#!/usr/bin/env python3
"""Concurrent uploads through the portal under gunicorn: nothing lost, no errors, even when workers die.

    python bench/upload_load.py                          # 4 workers, 8 clients x 20 files, 2 scenarios
    python bench/upload_load.py --workers 4 --clients 8 --files 20 --kills 6

Starts gunicorn with the repository's gunicorn.conf.py on a free 127.0.0.1 port over a fresh
temporary index and data folder, creates an inspector and an API token with ``portal user/token``,
then:

1. **Concurrent uploads**: ``--clients`` threads start together; each uploads ``--files`` distinct
   small Chinese files, one ``POST /api/documents`` per file (Bearer token, multipart ``files``).
   Afterwards every file's unique marker is phrase-searched (``/api/search?mode=phrase``): each must
   be found exactly once. Errors = any non-2xx answer or socket error.
2. **kill -9 mid-upload**: the same load again with new files, while a killer thread repeatedly finds
   the process holding the index's write lock (``/proc/locks``: since uploads run as jobs, the upload
   job's process, see ``indexer.jobs``) and sends it SIGKILL; the killed job is restarted when it is
   next read. Clients retry an upload whose answer never came or was not 2xx (up to 8 times);
   at the end, every upload that got a 2xx answer must be searchable (acknowledged-but-lost = 0).

Prints files, errors, lost, wall time and uploads/s per scenario, and exits 1 if anything was lost
(or scenario 1 had errors). Loopback only; every request has a timeout and the run a deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEADLINE = 900  # seconds for the whole run
TIMEOUT = 120  # seconds per request
PHRASES = ["坚持以人民为中心的发展思想", "落实全面从严治党主体责任", "理论学习不深不实",
           "形式主义官僚主义问题", "政治站位不够高", "以干代学现象仍然存在", "整改措施落实不到位",
           "联系群众不够紧密"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def portal_cli(env: dict, *args: str) -> str:
    out = subprocess.run([str(BIN / "portal"), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    return out.stdout.strip()


def start_gunicorn(env: dict, port: int) -> subprocess.Popen:
    cmd = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "portal:create_app()"]
    log = open(Path(env["DUIZHAO_DATA"]) / "gunicorn.log", "w")  # noqa: SIM115 -- lives as long as the server
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**env, "DUIZHAO_BIND": f"127.0.0.1:{port}"},
                            stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not answer /healthz")


def material(tag: str, client: int, i: int) -> tuple[str, str, str]:
    """(file name, text, unique marker) of one small, distinct Chinese material."""
    marker = f"标记{tag}{client:02d}{i:03d}号"
    body = "。".join(PHRASES[(client + i + k) % len(PHRASES)] for k in range(6))
    text = (f"{tag}批第{client}组第{i}份对照检查材料\n本人{marker}，{body}。\n"
            f"二是{PHRASES[i % len(PHRASES)]}。\n")
    return f"{tag}-{client:02d}-{i:03d} 对照检查材料.txt", text, marker


def multipart(name: str, text: str) -> tuple[bytes, str]:
    boundary = "----duizhao" + secrets.token_hex(8)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n")  # raw UTF-8 name, as browsers send it
    return head.encode() + text.encode("utf-8") + f"\r\n--{boundary}--\r\n".encode(), boundary


def upload(base: str, token: str, name: str, text: str) -> tuple[int, dict | None]:
    """One upload; (HTTP status or 0 for a socket error, the JSON answer)."""
    body, boundary = multipart(name, text)
    req = urllib.request.Request(base + "/api/documents", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


def search_total(base: str, token: str, phrase: str) -> int:
    url = base + "/api/search?" + urllib.parse.urlencode({"q": phrase, "mode": "phrase", "limit": 5})
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        return json.loads(resp.read())["total"]


def run_clients(base: str, token: str, tag: str, clients: int, files: int, retries: int) -> dict:
    """All clients at once; per file: acknowledged (2xx) or not, attempts, latencies, errors."""
    barrier = threading.Barrier(clients)
    acked: list[tuple[str, str]] = []
    jobs: list[str] = []
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        barrier.wait()
        for i in range(files):
            name, text, marker = material(tag, c, i)
            for _attempt in range(retries + 1):
                t0 = time.perf_counter()
                status, answer = upload(base, token, name, text)
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    # 202: stored, a job adds it (followed in wait_for_jobs); 200: added already
                    ok = answer and answer["results"][0]["status"] in ("added", "unchanged", "queued")
                    if 200 <= status < 300 and ok:
                        acked.append((name, marker))
                        if status == 202:
                            jobs.append(answer["job"]["url"])
                        break
                    errors.append(f"{name}: {status} {answer and answer['results']}")
                time.sleep(0.2)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    wall = time.perf_counter() - t0
    pending = wait_for_jobs(base, token, jobs)
    return {"acked": acked, "errors": errors, "wall": wall, "latencies": latencies,
            "jobs_wall": time.perf_counter() - t0, "jobs_unfinished": pending}


def wait_for_jobs(base: str, token: str, urls: list[str]) -> int:
    """Follow the upload jobs of 202 answers until each is done (a dead job's process is restarted
    when it is read); returns how many did not finish before the deadline."""
    todo, deadline = list(urls), time.monotonic() + DEADLINE / 2
    while todo and time.monotonic() < deadline:
        for url in list(todo):
            req = urllib.request.Request(base + url, headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                    if json.loads(resp.read())["job"]["state"] not in ("receiving", "queued", "running"):
                        todo.remove(url)
            except (OSError, ValueError):
                pass
        time.sleep(0.2)
    return len(todo)


def lock_holder(lock_file: Path) -> int | None:
    """The pid holding the index write lock (flock) according to /proc/locks, if any."""
    try:
        inode = os.stat(lock_file).st_ino
        for line in Path("/proc/locks").read_text().splitlines():
            parts = line.split()
            if "->" in parts:
                continue  # a process waiting for the lock, not holding it
            if "FLOCK" in parts and "WRITE" in parts and parts[-3].split(":")[-1] == str(inode):
                return int(parts[parts.index("WRITE") + 1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def killer(lock_file: Path, master: int, kills: int, stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the worker inside Library.add, ``kills`` times, spaced out."""
    time.sleep(1.0)
    while len(killed) < kills and not stop.is_set():
        pid = lock_holder(lock_file)
        if pid and pid != master and pid != os.getpid():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            time.sleep(1.5)  # let the master replace it and the next writer repair the index
        else:
            time.sleep(0.005)


def verify(base: str, token: str, acked: list[tuple[str, str]]) -> list[str]:
    """Names of acknowledged files whose marker is not found exactly once."""
    return [name for name, marker in acked if search_total(base, token, marker) != 1]


def report(title: str, run: dict, lost: list[str], expected: int) -> None:
    lat = sorted(run["latencies"]) or [0.0]
    print(f"\n== {title}")
    print(f"files uploaded:        {len(run['acked'])} / {expected} acknowledged")
    print(f"errors (non-2xx/socket answers, retried): {len(run['errors'])}")
    print(f"acknowledged but lost: {len(lost)}")
    print(f"wall time:             {run['wall']:.1f} s   ({len(run['acked']) / run['wall']:.1f} uploads/s)")
    print(f"until every job done:  {run['jobs_wall']:.1f} s   (unfinished jobs: {run['jobs_unfinished']})")
    print(f"latency per request:   p50 {1000 * statistics.median(lat):.0f} ms, "
          f"p95 {1000 * lat[int(0.95 * (len(lat) - 1))]:.0f} ms, max {1000 * lat[-1]:.0f} ms")
    for line in run["errors"][:5]:
        print("  error:", line[:200])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--kills", type=int, default=6, help="workers to SIGKILL mid-upload (0: skip scenario 2)")
    args = ap.parse_args()
    signal.alarm(DEADLINE)
    with tempfile.TemporaryDirectory(prefix="duizhao-upload-") as tmp:
        data = Path(tmp) / "data"
        env = {**os.environ, "DUIZHAO_DATA": str(data), "DUIZHAO_INDEX": str(Path(tmp) / "index"),
               "DUIZHAO_WORKERS": str(args.workers), "DUIZHAO_ADMIN_PASSWORD": secrets.token_urlsafe(16)}
        portal_cli(env, "user", "add", "bench", "--role", "inspector", "--generate")
        token = portal_cli(env, "token", "create", "bench", "--name", "upload_load").splitlines()[-1]
        port = free_port()
        server = start_gunicorn(env, port)
        base = f"http://127.0.0.1:{port}"
        expected = args.clients * args.files
        failed = False
        try:
            print(f"gunicorn: {args.workers} sync workers; {args.clients} clients x {args.files} files, "
                  f"one POST /api/documents per file; machine: {os.cpu_count()} cores")
            run = run_clients(base, token, "甲", args.clients, args.files, retries=0)
            lost = verify(base, token, run["acked"])
            report("1. concurrent uploads", run, lost, expected)
            failed |= bool(run["errors"] or lost or len(run["acked"]) != expected)
            if args.kills:
                stop, killed = threading.Event(), []
                lock_file = Path(env["DUIZHAO_INDEX"]) / "write.lock"
                k = threading.Thread(target=killer, args=(lock_file, server.pid, args.kills, stop, killed))
                k.start()
                run = run_clients(base, token, "乙", args.clients, args.files, retries=8)
                stop.set()
                k.join()
                lost = verify(base, token, run["acked"])
                title = f"2. kill -9 of the writing worker, {len(killed)} times, during the uploads"
                report(title, run, lost, expected)
                with urllib.request.urlopen(base + "/healthz", timeout=30) as resp:
                    print(f"documents in the index: {json.loads(resp.read())['documents']} "
                          f"(expected {2 * expected})")
                failed |= bool(lost)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
