#!/usr/bin/env python3
"""What the sentence stage costs one check: ``report_text`` with and without it, same library, same run.

    .venv/bin/python bench/check_stage_bench.py INDEX PROBE.txt [PROBE.txt ...] [--repeat 3]

For each probe (a material that is not in the library), times ``Library.report_text`` in process
with ``DetectOptions(sentences=True)`` and ``sentences=False`` alternately (after one warm-up run of
each, so the synonym lexicon and the segments are loaded), and the whole ``indexer check FILE``
command once (start-up included). Prints medians and the ratio.
"""

from __future__ import annotations

import argparse
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
    ap.add_argument("probes", type=Path, nargs="+")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
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
    cli = []
    for probe in args.probes:
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "indexer"), "--index", str(args.index), "check",
                        "--json", str(probe)], check=True, stdout=subprocess.DEVNULL)
        cli.append(time.perf_counter() - t0)
    m_on, m_off = statistics.median(times["on"]), statistics.median(times["off"])
    print(f"report_text in process, median of {len(times['on'])}: sentences on {m_on:.3f} s, "
          f"off {m_off:.3f} s, ratio {m_on / m_off:.2f}; passages of the last probe on/off "
          f"{passages['on']}/{passages['off']}")
    print(f"indexer check FILE (whole command, sentences on): median {statistics.median(cli):.2f} s, "
          f"max {max(cli):.2f} s over {len(cli)} probes")


if __name__ == "__main__":
    main()
