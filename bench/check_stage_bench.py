#!/usr/bin/env python3
"""What the sentence stage costs one check: ``report_text`` with and without it, same library, same run.

    .venv/bin/python bench/check_stage_bench.py INDEX PROBE.txt [PROBE.txt ...] [--repeat 3]
        [--peer /work/main] [--whole-only]

For each probe (a material that is not in the library), times ``Library.report_text`` in process
with ``DetectOptions(sentences=True)`` and ``sentences=False`` alternately (after one warm-up run of
each, so the synonym lexicon and the segments are loaded), and the whole ``indexer check FILE``
command ``--repeat`` times (start-up included: wall time and the child's CPU time, user + system).
``--peer TREE`` runs the whole command from another checkout too (``PYTHONPATH=TREE``), alternating
with this one in the same run, so a loaded machine slows both alike. Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import indexer.detect as detect  # noqa: E402
from indexer.library import Library  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index", type=Path)
    ap.add_argument("probes", type=Path, nargs="+")  # paths: absolute or from the current folder
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer", type=Path, help="another checkout whose whole command runs alternately")
    ap.add_argument("--whole-only", action="store_true", help="only the whole command")
    args = ap.parse_args()
    args.index, args.probes = args.index.resolve(), [p.resolve() for p in args.probes]
    if not args.whole_only:
        in_process(args)
    trees = {"this tree": ROOT} | ({"peer": args.peer.resolve()} if args.peer else {})
    wall: dict[str, list[float]] = {name: [] for name in trees}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.repeat):
        for probe in args.probes:
            for name, tree in trees.items():
                w, c = whole_command(tree, args.index, probe)
                wall[name].append(w)
                cpu[name].append(c)
    med = {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in trees}
    for name, tree in trees.items():
        print(f"indexer check FILE (whole command, {name} {tree}): median wall {med[name][0]:.2f} s"
              f" (max {max(wall[name]):.2f}), median CPU {med[name][1]:.2f} s"
              f" over {len(wall[name])} runs of {len(args.probes)} probes")
    if args.peer:
        print(f"ratio this tree / peer: wall {med['this tree'][0] / med['peer'][0]:.2f},"
              f" CPU {med['this tree'][1] / med['peer'][1]:.2f}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def whole_command(tree: Path, index: Path, probe: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``indexer check --json PROBE`` run from the checkout ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}  # and run from there: ``-m`` puts the cwd first
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "indexer", "--index", str(index), "check", "--json", str(probe)],
                   check=True, stdout=subprocess.DEVNULL, env=env, cwd=tree)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def in_process(args) -> None:
    on, off = detect.DEFAULTS, replace(detect.DEFAULTS, sentences=False)
    times: dict[str, list[float]] = {"on": [], "off": []}
    passages: dict[str, int] = {"on": 0, "off": 0}
    with Library(args.index) as lib:
        for probe in args.probes:
            text = probe.read_text(encoding="utf-8")
            for name, opts in (("on", on), ("off", off)) * (args.repeat + 1):
                detect.DEFAULTS = opts  # what Library.detect_options hands out without a stock file
                t0 = time.perf_counter()
                rep = lib.report_text(text, title=probe.name)
                times[name].append(time.perf_counter() - t0)
                passages[name] = len(rep["passages"])
            for name in times:  # drop the warm-up run of this probe
                del times[name][-(args.repeat + 1)]
    m_on, m_off = statistics.median(times["on"]), statistics.median(times["off"])
    print(f"report_text in process, median of {len(times['on'])}: sentences on {m_on:.3f} s, "
          f"off {m_off:.3f} s, ratio {m_on / m_off:.2f}; passages of the last probe on/off "
          f"{passages['on']}/{passages['off']}")


if __name__ == "__main__":
    main()
