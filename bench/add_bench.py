#!/usr/bin/env python3
"""``indexer add`` of this checkout against a peer checkout, alternating in one run.

    .venv/bin/python bench/add_bench.py --peer /work/main --corpus DIR [--repeat 2]
        [--base INDEX --singles 10] [--out /tmp/add_bench]

Two workloads, each run from this tree and from the peer tree (``PYTHONPATH`` and working folder
set to the tree, in alternation, so that a loaded machine slows both alike):

  bulk     ``indexer add -q DIR`` into a new index: wall time, CPU time of the process tree
           (user + system, workers included) and characters per second;
  singles  with ``--base INDEX``: a copy of that index per tree, then ``--singles`` files of DIR
           added one ``indexer add`` each, as uploads arrive: median wall and CPU per add. Before
           its catalog was incremental, every commit read the whole catalog again.

Prints medians and the ratio this tree / peer, with the load average.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(tree: Path, args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of ``python -m indexer ARGS`` run from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}  # and from there: ``-m`` puts the cwd first
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "indexer", *args], check=True, stdout=subprocess.DEVNULL,
                   env=env, cwd=tree)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", type=Path, required=True, help="the other checkout, e.g. /work/main")
    ap.add_argument("--corpus", type=Path, required=True, help="a folder of .txt files (or DIR/docs)")
    ap.add_argument("--repeat", type=int, default=1, help="bulk adds per tree")
    ap.add_argument("--base", type=Path, help="an index to copy for the single-file adds")
    ap.add_argument("--singles", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("/tmp/add_bench"))
    ap.add_argument("--skip-bulk", action="store_true")
    args = ap.parse_args()
    docs = args.corpus / "docs" if (args.corpus / "docs").is_dir() else args.corpus
    files = sorted(docs.glob("*.txt"))
    chars = sum(len(p.read_text(encoding="utf-8")) for p in files)
    trees = {"this tree": ROOT, "peer": args.peer.resolve()}
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    print(f"corpus {docs}: {len(files)} files, {chars / 1e6:.2f} M characters", flush=True)

    if not args.skip_bulk:
        bulk: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        for i in range(args.repeat):
            for name, tree in trees.items():
                index = args.out / f"bulk-{name.replace(' ', '-')}-{i}"
                bulk[name].append(run(tree, ["--index", str(index), "add", "-q", str(docs)]))
                shutil.rmtree(index, ignore_errors=True)
                wall, cpu = bulk[name][-1]
                print(f"  bulk {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
        med = {n: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for n, v in bulk.items()}
        for name, tree in trees.items():
            print(f"bulk add ({name} {tree}): median {med[name][0]:.1f} s wall, "
                  f"{chars / med[name][0] / 1e3:.0f} k chars/s, {med[name][1]:.1f} s CPU"
                  f" over {len(bulk[name])} runs")
        print(f"bulk ratio this tree / peer: chars/s {med['peer'][0] / med['this tree'][0]:.2f}, "
              f"CPU {med['this tree'][1] / med['peer'][1]:.2f}", flush=True)

    if args.base:
        singles: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        copies = {}
        for name in trees:
            copies[name] = args.out / f"base-{name.replace(' ', '-')}"
            shutil.copytree(args.base, copies[name], ignore=shutil.ignore_patterns("compare.json"))
        for path in files[:args.singles]:
            for name, tree in trees.items():
                singles[name].append(run(tree, ["--index", str(copies[name]), "add", "-q", str(path)]))
        for name, tree in trees.items():
            print(f"single-file add into a copy of {args.base} ({name} {tree}): median "
                  f"{statistics.median(w for w, _ in singles[name]):.2f} s wall, "
                  f"{statistics.median(c for _, c in singles[name]):.2f} s CPU"
                  f" over {len(singles[name])} adds")
        cpu = {name: statistics.median(c for _, c in v) for name, v in singles.items()}
        print(f"singles ratio this tree / peer: CPU {cpu['this tree'] / cpu['peer']:.2f}")
        for path in copies.values():
            shutil.rmtree(path, ignore_errors=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
