#!/usr/bin/env python3
"""Load test of the portal's search API under gunicorn, with wrk (a benchmark, not a timed test).

    python bench/search_load.py                                   # c10k corpus, index built in bench/out
    python bench/search_load.py --index /work/ix10k               # reuse an index (only read)
    python bench/search_load.py --connections 8 --duration 30 --runs 3

Starts gunicorn with the repository's gunicorn.conf.py on a free 127.0.0.1 port, then drives
``GET /api/search?mode=phrase&limit=20&q=…`` with wrk at a fixed concurrency; a Lua script cycles
through a few hundred phrases made from the corpus the way ../shared/bench/score_search.py makes
them (runs of 2–12 characters, phrases across line breaks, some found nowhere). Each run prints
requests/s, latency p50/p99 and errors (socket errors plus non-200 answers); the medians of the runs
are the figures to quote. Then score_search.py checks recall and precision through the same server.
Targets: ≥ 100 req/s, p99 ≤ 200 ms, 0 errors; recall = precision = 1.0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
BIN = Path(sys.executable).parent

LUA = """
local paths = {%(paths)s}
local i = 0
request = function()
  i = i %% #paths + 1
  local headers = {["Accept"] = "application/json", ["Authorization"] = "Bearer %(token)s"}
  return wrk.format("GET", paths[i], headers)
end
local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "seconds": %%.3f, "p50_ms": %%.2f, "p90_ms": %%.2f, "p99_ms": %%.2f, ' ..
    '"max_ms": %%.2f, "socket_errors": %%d, "non200": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def load_score_search():
    """../shared/bench/score_search.py as a module (its query maker and its CLI)."""
    path = SHARED / "score_search.py"
    spec = importlib.util.spec_from_file_location("score_search", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_index(docs: Path, index: Path) -> None:
    """Index ``docs`` into ``index`` with the indexer CLI (resumable if interrupted)."""
    print(f"indexing {docs} into {index} …", flush=True)
    t0 = time.time()
    subprocess.run([str(BIN / "indexer"), "--index", str(index), "add", "-q", str(docs)], check=False)
    print(f"indexed in {time.time() - t0:.0f} s", flush=True)


def start_gunicorn(index: Path, port: int, workers: int | None, data: Path) -> subprocess.Popen:
    password = os.environ.get("DUIZHAO_ADMIN_PASSWORD") or "load-test-" + os.urandom(6).hex()
    env = dict(os.environ, DUIZHAO_INDEX=str(index), DUIZHAO_DATA=str(data), DUIZHAO_ADMIN_PASSWORD=password)
    cmd = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}"]
    if workers:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd + ["portal:create_app()"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/healthz"
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz")


def wrk(url: str, script: Path, *, threads: int, connections: int, seconds: int) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
           "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["rps"] = round(result["requests"] / result["seconds"], 1)
    result["errors"] = result["socket_errors"] + result["non200"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=Path, default=Path("/work/corpora/c10k/docs"))
    ap.add_argument("--index", type=Path, help="reuse this index (only read); else build one in --workdir")
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "search_load")
    ap.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--phrases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-score", action="store_true", help="skip the recall/precision check")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")

    score_search, score_path = load_score_search()
    index = args.index
    if index is None:
        index = args.workdir / "index"
        build_index(args.docs, index)
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(args.docs.glob("*.txt"))]
    phrases = score_search.make_queries(texts, args.phrases, random.Random(args.seed))
    paths = ["/api/search?" + urllib.parse.urlencode({"q": q, "mode": "phrase", "limit": 20})
             for q in phrases]

    tmp = Path(tempfile.mkdtemp(prefix="search_load-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_gunicorn(index, port, args.workers, tmp)
    token = subprocess.run([str(BIN / "portal"), "--data", str(tmp), "token", "create", "admin", "--name",
                            "search_load"], capture_output=True, text=True, check=True).stdout.strip()
    script = tmp / "phrases.lua"  # the token lives in this private temp folder only
    lua = LUA % {"paths": ", ".join(json.dumps(p) for p in paths), "token": token}
    script.write_text(lua, encoding="utf-8")
    report: dict = {"documents": None, "connections": args.connections, "duration_s": args.duration,
                    "phrases": len(phrases), "runs": []}
    try:
        with urllib.request.urlopen(base + "/healthz") as resp:
            report["documents"] = json.load(resp)["documents"]
        print(f"gunicorn on {base}, {report['documents']} documents, {len(phrases)} phrases", flush=True)
        wrk(base, script, threads=args.threads, connections=args.connections, seconds=5)  # warm every worker
        for i in range(args.runs):
            r = wrk(base, script, threads=args.threads, connections=args.connections, seconds=args.duration)
            report["runs"].append(r)
            print(f"run {i + 1}: {r['rps']:7.1f} req/s  p50 {r['p50_ms']:6.1f} ms  "
                  f"p99 {r['p99_ms']:6.1f} ms  max {r['max_ms']:6.1f} ms  errors {r['errors']} "
                  f"({r['requests']} requests)", flush=True)
        report["median"] = {k: statistics.median(r[k] for r in report["runs"])
                            for k in ("rps", "p50_ms", "p99_ms", "errors")}
        m = report["median"]
        print(f"median of {args.runs}: {m['rps']:.1f} req/s, p50 {m['p50_ms']:.1f} ms, "
              f"p99 {m['p99_ms']:.1f} ms, errors {m['errors']}", flush=True)
        if not args.no_score:
            cmd = [sys.executable, str(score_path), "--docs", str(args.docs), "--url", base, "--json",
                   "--token", token]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            report["score_search"] = json.loads(out.strip().splitlines()[-1])
            s = report["score_search"]
            print(f"score_search: recall {s['recall']}  precision {s['precision']}  "
                  f"errors {s['errors']}  p50 {s['p50_ms']} ms  p95 {s['p95_ms']} ms "
                  f"({s['queries']} queries, limit 10000)", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    out_file = args.workdir / "result.json"
    out_file.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    m = report["median"]
    ok = m["rps"] >= 100 and m["p99_ms"] <= 200 and m["errors"] == 0
    print("targets (≥100 req/s, p99 ≤ 200 ms, 0 errors):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
