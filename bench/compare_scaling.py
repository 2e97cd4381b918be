#!/usr/bin/env python3
"""How the corpus compare grows with the corpus: its first N and 2N documents, in process.

    python bench/compare_scaling.py INDEX [--small 4000] [--runs 2]

Takes an index built by `indexer add` (e.g. bench/out/index-10000-11 from compare_bench.py) and
runs the whole-corpus compare (from the stored fingerprints, JSON shape included) over its first
``small`` and ``2 * small`` documents, alternating, and prints the median times and their ratio.
Subsets of one corpus grow evenly in everything (characters, copies, template occurrences), which
separately generated corpora of make_corpus.py do not (its template text grows with n²).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from indexer import copies, detect  # noqa: E402
from indexer.library import Library  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index", type=Path)
    ap.add_argument("--small", type=int, default=4000)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    lib = Library(args.index)
    live = lib.live
    nums = sorted(live)
    fps = {}
    for seg in lib.segments.segments:
        for i, num in enumerate(seg.docnums.tolist()):
            fps[num] = seg.fingerprints(i)
    load = copies._loader(lib)
    times: dict[int, list[float]] = {}
    for _ in range(args.runs):
        for n in (args.small, 2 * args.small):
            subset = {live[k].id: fps[k] for k in nums[:n]}
            num_of = {live[k].id: k for k in nums[:n]}
            t0 = time.perf_counter()
            result = detect.compare_corpus(subset, lambda d: load(num_of[d]))  # noqa: B023
            result.to_json({d: live[num_of[d]].source for d in subset})
            times.setdefault(n, []).append(time.perf_counter() - t0)
            chars = sum(live[k].chars for k in nums[:n])
            print(f"{n} documents ({chars / 1e6:.1f} M characters): {times[n][-1]:.1f} s", flush=True)
    small, large = statistics.median(times[args.small]), statistics.median(times[2 * args.small])
    print(f"median {args.small}: {small:.1f} s, {2 * args.small}: {large:.1f} s, ratio {large / small:.2f}×")


if __name__ == "__main__":
    main()
