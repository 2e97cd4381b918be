#!/usr/bin/env python3
"""Which sketch evidence makes a candidate pair: the sentence stage's candidate rules on a corpus's truth.

    .venv/bin/python bench/sketch_evidence.py CORPUS [CORPUS ...] [--set KNOB=VALUE ...]

For each corpus (bench/rewrite_corpus.py or make_corpus.py, with truth.json), sketches every document
(``sentences.sketch_text``), pairs the units sharing sketch features (``unit_pairs``: one row per
shared feature, with its postings) and runs ``pairs_of_units`` under a few candidate rules. Prints,
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
from indexer.detect.sentences import pairs_of_units, sketch_text, unit_pairs  # noqa: E402

LEVELS = ("none", "light", "medium", "heavy")
RULES = {  # name -> knobs on top of the base options
    "three shared (before)": {"unit_rare_postings": 0, "unit_solo_postings": 10**9},
    "two shared": {"unit_solo_shared": 2, "unit_rare_postings": 0, "unit_solo_postings": 10**9},
    "defaults": {},
    "rare <= 2": {"unit_rare_postings": 2},
    "rare <= 4": {"unit_rare_postings": 4},
    "three in <= 16": {"unit_solo_postings": 16},
    "three in <= 48": {"unit_solo_postings": 48},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", type=Path, nargs="+")
    ap.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE")
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
        num = {n: i for i, n in enumerate(names)}
        sketches = [(i, *sketch_text(normalize((corpus / "docs" / n).read_text(encoding="utf-8")), base))
                    for i, n in enumerate(names)]
        rows = unit_pairs(sketches, base)
        copied = [(tuple(sorted((num[c["a"]["doc"]], num[c["b"]["doc"]]))), c["obfuscation"])
                  for c in truth["cases"]]
        cases.update(level for _, level in copied)
        for name, rule in RULES.items():
            found = {tuple(p) for p in pairs_of_units(rows, replace(base, **rule), len(names)).tolist()}
            totals[name][0].update(level for pair, level in copied if pair in found)
            totals[name][1][corpus.name] = len(found)
    print(f"{len(args.corpora)} corpora, copied passages per level: "
          + ", ".join(f"{lv} {cases[lv]}" for lv in LEVELS))
    print(f"{'rule':24s} {'candidates':>10s}  " + "  ".join(f"{lv:>7s}" for lv in LEVELS))
    for name, (found, cands) in totals.items():
        print(f"{name:24s} {sum(cands.values()):10d}  " + "  ".join(f"{found[lv]:7d}" for lv in LEVELS))


if __name__ == "__main__":
    main()
