#!/usr/bin/env python3
"""Pairs and clusters of ``indexer compare --json`` on a make_corpus.py corpus, against its truth.

    indexer --index IDX add -q CORPUS/docs && indexer --index IDX compare --json > OUT.json
    .venv/bin/python bench/report_eval.py CORPUS OUT.json [--shared /work/shared/bench]

Prints, as one JSON line: the copying pairs (``pairs``) and the weaker tiers, how many of them are
planted copies (a truth case between the two documents) and how many are not ("unplanted": the two
materials share only template text, headings or natural overlaps), the clusters and their sizes, and
plagdet of ``pairs`` alone and of every tier together (score_compare.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("detections", type=Path)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "bench")
    args = ap.parse_args()
    sys.path.insert(0, str(args.shared))
    from score_compare import score  # noqa: E402

    truth = json.loads((args.corpus / "truth.json").read_text(encoding="utf-8"))
    det = json.loads(args.detections.read_text(encoding="utf-8"))
    name = {d["id"]: Path(str(d["source"])).name for d in det["documents"]}
    planted = {frozenset((c["a"]["doc"], c["b"]["doc"])) for c in truth["cases"]}
    out = {"corpus": args.corpus.name, "docs": len(det["documents"]), "cases": len(truth["cases"]),
           "planted_pairs": len(planted)}
    for key in ("pairs", "minor_pairs", "own_pairs"):
        pairs = det.get(key, [])
        hit = [p for p in pairs if frozenset((name[p["a"]], name[p["b"]])) in planted]
        out[key] = len(pairs)
        out[key + "_unplanted"] = len(pairs) - len(hit)
    clusters = det.get("clusters", [])
    out["clusters"] = len(clusters)
    out["cluster_sizes"] = sorted((len(c["documents"]) for c in clusters), reverse=True)[:10]
    s = score(truth, det)
    out["plagdet_pairs"] = round(s["plagdet"], 4)
    every = dict(det, pairs=det.get("pairs", []) + det.get("minor_pairs", []) + det.get("own_pairs", []))
    out["plagdet_all_tiers"] = round(score(truth, every)["plagdet"], 4)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
