#!/usr/bin/env python3
"""CPU seconds of the whole-corpus compare with and without the sentence stage, in one process.

    .venv/bin/python bench/compare_cpu.py CORPUS [--docs N] [--unstored] [--repeat N]
    .venv/bin/python bench/compare_cpu.py --index INDEX


Reads CORPUS/docs/*.txt (the first N), computes what ingest stores of each (fingerprints, and the
sentence stage's sketches), and runs ``compare_corpus`` with ``sentences=False`` and ``True`` (process
CPU time, which a machine shared with other jobs inflates far less than wall time). Prints both, their
ratio, and the pairs each found; then the sketches' cost at ingest, and with ``--unstored`` the
compare computing them itself (as over an index written before they were stored).

With ``--index``, the same for the whole compare of a library (``indexer compare``: fingerprints and
sketches read from its segments, every pair described, 套话 and web traces): CPU and wall time of
``copies.compare_corpus`` with the stage off and on, nothing cached.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.detect import DEFAULTS, compare_corpus, fingerprints, normalize  # noqa: E402
from indexer.detect.lexicon import cilin  # noqa: E402
from indexer.detect.sentences import sketch_text  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path, nargs="?")
    ap.add_argument("--index", type=Path, help="compare this library instead (indexer compare)")
    ap.add_argument("--docs", type=int, default=0, help="only the first N documents (0: all)")
    ap.add_argument("--repeat", type=int, default=1, help="alternate off and on this many times (medians)")
    ap.add_argument("--unstored", action="store_true", help="also the compare computing the sketches itself")
    args = ap.parse_args()
    if args.index:
        return library(args.index)
    files = sorted((args.corpus / "docs").glob("*.txt"))
    files = files[: args.docs] if args.docs else files
    texts = {p.stem: p.read_text(encoding="utf-8") for p in files}
    norms = {d: normalize(t) for d, t in texts.items()}
    fps = {d: fingerprints(n.text, k=DEFAULTS.k, window=DEFAULTS.window) for d, n in norms.items()}
    cilin()  # loaded once per process, as in a server
    t0 = time.process_time()
    sketches = {d: sketch_text(n, DEFAULTS) for d, n in norms.items()}  # what ingest stores
    ingest_s = time.process_time() - t0
    del norms
    runs = [("off", replace(DEFAULTS, sentences=False), None), ("on", DEFAULTS, sketches)]
    if args.unstored:
        runs.append(("unstored", DEFAULTS, None))
    times: dict[str, list[float]] = {}
    found = {}
    for _ in range(args.repeat):  # alternating, so a change in the machine's load hits both alike
        for name, opts, stored in runs:
            t0 = time.process_time()
            result = compare_corpus(fps, texts.__getitem__, options=opts, sketches=stored)
            times.setdefault(name, []).append(time.process_time() - t0)
            found[name] = len(result.pairs)
            del result
    if args.repeat > 1:
        runs_text = "; ".join(f"{k} " + " ".join(f"{t:.1f}" for t in v) for k, v in times.items())
        print(f"  CPU s per run: {runs_text}")
    out = {name: (statistics.median(v), found[name]) for name, v in times.items()}
    print(f"{args.corpus.name} {len(texts)} documents, {sum(map(len, texts.values())) / 1e6:.1f} M chars: "
          f"compare CPU off {out['off'][0]:.1f} s ({out['off'][1]} pairs), on {out['on'][0]:.1f} s "
          f"({out['on'][1]} pairs), ratio {out['on'][0] / out['off'][0]:.2f}; "
          f"sketches at ingest {ingest_s:.1f} s")
    if args.unstored:
        print(f"  without stored sketches: {out['unstored'][0]:.1f} s ({out['unstored'][1]} pairs), "
              f"ratio {out['unstored'][0] / out['off'][0]:.2f}")


def library(index: Path) -> None:
    from indexer import copies
    from indexer.library import Library

    cilin()
    out = {}
    with Library(index) as lib:
        base = lib.detect_options
        for name, opts in (("off", replace(base, sentences=False)), ("on", base)):
            type(lib).detect_options = property(lambda self, o=opts: o)  # this run's options
            t0, w0 = time.process_time(), time.perf_counter()
            result = copies.compare_corpus(lib)
            out[name] = (time.process_time() - t0, time.perf_counter() - w0,
                         sum(len(result[k]) for k in ("pairs", "minor_pairs", "own_pairs")))
        stored = sum(len(s) for s in lib.segments.segments if s.sketch_params is not None)
        print(f"{index} {len(lib)} documents ({stored} with stored sketches): indexer compare "
              f"CPU off {out['off'][0]:.1f} s (wall {out['off'][1]:.1f} s, {out['off'][2]} pairs), "
              f"on {out['on'][0]:.1f} s (wall {out['on'][1]:.1f} s, {out['on'][2]} pairs), "
              f"ratio CPU {out['on'][0] / out['off'][0]:.2f}, wall {out['on'][1] / out['off'][1]:.2f}")


if __name__ == "__main__":
    main()
