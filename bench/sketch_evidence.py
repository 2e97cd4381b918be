#!/usr/bin/env python3
"""Which sketch evidence makes a candidate pair: the sentence stage's candidate rules on a corpus's truth.

    .venv/bin/python bench/sketch_evidence.py CORPUS [CORPUS ...] [--set KNOB=VALUE ...]

For each corpus (bench/rewrite_corpus.py or make_corpus.py, with truth.json), sketches every document
(``sentences.sketch_text``), cuts the sketches as a compare does (``select_sketches``), pairs the units
sharing sketch features (``unit_pairs``: one row per shared feature, with its postings) and runs
``pairs_of_units``, under a few sketch sizes and candidate rules. Prints,
per rule, the candidate pairs (the cost: each is aligned unit by unit) and, per obfuscation level,
the copied passages whose two documents are a candidate pair. Fingerprint candidates are not counted:
this measures the sentence stage's own reach. The rules are DetectOptions variants; ``--set``
changes the base options all rules start from.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.detect.normalize import normalize  # noqa: E402
from indexer.detect.options import DetectOptions  # noqa: E402
from indexer.detect.sentences import (  # noqa: E402
    pairs_of_units,
    pick_sketch,
    select_sketches,
    sketch_text,
    unit_pairs,
)

LEVELS = ("none", "light", "medium", "heavy")
RULES = {  # name -> knobs on top of the base options
    "8 stored, all (before)": {"unit_sketch_stored": 8, "unit_sketch": 8},
    "16 stored, 5 used": {"unit_sketch_stored": 16, "unit_sketch": 5},
    "24 stored, 4 used": {"unit_sketch_stored": 24, "unit_sketch": 4},
    "24 stored, 5 used": {"unit_sketch_stored": 24, "unit_sketch": 5},
    "24 stored, 6 used": {"unit_sketch_stored": 24, "unit_sketch": 6},
    "24 stored, 8 used": {"unit_sketch_stored": 24, "unit_sketch": 8},
    "32 stored, 5 used": {"unit_sketch_stored": 32, "unit_sketch": 5},
    "32 stored, 6 used": {"unit_sketch_stored": 32, "unit_sketch": 6},
    "defaults": {},
    "three shared only": {"unit_rare_postings": 0, "unit_solo_postings": 10**9},
    "rare <= 2": {"unit_rare_postings": 2},
    "rare <= 4": {"unit_rare_postings": 4},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", type=Path, nargs="+")
    ap.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE")
    ap.add_argument("--docs", type=int, default=0, help="only the first N documents (0: all)")
    args = ap.parse_args()
    knobs = {}
    for kv in args.set:
        key, value = kv.split("=", 1)
        knobs[key] = type(getattr(DetectOptions, key))(value)
    base = DetectOptions(**knobs)
    totals = {name: (Counter(), Counter()) for name in RULES}  # found per level, candidates
    cases = Counter()
    for corpus in args.corpora:
        truth = json.loads((corpus / "truth.json").read_text(encoding="utf-8"))
        names = sorted(p.name for p in (corpus / "docs").glob("*.txt"))
        names = names[: args.docs] if args.docs else names
        num = {n: i for i, n in enumerate(names)}
        widest = replace(base, unit_sketch_stored=max(replace(base, **r).unit_sketch_stored
                                                      for r in RULES.values()))
        stored = [(i, *sketch_text(normalize((corpus / "docs" / n).read_text(encoding="utf-8")), widest))
                  for i, n in enumerate(names)]  # a unit's lowest K of these are its K-sketch
        copied = [(tuple(sorted((num[c["a"]["doc"]], num[c["b"]["doc"]]))), c["obfuscation"])
                  for c in truth["cases"] if c["a"]["doc"] in num and c["b"]["doc"] in num]
        cases.update(level for _, level in copied)
        for name, rule in RULES.items():
            opts = replace(base, **rule)
            sketches = [(i, *pick_sketch(u, c, opts.unit_sketch_stored)) for i, u, c in stored]
            rows = unit_pairs(select_sketches(sketches, opts), opts)
            found = {tuple(p) for p in pairs_of_units(rows, opts, len(names)).tolist()}
            totals[name][0].update(level for pair, level in copied if pair in found)
            totals[name][1][corpus.name] = len(found)
    print(f"{len(args.corpora)} corpora, copied passages per level: "
          + ", ".join(f"{lv} {cases[lv]}" for lv in LEVELS))
    print(f"{'rule':24s} {'candidates':>10s}  " + "  ".join(f"{lv:>7s}" for lv in LEVELS))
    for name, (found, cands) in totals.items():
        print(f"{name:24s} {sum(cands.values()):10d}  " + "  ".join(f"{found[lv]:7d}" for lv in LEVELS))


if __name__ == "__main__":
    main()
