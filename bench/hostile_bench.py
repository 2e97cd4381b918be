"""Hostile-input benchmark (issue 9): bombs and oversized files against a real gunicorn, and an
expensive-query probe.

    nice -n 10 .venv/bin/python bench/hostile_bench.py --index /work/corpora/b-hostile700/index

The index is copied first (uploads change it). gunicorn runs with 4 workers on loopback. For every
hostile file the benchmark uploads it through ``POST /api/documents`` (following the upload job until
it is done), and reports the answer, the time until the final per-file result, and peak resident
memory: of each web worker, and of the upload job process and the reader children it forks (sampled
every 10 ms from /proc, using each process's high-water mark ``VmHWM``, so a peak between samples is
not missed while the process lives). "Returned" is a worker's resident memory one second after the
answer minus before the request.

Goals (issue 9): no worker above 512 MB at any point, every answer within 30 s, memory returned after
each request; hostile queries refused or answered within 1 s while normal searches keep p99 ≤ 200 ms.

The query probe runs twice for ``--probe-seconds`` each: normal searches alone (2 clients), then the
same with 4 clients sending hostile queries in a loop; it reports hostile answers and times, and
normal-search p50/p99 in both phases. Results go to ``bench/out/hostile.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import hostile_files as H  # noqa: E402  (tests/hostile_files.py: the same bombs the tests build)

ADMIN_PASSWORD = "bench-admin-password-7"
MB = 1024 * 1024
NORMAL_QUERIES = [("政治站位", "auto"), ("理论学习不深不实", "phrase"), ("巡视 AND 整改", "words"),
                  ("形式主义", "auto"), ("整改措施", "words"), ("民主生活会", "auto")]
HOSTILE_QUERIES = [("words:[a TO 龥]", "words"), ("{a TO 龥}", "auto"), ("title:x", "words"),
                   ("*:*", "words"), (" OR ".join(f"问题{i}" for i in range(60)), "words"),
                   ("year:[0000 TO 9999] 整改", "words")]


# ---------------------------------------------------------------- files


def pdf_with_pages(pages: int) -> bytes:
    """A minimal PDF whose page tree holds ``pages`` blank pages (about 60 bytes each)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, b" ".join(b"%d 0 R" % (3 + i)
                                                                                for i in range(pages)))]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>"] * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def chinese_text(size: int) -> bytes:
    line = ("一是政治站位不够高，学习贯彻往深里走、往心里走还不够。二是理论学习不深不实，存在以干代学现象。\n"
            ).encode()
    return (line * (size // len(line) + 1))[:size]


def build_files(folder: Path) -> list[dict]:
    """The hostile uploads: name, bytes on disk, and what they are."""
    cases = [
        ("bomb-512MiB.docx", H.docx_bomb(512 * MB), "document.xml inflates to 512 MiB"),
        ("bomb-lying.docx", H.lying_docx_bomb(expanded=256 * MB, declared=MB), "256 MiB claiming 1 MiB"),
        ("elements-2M.docx", H.element_bomb(2_000_000), "2 million XML elements"),
        ("pages-99000.pdf", pdf_with_pages(99_000), "99,000 pages"),
        ("text-49MB.txt", chinese_text(49 * MB), "49 MB of text, under the upload limit"),
        ("text-50MB+1.txt", chinese_text(50 * MB + 1), "one byte over the 50 MB limit"),
        ("latin1.txt", H.LATIN1_TEXT.encode("latin-1") * 50, "Latin-1 text"),
        ("big5.txt", (H.BIG5_TEXT * 20 + uuid.uuid4().hex).encode("big5"), "Big5 text"),
        ("normal.docx", H.small_docx(H.SENTENCE * 30 + uuid.uuid4().hex), "a normal material (control)"),
    ]
    out = []
    for name, data, what in cases:
        path = folder / name
        path.write_bytes(data)
        out.append({"name": name, "path": path, "bytes": len(data), "what": what})
    csv = folder / "metadata.csv"
    csv.write_text(H.huge_field_csv(name="meta-target.txt"), encoding="utf-8")
    out.append({"name": "metadata.csv", "path": csv, "bytes": csv.stat().st_size,
                "what": "metadata.csv with a 200 KB field", "with": "meta-target.txt"})
    return out


# ---------------------------------------------------------------- memory sampling


def _rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in bytes; (0, 0) if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            text = fh.read().decode()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def _processes() -> dict[int, tuple[int, str]]:
    """Every process: pid → (parent pid, command line)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out[int(entry)] = (ppid, cmd)
    return out


class Sampler(threading.Thread):
    """Peak memory of gunicorn's workers and of upload jobs (detached) and their reader children."""

    def __init__(self, master: int, index: Path):
        super().__init__(daemon=True)
        self.master, self.index = master, str(index)
        self.peaks: dict[int, int] = {}  # pid → peak bytes seen
        self.kinds: dict[int, str] = {}  # pid → "worker" | "job" | "reader"
        self.stop_event = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop_event.wait(0.01):
            procs = _processes()
            children: dict[int, list[int]] = {}
            for pid, (ppid, _) in procs.items():
                children.setdefault(ppid, []).append(pid)
            tracked = {pid: "worker" for pid in children.get(self.master, [])}
            jobs = [pid for pid, (_, cmd) in procs.items() if "indexer.jobs run" in cmd and self.index in cmd]
            for job in jobs:
                tracked[job] = "job"
            for root in list(tracked):
                stack = list(children.get(root, []))
                while stack:  # a worker's or a job's reader children (and theirs)
                    pid = stack.pop()
                    tracked.setdefault(pid, "reader")
                    stack.extend(children.get(pid, []))
            with self.lock:
                for pid, kind in tracked.items():
                    rss, hwm = _rss(pid)
                    self.peaks[pid] = max(self.peaks.get(pid, 0), rss, hwm)
                    self.kinds[pid] = kind

    def snapshot(self) -> dict[int, int]:
        with self.lock:
            return dict(self.peaks)

    def reset(self) -> None:
        with self.lock:
            self.peaks.clear()


def peak_mb(peaks: dict[int, int], kinds: dict[int, str], kind: str) -> float:
    """The largest peak among the processes of one kind, in MB."""
    return round(max((v for p, v in peaks.items() if kinds.get(p) == kind), default=0) / MB, 1)


def workers(master: int) -> list[int]:
    return [pid for pid, (ppid, _) in _processes().items() if ppid == master]


# ---------------------------------------------------------------- HTTP


def request(base: str, token: str, method: str, path: str, body: bytes | None = None,
            content_type: str | None = None, timeout: float = 120) -> tuple[int, dict]:
    req = urllib.request.Request(base + path, data=body, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"raw": raw[:200].decode(errors="replace")}


def multipart(files: list[tuple[str, str, Path]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = bytearray()
    for field, name, path in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        out += path.read_bytes() + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def upload(base: str, token: str, case: dict, folder: Path) -> tuple[int, int, dict, float]:
    """Upload one case; (first status, final status, final body, seconds until the final result)."""
    files = [("files", case["name"], case["path"])]
    if case.get("with"):
        target = folder / case["with"]
        target.write_bytes(H.SENTENCE.encode() * 3 + uuid.uuid4().hex.encode())
        files = [("files", case["with"], target), ("metadata", "metadata.csv", case["path"])]
    body, ctype = multipart(files)
    start = time.monotonic()
    first, answer = request(base, token, "POST", "/api/documents", body, ctype)
    final = first
    if first == 202:  # the upload job works in its own process: follow it until it is done
        url = urllib.parse.urlparse(answer["job"]["url"]).path
        while answer["job"]["state"] not in ("done", "failed"):
            time.sleep(0.1)
            _, answer = request(base, token, "GET", url)
        final = 422 if any(r.get("status") == "rejected" for r in answer.get("results", [])) else 200
    return first, final, answer, time.monotonic() - start


# ---------------------------------------------------------------- query probe


def search_path(q: str, mode: str) -> str:
    return "/api/search?" + urllib.parse.urlencode({"q": q, "mode": mode})


def probe(base: str, token: str, seconds: float, hostile: bool) -> dict:
    normal_times: list[float] = []
    hostile_answers: list[tuple[str, int, float, str]] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def normal(offset: int) -> None:
        i = offset
        while time.monotonic() < stop:
            q, mode = NORMAL_QUERIES[i % len(NORMAL_QUERIES)]
            i += 1
            t = time.monotonic()
            status, _ = request(base, token, "GET", search_path(q, mode))
            with lock:
                normal_times.append(time.monotonic() - t)
            assert status == 200, (q, status)

    def bad(offset: int) -> None:
        i = offset
        while time.monotonic() < stop:
            q, mode = HOSTILE_QUERIES[i % len(HOSTILE_QUERIES)]
            i += 1
            t = time.monotonic()
            status, body = request(base, token, "GET", search_path(q, mode), timeout=60)
            error = str(body.get("error", ""))[:60]
            with lock:
                hostile_answers.append((q[:30], status, time.monotonic() - t, error))

    threads = [threading.Thread(target=normal, args=(i,)) for i in range(2)]
    if hostile:
        threads += [threading.Thread(target=bad, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ms = sorted(x * 1000 for x in normal_times)
    out = {"normal_searches": len(ms), "normal_p50_ms": round(statistics.median(ms), 1),
           "normal_p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1)}
    if hostile:
        by_query: dict[str, dict] = {}
        for q, status, secs, error in hostile_answers:
            entry = by_query.setdefault(q, {"count": 0, "statuses": set(), "max_s": 0.0, "error": error})
            entry["count"] += 1
            entry["statuses"].add(status)
            entry["max_s"] = max(entry["max_s"], secs)
        out["hostile"] = {q: {**e, "statuses": sorted(e["statuses"]), "max_s": round(e["max_s"], 3)}
                          for q, e in by_query.items()}
        out["hostile_max_s"] = round(max((s for _, _, s, _ in hostile_answers), default=0), 3)
    return out


# ---------------------------------------------------------------- main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True, help="an index to copy (e.g. ~700 materials)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--probe-seconds", type=float, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "hostile.json")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hostile-bench-"))
    index = work / "index"
    shutil.copytree(args.index, index)
    data, files_dir = work / "data", work / "files"
    files_dir.mkdir()
    print("building hostile files …", flush=True)
    cases = build_files(files_dir)
    port = free_port()
    env = dict(os.environ, DUIZHAO_INDEX=str(index), DUIZHAO_DATA=str(data),
               DUIZHAO_WORKERS=str(args.workers), DUIZHAO_BIND=f"127.0.0.1:{port}",
               DUIZHAO_ADMIN_PASSWORD=ADMIN_PASSWORD)
    log = open(work / "gunicorn.log", "wb")
    gunicorn = [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py")]
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    report: dict = {"workers": args.workers, "index": str(args.index), "uploads": [], "probe": {}}
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        from portal import accounts, db

        _, token = accounts.create_token(db.connect(data / "app.sqlite"), "admin", "hostile bench")
        for _ in range(2 * args.workers):  # every worker opens the index and loads jieba before measuring
            request(base, token, "GET", "/api/search?q=%E6%95%B4%E6%94%B9&mode=words")
        sampler = Sampler(server.pid, index)
        sampler.start()
        time.sleep(0.5)
        for case in cases:
            pool = workers(server.pid)
            before = {pid: _rss(pid)[0] for pid in pool}
            sampler.reset()
            first, final, answer, secs = upload(base, token, case, files_dir)
            time.sleep(1.0)
            peaks = sampler.snapshot()
            after = {pid: _rss(pid)[0] for pid in pool}
            kinds = dict(sampler.kinds)
            results = answer.get("results") or []
            mine = next((r for r in results if r.get("name") in (case["name"], case.get("with"))), {})
            row = {
                "file": case["name"], "what": case["what"], "bytes": case["bytes"], "first_status": first,
                "status": final, "result": mine.get("status") or answer.get("error", ""),
                "reason": mine.get("reason") or answer.get("error", ""), "seconds": round(secs, 2),
                "worker_peak_mb": peak_mb(peaks, kinds, "worker"),
                "job_peak_mb": peak_mb(peaks, kinds, "job"),
                "reader_peak_mb": peak_mb(peaks, kinds, "reader"),
                "worker_rss_delta_mb": round(max((after.get(p, 0) - before[p] for p in pool),
                                                 default=0) / MB, 1),
            }
            report["uploads"].append(row)
            print(f"{row['file']:<18} {row['status']} {row['result'] or '':<9} {row['seconds']:>6.2f}s  "
                  f"worker {row['worker_peak_mb']:>6.1f} MB  job {row['job_peak_mb']:>6.1f} MB  reader "
                  f"{row['reader_peak_mb']:>6.1f} MB  Δ {row['worker_rss_delta_mb']:>5.1f} MB  "
                  f"{(row['reason'] or '')[:50]}", flush=True)
        sampler.reset()
        report["probe"]["alone"] = probe(base, token, args.probe_seconds, hostile=False)
        print("normal searches alone:", report["probe"]["alone"], flush=True)
        report["probe"]["with_hostile"] = probe(base, token, args.probe_seconds, hostile=True)
        print("with 4 hostile clients:", json.dumps(report["probe"]["with_hostile"], ensure_ascii=False),
              flush=True)
        report["probe"]["worker_peak_mb"] = peak_mb(sampler.snapshot(), dict(sampler.kinds), "worker")
        sampler.stop_event.set()
        ups = report["uploads"]
        report["goals"] = {
            "worker_peak_mb_max": max(r["worker_peak_mb"] for r in ups),
            "job_or_reader_peak_mb_max": max(max(r["job_peak_mb"], r["reader_peak_mb"]) for r in ups),
            "answer_seconds_max": max(r["seconds"] for r in ups),
            "worker_rss_delta_mb_max": max(r["worker_rss_delta_mb"] for r in ups),
            "hostile_query_seconds_max": report["probe"]["with_hostile"]["hostile_max_s"],
            "normal_p99_ms_alone": report["probe"]["alone"]["normal_p99_ms"],
            "normal_p99_ms_with_hostile": report["probe"]["with_hostile"]["normal_p99_ms"],
        }
        print(json.dumps(report["goals"], ensure_ascii=False), flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
