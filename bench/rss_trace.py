#!/usr/bin/env python3
"""Peak memory against corpus size while an ``indexer add`` runs: is it bounded?

    python bench/rss_trace.py --pid PID --index INDEX [--every 2] [--out trace.csv]

Samples the resident memory of process PID and all its descendants (the writer and its ingest
workers) and the number of materials committed to INDEX, until PID exits. Prints one line per
newly committed batch: materials, characters so far, segments, the current and the running peak
tree RSS. A bounded writer shows a peak that stops growing while the corpus keeps growing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from index_bench import tree_rss  # noqa: E402


def committed(index: Path) -> tuple[int, int]:
    """(materials, characters) committed to the index's store so far."""
    try:
        db = sqlite3.connect(f"file:{index / 'documents.sqlite'}?mode=ro", uri=True, timeout=1)
        try:
            return tuple(db.execute("SELECT count(*), coalesce(sum(chars), 0) FROM documents").fetchone())
        finally:
            db.close()
    except sqlite3.Error:
        return 0, 0


def segment_count(index: Path) -> int:
    try:
        return len(json.loads((index / "segments" / "manifest.json").read_text())["segments"])
    except (OSError, ValueError):
        return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--every", type=float, default=2.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows, peak, last = [], 0, (-1, -1)
    t0 = time.time()
    while os.path.exists(f"/proc/{args.pid}"):
        rss = tree_rss(args.pid)
        peak = max(peak, rss)
        docs, chars = committed(args.index)
        segs = segment_count(args.index)
        rows.append((round(time.time() - t0, 1), docs, chars, segs, rss >> 20, peak >> 20))
        if (docs, chars) != last:
            last = (docs, chars)
            print(f"{rows[-1][0]:8.0f} s  {docs:6} materials  {chars / 1e6:7.1f} M chars  "
                  f"{rows[-1][3]:3} segments  RSS {rss >> 20:5} MB  peak {peak >> 20:5} MB", flush=True)
        time.sleep(args.every)
    if args.out:
        with open(args.out, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["seconds", "materials", "characters", "segments", "tree_rss_mb", "peak_mb"])
            w.writerows(rows)
    print(f"peak tree RSS {peak >> 20} MB", flush=True)


if __name__ == "__main__":
    main()
