"""Page timings of the portal: every page, warm, median of N, through gunicorn on loopback.

    python bench/page_timings.py --index /work/corpora/INDEX [--runs 5] [--workers 2] [--json OUT]
                                 [--timeout S]  (a loaded machine: the workers' first read of the compare)

Starts the installed ``portal`` command (gunicorn with the shipped ``gunicorn.conf.py``) on a free
loopback port over ``--index`` with a fresh data folder (a known admin password), logs in through
the form, then:

1. the overview (``/duplicates``) of the library's current state, *first* time: from the first
   request until the page is complete (the corpus compare runs as a job; the page answers 202 and
   refreshes meanwhile). Skipped with ``--no-first-compare`` when a compare is cached already.
2. every page and its API twin: one warm-up request, then ``--runs`` timed requests each; the
   median and the maximum, wall time on the client (the whole answer read).

The goal (issue 13) is ≤ 100 ms for every page except the first compare of a new library state.
The complete overview download (``/api/duplicates.json``, the whole cached compare) is not a page:
timed once, reported apart.
Writes the figures as JSON (``--json``, default bench/out/page_timings.json) and prints a Markdown
table. Needs nothing but the standard library and the portal installed in this interpreter's venv.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PASSWORD = "bench-Admin-password-2026"
GOAL_MS = 100.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A logged-in browser-like client (session cookie) with timing."""

    def __init__(self, base: str):
        self.base = base
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(cookies)

    def get(self, path: str, timeout: float = 600) -> tuple[int, bytes, float]:
        start = time.perf_counter()
        try:
            with self.opener.open(self.base + path, timeout=timeout) as resp:
                body = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            body, status = err.read(), err.code
        return status, body, 1000 * (time.perf_counter() - start)

    def login(self) -> None:
        _, page, _ = self.get("/login")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        form = urllib.parse.urlencode({"csrf_token": token, "username": "admin", "password": PASSWORD})
        self.opener.open(self.base + "/login", data=form.encode(), timeout=60).read()

    def json(self, path: str) -> dict:
        status, body, _ = self.get(path)
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:200]!r}")
        return json.loads(body)


def start_portal(index: Path, data: Path, port: int, workers: int,
                 timeout: int | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUIZHAO_")}
    env["DUIZHAO_ADMIN_PASSWORD"] = PASSWORD
    if timeout:  # a loaded machine: a worker's first read of a large cached compare may pass 60 s
        env["DUIZHAO_TIMEOUT"] = str(timeout)
    portal = Path(sys.executable).with_name("portal")
    log = open(data / "portal.log", "w", encoding="utf-8")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen([str(portal), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                             "--index", str(index), "--data", str(data)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(client: Client, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the portal exited; see its log")
        try:
            if client.get("/healthz", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the portal did not start")


def first_compare(client: Client) -> dict:
    """Time from the first overview request until the page is complete (202 while computing)."""
    start = time.perf_counter()
    requests = 0
    while True:
        status, _, _ = client.get("/duplicates")
        requests += 1
        if status != 202:
            break
        time.sleep(1.0)
    return {"status": status, "seconds": round(time.perf_counter() - start, 2), "requests": requests}


def pages(client: Client) -> list[tuple[str, str]]:
    """(name, path) of every page and API answer to time, with real ids and queries of the library."""
    docs = client.json("/api/documents?limit=1&sort=chars&order=desc")["documents"]
    big = docs[0]
    facets = client.json("/api/documents?limit=1")["facets"]
    year = next(iter(facets.get("year", {})), "")
    dup = client.json("/api/duplicates")
    pair = (dup.get("pairs") or dup.get("minor_pairs") or [{"a": big["id"], "b": big["id"]}])[0]
    a, b = pair["a"], pair["b"]
    words = re.findall(r"[\u4e00-\u9fff]{4}", big["title"]) or ["整改"]
    phrase = urllib.parse.quote(words[0])
    q2 = urllib.parse.quote("政治站位 整改落实")
    unit = urllib.parse.quote(big.get("unit") or big["title"][:2])
    return [
        ("登录页 /login", "/login"),
        ("首页 /", "/"),
        ("检索·短语 /?mode=phrase", f"/?q={phrase}&mode=phrase"),
        ("检索·智能 /?q=", f"/?q={phrase}"),
        ("检索·智能，无完整短语", f"/?q={q2}"),
        ("检索·词语 /?mode=words", f"/?q={phrase}&mode=words"),
        ("检索·筛选年度", f"/?q={phrase}&mode=phrase&year={year}"),
        ("API /api/search", f"/api/search?q={phrase}&mode=phrase"),
        ("材料列表 /documents", "/documents"),
        ("材料列表·按复制比", "/documents?sort=ratio&order=desc"),
        ("材料列表·按单位", "/documents?sort=unit"),
        ("材料列表·筛选年度", f"/documents?year={year}&sort=chars&order=desc"),
        ("API /api/documents", "/api/documents?sort=ratio&order=desc"),
        ("材料挑选 /api/documents/find", f"/api/documents/find?q={unit}"),
        ("材料全文 /documents/<id>", f"/documents/{big['id']}"),
        ("材料全文·标出检索词", f"/documents/{big['id']}?q={phrase}&mode=phrase"),
        ("查重报告 /documents/<id>/report", f"/documents/{big['id']}/report"),
        ("API 查重报告", f"/api/documents/{big['id']}/report"),
        ("报告下载 report.csv", f"/documents/{big['id']}/report.csv"),
        ("比对 /compare?a=&b=", f"/compare?a={a}&b={b}"),
        ("比对·挑选 /compare", "/compare"),
        ("重复总览 /duplicates（已算好）", "/duplicates"),
        ("重复总览·筛选年度", f"/duplicates?year={year}"),
        ("API /api/duplicates", "/api/duplicates"),
        ("上传页 /upload", "/upload"),
        ("用户 /admin/users", "/admin/users"),
        ("审计日志 /admin/audit", "/admin/audit"),
        ("审计日志·导出 CSV", "/admin/audit.csv?action=search"),
        ("健康检查 /healthz", "/healthz"),
    ]


def time_pages(client: Client, runs: int) -> list[dict]:
    out = []
    for name, path in pages(client):
        status, _, cold = client.get(path)  # warm-up (and the first time, for the record)
        times = []
        for _ in range(runs):
            status, body, ms = client.get(path)
            times.append(ms)
        out.append({"page": name, "path": path, "status": status, "bytes": len(body),
                    "first_ms": round(cold, 1), "median_ms": round(statistics.median(times), 1),
                    "max_ms": round(max(times), 1)})
        print(f"{name:32} {status} median {out[-1]['median_ms']:7.1f} ms  max {out[-1]['max_ms']:7.1f} ms",
              file=sys.stderr, flush=True)
    return out


def complete_download(client: Client) -> dict | None:
    """The complete overview as one download (``/api/duplicates.json``, streamed from the cached
    compare file): not a page, so outside the goal; its time and size, once (None if not served)."""
    status, body, ms = client.get("/api/duplicates.json")
    if status != 200:
        return None
    print(f"{'完整下载 /api/duplicates.json':32} {status} {ms:9.1f} ms  {len(body) / 1e6:.1f} MB",
          file=sys.stderr, flush=True)
    return {"status": status, "ms": round(ms, 1), "bytes": len(body)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-first-compare", action="store_true")
    ap.add_argument("--timeout", type=int,
                    help="gunicorn worker timeout in seconds (DUIZHAO_TIMEOUT; default 60)")
    ap.add_argument("--json", type=Path, default=Path("bench/out/page_timings.json"))
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="duizhao-pages-"))
    port = free_port()
    proc = start_portal(args.index.resolve(), data, port, args.workers, args.timeout)
    client = Client(f"http://127.0.0.1:{port}")
    try:
        wait_ready(client, proc)
        client.login()
        documents = client.json("/healthz")["documents"]
        first = None if args.no_first_compare else first_compare(client)
        if first:
            print(f"first compare: {first}", file=sys.stderr, flush=True)
        rows = time_pages(client, args.runs)
        download = complete_download(client)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(data, ignore_errors=True)
    result = {"index": str(args.index), "documents": documents, "runs": args.runs, "workers": args.workers,
              "first_compare": first, "pages": rows, "complete_download": download, "goal_ms": GOAL_MS,
              "over_goal": [r["page"] for r in rows if r["median_ms"] > GOAL_MS]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\n{documents} documents, {args.workers} workers, median of {args.runs} warm requests\n")
    print("| page | median | max | first | status |\n|---|---|---|---|---|")
    for r in rows:
        cells = (r["page"], f"{r['median_ms']} ms", f"{r['max_ms']} ms", f"{r['first_ms']} ms", r["status"])
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if first:
        print(f"\nfirst overview of this library state (corpus compare): {first['seconds']} s")
    if download:
        mb = download["bytes"] / 1e6
        print(f"\ncomplete overview download (not a page): {download['ms']} ms, {mb:.1f} MB")


if __name__ == "__main__":
    main()
