"""CPU time per page, in one process, for two versions of the code side by side.

    python bench/page_cpu.py --index IDX --code /path/to/older/checkout --code . [--runs 5] [--json OUT]

For each ``--code`` folder, a child process with ``PYTHONPATH`` set to it builds the portal (the app
factory, a fresh data folder, a known admin), logs in through the form and requests every page of
``bench/page_timings.py``: one warm-up, then ``--runs`` timed requests, the median of the process's
CPU time and of the wall time. CPU time says what a page costs even on a loaded machine, where the
wall times of ``page_timings.py`` are inflated; gunicorn, the network and the second worker are left
out. The index is only read, except the report cache of the library state (``cache/``): give a copy.
Prints a Markdown table: per page, each version's CPU median and the ratio last/first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PASSWORD = "bench-Admin-password-2026"


def child(index: Path, runs: int) -> None:
    """In the child: time every page with the code on ``sys.path``; JSON lines on stdout."""
    sys.path.insert(0, str(HERE))
    from page_timings import pages

    from portal import bootstrap, create_app

    data = Path(tempfile.mkdtemp(prefix="duizhao-cpu-"))
    app = create_app({"INDEX": index, "DATA": data, "ADMIN_PASSWORD": PASSWORD, "JOBS_INLINE": True})
    bootstrap(app.config)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"csrf_token": token, "username": "admin", "password": PASSWORD})

    class Adapter:  # what page_timings.pages needs of its client
        def json(self, path: str) -> dict:
            return client.get(path).get_json()

    for name, path in pages(Adapter()):
        client.get(path).get_data()  # warm-up
        cpu, wall = [], []
        for _ in range(runs):
            c0, w0 = time.process_time(), time.perf_counter()
            resp = client.get(path)
            size = len(resp.get_data())
            cpu.append(1000 * (time.process_time() - c0))
            wall.append(1000 * (time.perf_counter() - w0))
        print(json.dumps({"page": name, "path": path, "status": resp.status_code, "bytes": size,
                          "cpu_ms": round(statistics.median(cpu), 1),
                          "wall_ms": round(statistics.median(wall), 1)}, ensure_ascii=False), flush=True)


def run(code: Path, index: Path, runs: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    env = {k: v for k, v in env.items() if not k.startswith("DUIZHAO_")}
    out = subprocess.run([sys.executable, __file__, "--child", "--index", str(index), "--runs", str(runs)],
                         env=env, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--code", type=Path, action="append",
                    help="a checkout to time (repeat: the first is the peer the ratio is taken against)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, default=Path("bench/out/page_cpu.json"))
    args = ap.parse_args()
    if args.child:
        child(args.index.resolve(), args.runs)
        return
    codes = [c.resolve() for c in (args.code or [Path(".")])]
    results = {str(c): run(c, args.index.resolve(), args.runs) for c in codes}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"index": str(args.index), "runs": args.runs, "results": results},
                                    ensure_ascii=False, indent=1), encoding="utf-8")
    rows = {str(c): {r["page"]: r for r in results[str(c)]} for c in codes}
    first, last = str(codes[0]), str(codes[-1])
    heads = [f"CPU {c.name or c}" for c in codes]
    load = os.getloadavg()[0]
    print(f"\nCPU ms per request, median of {args.runs} warm, one process (load average {load:.1f})\n")
    print("| page | " + " | ".join(heads) + " | ratio | bytes |\n|---|" + "---|" * (len(codes) + 2))
    for r in results[last]:
        cells = [rows[str(c)].get(r["page"], {}).get("cpu_ms", "—") for c in codes]
        base = rows[first].get(r["page"], {}).get("cpu_ms")
        ratio = f"{r['cpu_ms'] / base:.2f}" if base else "—"
        print(f"| {r['page']} | " + " | ".join(f"{c} ms" for c in cells) + f" | {ratio} | {r['bytes']} |")


if __name__ == "__main__":
    main()
