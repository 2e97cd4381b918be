#!/usr/bin/env python3
"""Many small adds against one bulk add: segment count, open files and phrase latency.

    python bench/segments_bench.py --corpus DIR [--files 300]     # DIR/docs/*.txt (make_corpus.py)

Builds two indexes of the same first ``--files`` materials: one by that many single-file
``indexer add FILE`` runs (each through ``indexer.cli.main`` in this process: the command's whole
code path, a fresh ``Library`` and writer each time, without paying interpreter start-up 300 times),
one by a single ``indexer add FOLDER``. Then a child process limited to ``ulimit -n 256`` opens
both, counts the file descriptors each one holds after a phrase and a words search, and times the
same phrase queries (made as ``index_bench.py`` makes them) on each, alternating per query so both
see the same machine load. Prints and writes ``--out``/report.json.

    python bench/segments_bench.py --corpus DIR --merge-segments 9

instead writes nine segments of the writer's batch size, as a bulk add does, lets the merge policy
merge them, and reports the process's peak RSS after each step (``--out``/merge.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

CHILD = r"""
import json, os, resource, statistics, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
from indexer.library import Library
small, bulk, queries = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3], encoding="utf-8"))
def fds():
    return len(os.listdir("/proc/self/fd"))
out = {}
libs = {}
for name, path in (("small", small), ("bulk", bulk)):
    before = fds()
    lib = Library(path)
    lib.search(queries[0], mode="phrase")
    lib.search(queries[0], mode="words")
    out[name] = {"open_files": fds() - before, "segments": len(lib.segments.segments),
                 "word_segments": len(lib.words.ix._segments()), "documents": len(lib)}
    libs[name] = lib
for q in queries[:20]:
    for lib in libs.values():
        lib.search(q, mode="phrase", limit=20)
lat = {name: [] for name in libs}
totals = {name: [] for name in libs}
for q in queries:
    for name, lib in libs.items():
        t0 = time.perf_counter()
        res = lib.search(q, mode="phrase", limit=20)
        lat[name].append(time.perf_counter() - t0)
        totals[name].append(res.total)
for name, xs in lat.items():
    xs.sort()
    out[name]["p50_ms"] = 1000 * statistics.median(xs)
    out[name]["p95_ms"] = 1000 * xs[int(0.95 * (len(xs) - 1))]
out["same_totals"] = totals["small"] == totals["bulk"]
print(json.dumps(out))
"""


MERGE_CHILD = r"""
import json, resource, sys
from pathlib import Path
from indexer import ingest
from indexer.merge_policy import DEFAULT_POLICY
from indexer.segments import SegmentSet
from indexer.text import fold
files, out, batch_chars, count = sys.argv[1:3] + [int(x) for x in sys.argv[3:5]]
paths = sorted(Path(files).glob("*.txt"))
segs = SegmentSet(Path(out) / "segments")
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
first, built, num = 0, [], 1
for _ in range(count):  # ``count`` segments of ``batch_chars`` characters, as bulk adds write them
    texts, size = [], 0
    while size < batch_chars:
        t = paths[first].read_text(encoding="utf-8")
        first += 1
        texts.append(t)
        size += len(t)
    nums = list(range(num, num + len(texts)))
    num += len(texts)
    segs.add(nums, [fold(t) for t in texts], [ingest.fingerprint_text(t) for t in texts])
    del texts
    built.append(peak())
sizes = [s.nbytes for s in segs.segments]
merges = segs.maybe_merge(range(1, num), lambda n: None)
print(json.dumps({"segment_bytes": sizes, "after_build_peak_mb": built, "merges": merges,
                  "merged_bytes": [s.nbytes for s in segs.segments], "after_merge_peak_mb": peak(),
                  "max_segment_bytes": DEFAULT_POLICY.max_segment_bytes}))
"""


def merge_rss(args) -> None:
    """Peak RSS of a process that writes ``--merge-segments`` bulk-add segments of the writer's batch
    size and then lets the policy merge them (its largest merge: up to ``max_segment_bytes``)."""
    from indexer.writer import BATCH_CHARS

    out = args.out / "merge"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.run([sys.executable, "-c", MERGE_CHILD, str(args.corpus / "docs"), str(out),
                            str(BATCH_CHARS), str(args.merge_segments)],
                           env=env, capture_output=True, text=True)
    if child.returncode:
        raise SystemExit(child.stderr[-2000:])
    result = json.loads(child.stdout)
    (args.out / "merge.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="folder with docs/*.txt")
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "segments")
    ap.add_argument("--merge-segments", type=int, default=0,
                    help="instead: peak RSS of writing N batch-sized segments and merging them")
    args = ap.parse_args()
    if args.merge_segments:
        return merge_rss(args)

    from index_bench import make_queries

    from indexer.cli import main as indexer

    files = sorted((args.corpus / "docs").glob("*.txt"))[: args.files]
    shutil.rmtree(args.out, ignore_errors=True)
    folder = args.out / "files"
    folder.mkdir(parents=True)
    for f in files:
        shutil.copy(f, folder / f.name)
    small, bulk = args.out / "small", args.out / "bulk"

    times = []
    for i, f in enumerate(sorted(folder.iterdir()), 1):
        t0 = time.perf_counter()
        if indexer(["--index", str(small), "add", "-q", str(f)]) != 0:
            raise SystemExit(f"indexer add {f} failed")
        times.append(time.perf_counter() - t0)
        if i % 50 == 0:
            print(f"{i} single adds, median {statistics.median(times):.2f} s", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    if indexer(["--index", str(bulk), "add", "-q", str(folder)]) != 0:
        raise SystemExit("bulk indexer add failed")
    bulk_seconds = time.perf_counter() - t0

    texts = [f.read_text(encoding="utf-8") for f in files]
    queries = make_queries(texts, args.queries, random.Random(1))
    qfile = args.out / "queries.json"
    qfile.write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.run([sys.executable, "-c", CHILD, str(small), str(bulk), str(qfile)], env=env,
                           capture_output=True, text=True)
    if child.returncode:
        raise SystemExit(f"opening under ulimit -n 256 failed:\n{child.stderr[-2000:]}")
    result = json.loads(child.stdout)
    result.update(files=len(files), single_add_median_s=statistics.median(times),
                  single_adds_total_s=sum(times), bulk_add_s=bulk_seconds,
                  p50_ratio=result["small"]["p50_ms"] / result["bulk"]["p50_ms"],
                  p95_ratio=result["small"]["p95_ms"] / result["bulk"]["p95_ms"])
    (args.out / "report.json").write_text(json.dumps(result, indent=1))
    print(f"{len(files)} materials; opened under ulimit -n 256; same totals: {result['same_totals']}")
    print(f"{'index':8} {'segments':>8} {'word segs':>9} {'open files':>10} {'p50 ms':>8} {'p95 ms':>8}")
    for name in ("small", "bulk"):
        r = result[name]
        print(f"{name:8} {r['segments']:8} {r['word_segments']:9} {r['open_files']:10} {r['p50_ms']:8.2f} "
              f"{r['p95_ms']:8.2f}")
    print(f"small / bulk: p50 {result['p50_ratio']:.2f}×, p95 {result['p95_ratio']:.2f}×; single add median "
          f"{result['single_add_median_s']:.2f} s, bulk add {bulk_seconds:.1f} s")


if __name__ == "__main__":
    main()
