#!/usr/bin/env python3
"""Where the sentence stage's thresholds come from: unit pairs labelled by a corpus's truth.

    .venv/bin/python bench/unit_thresholds.py CORPUS [CORPUS ...] [--pairs 400]

For the document pairs of each corpus that hold a copied passage (and as many pairs that share
fingerprints but no passage), every unit pair's tf-idf cosine and Dice (``sentences.unit_similarity``)
is labelled *copied* when both units lie mostly inside the two spans of one case, *unrelated* when
neither lies in any case. Prints, for a grid of (cosine, Dice) thresholds, the share of copied unit
pairs kept per obfuscation level and the unrelated unit pairs kept per 1,000 document pairs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.detect.normalize import normalize  # noqa: E402
from indexer.detect.options import DEFAULTS  # noqa: E402
from indexer.detect.sentences import unit_similarity  # noqa: E402
from indexer.detect.units import features  # noqa: E402

GRID_COS = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)
GRID_DICE = (0.25, 0.3, 0.35, 0.4, 0.5)


def inside(starts: np.ndarray, ends: np.ndarray, norm, span) -> np.ndarray:
    """Which units (normalized spans) lie at least half inside the original ``span``."""
    o = norm.offsets
    s, e = np.searchsorted(o, span[0]), np.searchsorted(o, span[1])
    cover = np.maximum(0, np.minimum(ends, e) - np.maximum(starts, s))
    return cover * 2 >= (ends - starts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", type=Path, nargs="+")
    ap.add_argument("--pairs", type=int, default=400, help="document pairs with a case per corpus")
    args = ap.parse_args()
    rng = random.Random(1)
    copied = defaultdict(list)  # level -> [(cos, dice)]
    unrelated, n_pairs = [], 0
    for corpus in args.corpora:
        truth = json.loads((corpus / "truth.json").read_text(encoding="utf-8"))
        by_pair = defaultdict(list)
        for c in truth["cases"]:
            by_pair[(c["a"]["doc"], c["b"]["doc"])].append(c)
        docs = sorted(p.name for p in (corpus / "docs").glob("*.txt"))
        chosen = rng.sample(sorted(by_pair), min(args.pairs, len(by_pair)))
        chosen += [(rng.choice(docs), rng.choice(docs)) for _ in range(len(chosen))]
        cache = {}

        def units(name: str, corpus: Path = corpus, cache: dict = cache):
            if name not in cache:
                norm = normalize((corpus / "docs" / name).read_text(encoding="utf-8"))
                cache[name] = (norm, features(norm, DEFAULTS))
            return cache[name]

        for a, b in chosen:
            if a == b:
                continue
            n_pairs += 1
            (na, ua), (nb, ub) = units(a), units(b)
            cos, dice = unit_similarity(ua, ub)
            free_a = np.ones(len(ua), dtype=bool)
            free_b = np.ones(len(ub), dtype=bool)
            for c in by_pair.get((a, b), []):
                ia = inside(ua.starts, ua.ends, na, c["a"]["span"])
                ib = inside(ub.starts, ub.ends, nb, c["b"]["span"])
                free_a &= ~ia
                free_b &= ~ib
                sub_c, sub_d = cos[np.ix_(ia, ib)], dice[np.ix_(ia, ib)]
                if sub_c.size:  # each copied unit of b: its best unit of a
                    best = sub_c.argmax(axis=0)
                    cols = np.arange(sub_c.shape[1])
                    copied[c["obfuscation"]].extend(zip(sub_c[best, cols], sub_d[best, cols], strict=True))
            unrelated.extend(zip(cos[np.ix_(free_a, free_b)].ravel(), dice[np.ix_(free_a, free_b)].ravel(),
                                 strict=True))
    un = np.array(unrelated).reshape(-1, 2)
    levels = sorted(copied)
    print(f"{n_pairs} document pairs; copied unit pairs per level: "
          + ", ".join(f"{lv} {len(copied[lv])}" for lv in levels) + f"; unrelated unit pairs {len(un)}")
    print("cos   dice  " + "  ".join(f"{lv:>7}" for lv in levels) + "  unrelated/1000 pairs")
    for c in GRID_COS:
        for d in GRID_DICE:
            kept = []
            for lv in levels:
                x = np.array(copied[lv]).reshape(-1, 2)
                kept.append(float(((x[:, 0] >= c) & (x[:, 1] >= d)).mean()) if len(x) else float("nan"))
            fp = int(((un[:, 0] >= c) & (un[:, 1] >= d)).sum()) * 1000 / max(1, n_pairs)
            print(f"{c:<5} {d:<5} " + "  ".join(f"{k:7.3f}" for k in kept) + f"  {fp:10.1f}")


if __name__ == "__main__":
    main()
