#!/usr/bin/env python3
"""Copy-detection speed through the real CLI: `indexer compare` and `indexer check` at scale.

    python bench/compare_bench.py --docs 4000 8000 10000 [--seed 11] [--checks 7]

For each size, builds a corpus with ../shared/bench/make_corpus.py (or reuses it under bench/out),
indexes it with `indexer add` (fingerprints are computed there, once), then times
  compare   `indexer compare --json` from a cold cache (the whole corpus, every pair, boilerplate)
  check     `indexer check FILE` of materials that are not in the library (median of --checks runs;
            wall time of the whole command, start-up included)
and scores the compare JSON with ../shared/bench/score_compare.py (its template measure computed with
an index, as bench/compare_eval.py does: the scorer's own loop takes hours at 10,000 documents; for
corpora above 2,000 documents the generator records no natural overlaps, so precision there is a
lower bound). Prints a table and the growth ratio of compare time between consecutive sizes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "bench"
INDEXER = str(Path(sys.executable).parent / "indexer")
sys.path[:0] = [str(HERE), str(SHARED)]
from compare_eval import score_fast  # noqa: E402  (beside this file)
from score_compare import score as score_compare  # noqa: E402  (the benchmark's scorer, in ../shared)


def run(cmd: list[str], **kw) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    return time.perf_counter() - t0


def corpus(n: int, seed: int) -> Path:
    path = HERE / "out" / f"corpus-{n}-{seed}"
    if not (path / "truth.json").exists():
        subprocess.run([sys.executable, str(SHARED / "make_corpus.py"), "--out", str(path), "--docs", str(n),
                        "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, nargs="+", default=[4000, 8000, 10000])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--checks", type=int, default=7)
    args = ap.parse_args()

    probes_src = corpus(200, args.seed + 1000)  # materials from another corpus: not in any library
    probes = sorted((probes_src / "docs").glob("*.txt"))[: args.checks]
    rows = []
    for n in args.docs:
        src = corpus(n, args.seed)
        index = HERE / "out" / f"index-{n}-{args.seed}"
        add_s = None
        if not (index / "documents.sqlite").exists():
            add_s = run([INDEXER, "--index", str(index), "add", "-q", str(src / "docs")],
                        stdout=subprocess.DEVNULL)
        (index / "compare.json").unlink(missing_ok=True)
        out = HERE / "out" / f"compare-{n}-{args.seed}.json"
        with open(out, "w") as fh:
            compare_s = run([INDEXER, "--index", str(index), "compare", "--json"], stdout=fh)
        truth = json.loads((src / "truth.json").read_text(encoding="utf-8"))
        score = score_fast(score_compare, truth, json.loads(out.read_text(encoding="utf-8")))
        checks = [run([INDEXER, "--index", str(index), "check", "--json", str(p)], stdout=subprocess.DEVNULL)
                  for p in probes]
        chars = truth["chars"]
        rows.append({"docs": n, "chars": chars, "add_s": add_s, "compare_s": compare_s,
                     "check_median_s": statistics.median(checks), "check_max_s": max(checks), **score})
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)

    print(f"\n{'docs':>6} {'M chars':>8} {'add s':>7} {'compare s':>10} {'check p50 s':>12} "
          f"{'check max':>10} {'plagdet':>8} {'recall':>7} {'precision':>9} {'gran':>6} {'templates':>9}")
    for r in rows:
        add = f"{r['add_s']:.0f}" if r["add_s"] else "reused"
        print(f"{r['docs']:>6} {r['chars'] / 1e6:8.1f} {add:>7} {r['compare_s']:10.1f} "
              f"{r['check_median_s']:12.2f} {r['check_max_s']:10.2f} {r['plagdet']:8.4f} {r['recall']:7.4f} "
              f"{r['precision']:9.4f} "
              f"{r['granularity']:6.3f} {r['templates_found']:>9}")
    for a, b in zip(rows, rows[1:]):
        print(f"compare time {b['docs']} / {a['docs']} docs: {b['compare_s'] / a['compare_s']:.2f}×")
    (HERE / "out" / "compare_bench.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
