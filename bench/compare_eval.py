#!/usr/bin/env python3
"""Score copy detection on a corpus built by make_corpus.py, next to a simple peer.

    .venv/bin/python bench/compare_eval.py /work/corpora/c200s7 [/work/corpora/c200s1 ...]
        [--shared /work/shared/bench] [--out bench/out] [--no-peer] [--old-peer] [--min-docs 5]
        [--set KNOB=VALUE ...]

Reads DIR/docs/*.txt directly (no index), fingerprints every document, runs the whole-corpus
compare of indexer.detect, writes bench/out/NAME.detect.json, scores it with the benchmark's
score_compare.py, and does the same for the peer "exact13": every run of 13 identical characters
(whitespace and width ignored) shared by two documents, a common rule of thumb of commercial
checkers, with 13-grams in >= min_docs documents reported as boilerplate; and "exact13+merge", the
same with runs of a pair merged when they lie within merge_gap of each other in both documents.
With --old-peer, also "winnow-only": this pipeline with its sentence stage off (the pipeline as it was
before the stage), measured in the same run. Corpora from bench/rewrite_corpus.py score the same way.
Prints a side-by-side table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.detect.corpus import compare_corpus  # noqa: E402
from indexer.detect.fingerprint import fingerprints, kgram_hashes  # noqa: E402
from indexer.detect.normalize import normalize  # noqa: E402
from indexer.detect.options import DetectOptions  # noqa: E402

LEVELS = ("none", "light", "medium", "heavy")


def load_docs(corpus: Path) -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted((corpus / "docs").glob("*.txt"))}


def run_detect(texts: dict[str, str], opts: DetectOptions) -> tuple[dict, dict]:
    t0 = time.perf_counter()
    fps = {d: fingerprints(normalize(t).text, k=opts.k, window=opts.window) for d, t in texts.items()}
    t1 = time.perf_counter()
    result = compare_corpus(fps, texts.__getitem__, options=opts)
    t2 = time.perf_counter()
    det = result.to_json({d: f"{d}.txt" for d in texts})
    return det, {"fingerprint_s": t1 - t0, "compare_s": t2 - t1}


def _fold(text: str) -> tuple[str, np.ndarray]:
    keep = [(unicodedata.normalize("NFKC", ch)[:1], i) for i, ch in enumerate(text) if not ch.isspace()]
    return "".join(c for c, _ in keep), np.array([i for _, i in keep], dtype=np.int64)


def run_exact13(texts: dict[str, str], min_docs: int, n: int = 13, merge: int = 0) -> tuple[dict, dict]:
    """Peer: maximal runs of >= n identical (folded) characters shared by two documents; with
    ``merge`` > 0, runs of one pair closer than that in both documents are merged into one passage."""
    t0 = time.perf_counter()
    ids = list(texts)
    folded = [_fold(texts[d]) for d in ids]
    grams = [kgram_hashes(f, n) for f, _ in folded]
    hashes = np.concatenate(grams)
    docs = np.repeat(np.arange(len(ids)), [len(g) for g in grams])
    pos = np.concatenate([np.arange(len(g)) for g in grams])
    order = np.lexsort((pos, docs, hashes))
    hashes, docs, pos = hashes[order], docs[order], pos[order]
    bounds = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]])
    ends = np.append(bounds[1:], len(hashes))
    diag = defaultdict(set)  # (doc a, doc b) -> {(pos a, pos b)}
    bp_runs = defaultdict(set)  # doc -> positions of 13-grams in >= min_docs documents
    bp_key = {}
    for s, e in zip(bounds.tolist(), ends.tolist(), strict=True):
        if e - s < 2:
            continue
        ds = docs[s:e].tolist()
        if len(set(ds)) >= min_docs:
            for d, p in zip(ds, pos[s:e].tolist(), strict=True):
                bp_runs[d].add(p)
                bp_key.setdefault((d, p), int(hashes[s]))
            continue
        if e - s > 8:
            continue
        ps = pos[s:e].tolist()
        for i in range(len(ds)):
            for j in range(i + 1, len(ds)):
                if ds[i] != ds[j]:
                    diag[(ds[i], ds[j])].add((ps[i], ps[j]))
    pairs = []
    for (a, b), seeds in diag.items():
        passages = []
        for pa, pb in sorted(seeds, key=lambda x: (x[0] - x[1], x[0])):
            if passages and passages[-1][4] == pa - pb and pa <= passages[-1][1]:
                passages[-1][1], passages[-1][3] = pa + n, pb + n
            else:
                passages.append([pa, pa + n, pb, pb + n, pa - pb])
        if merge:
            passages.sort()
            merged = []
            for x in passages:
                m = merged[-1] if merged else None
                if m and x[0] - m[1] <= merge and x[2] - m[3] <= merge and m[2] - x[3] <= merge:
                    m[0], m[1] = min(m[0], x[0]), max(m[1], x[1])
                    m[2], m[3] = min(m[2], x[2]), max(m[3], x[3])
                else:
                    merged.append(list(x))
            passages = merged
        oa, ob = folded[a][1], folded[b][1]
        pairs.append({"a": ids[a], "b": ids[b], "passages": [
            {"a": [int(oa[x[0]]), int(oa[x[1] - 1]) + 1], "b": [int(ob[x[2]]), int(ob[x[3] - 1]) + 1]}
            for x in passages]})
    groups = defaultdict(list)
    for d, ps in bp_runs.items():
        ps = sorted(ps)
        start = prev = ps[0]
        for p in ps[1:] + [None]:
            if p is None or p > prev + 1:
                o = folded[d][1]
                span = [int(o[start]), int(o[prev + n - 1]) + 1]
                groups[bp_key[(d, start)]].append({"doc": ids[d], "span": span})
                if p is not None:
                    start = p
            if p is not None:
                prev = p
    boiler = [{"documents": len({o["doc"] for o in occ}), "occurrences": occ} for occ in groups.values()]
    det = {"documents": [{"id": d, "source": f"{d}.txt"} for d in ids], "pairs": pairs, "boilerplate": boiler}
    return det, {"fingerprint_s": 0.0, "compare_s": time.perf_counter() - t0}


def templates_found(truth: dict, det: dict) -> str:
    """score_compare's template measure, indexed: its own loop is quadratic (hours on c10k)."""
    name_of = {d["id"]: Path(str(d.get("source", d["id"]))).name for d in det.get("documents", [])}
    spans = defaultdict(list)  # doc -> [(start, end, template id)]
    for t in truth["templates"]:
        for w in t["spans"]:
            spans[w["doc"]].append((w["span"][0], w["span"][1], t["id"]))
    best = defaultdict(int)
    for b in det.get("boilerplate", []):
        docs = defaultdict(set)
        for o in b.get("occurrences", []):
            doc = name_of.get(o["doc"], str(o["doc"]))
            s, e = o["span"]
            for ts, te, tid in spans.get(doc, ()):
                if min(e, te) > max(s, ts):
                    docs[tid].add(doc)
        for tid, ds in docs.items():
            best[tid] = max(best[tid], len(ds))
    found = sum(best[t["id"]] >= t["docs"] / 2 for t in truth["templates"])
    return f"{found}/{len(truth['templates'])}"


def score_fast(score, truth: dict, det: dict) -> dict:
    """score_compare.score with the template measure computed by templates_found (same result)."""
    result = score(truth, {**det, "boilerplate": []})
    result["templates_found"] = templates_found(truth, det)
    return result


def row(name: str, corpus: str, score: dict, times: dict) -> dict:
    rec = score["recall_by_obfuscation"]
    return {"corpus": corpus, "method": name, "plagdet": score["plagdet"], "P": score["precision"],
            "R": score["recall"], "gran": score["granularity"],
            **{f"R_{lv}": rec.get(lv, float("nan")) for lv in LEVELS},
            "templates": score["templates_found"], "fp_s": round(times["fingerprint_s"], 2),
            "cmp_s": round(times["compare_s"], 2)}


def print_table(rows: list[dict]) -> None:
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", type=Path, nargs="+")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--no-peer", action="store_true", help="without the exact13 peers")
    ap.add_argument("--old-peer", action="store_true",
                    help="also run the pipeline without the sentence stage (sentences=False) as a peer")
    ap.add_argument("--no-score", action="store_true", help="timing only (e.g. a corpus without truth)")
    ap.add_argument("--min-docs", type=int, default=DetectOptions.min_docs)
    ap.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE",
                    help="override a DetectOptions knob, e.g. --set k=10")
    args = ap.parse_args()
    knobs = {}
    for kv in args.set:
        key, value = kv.split("=", 1)
        kind = type(getattr(DetectOptions, key))
        knobs[key] = value.lower() in ("1", "true", "yes", "on") if kind is bool else kind(value)
    opts = DetectOptions(min_docs=args.min_docs, **knobs)
    sys.path.insert(0, str(args.shared))
    from score_compare import score  # the benchmark's scorer, beside the corpora

    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for corpus in args.corpora:
        texts = load_docs(corpus)
        truth = None if args.no_score else json.loads((corpus / "truth.json").read_text(encoding="utf-8"))
        methods = [("duizhao", lambda t: run_detect(t, opts))]
        if args.old_peer:  # today's pipeline before issue 11: winnowing seeds only
            methods.append(("winnow-only", lambda t: run_detect(t, replace(opts, sentences=False))))
        if not args.no_peer:
            methods.append(("exact13", lambda t: run_exact13(t, opts.min_docs)))
            methods.append(("exact13+merge", lambda t: run_exact13(t, opts.min_docs, merge=opts.merge_gap)))
        for name, fn in methods:
            det, times = fn(texts)
            (args.out / f"{corpus.name}.{name}.json").write_text(json.dumps(det, ensure_ascii=False))
            if truth is None:
                print(f"{corpus.name} {name}: {len(det['pairs'])} pairs, "
                      f"{len(det['boilerplate'])} boilerplate, "
                      f"fingerprint {times['fingerprint_s']:.1f}s compare {times['compare_s']:.1f}s")
                continue
            rows.append(row(name, corpus.name, score_fast(score, truth, det), times))
            print(json.dumps(rows[-1]), file=sys.stderr)
    if rows:
        print_table(rows)


if __name__ == "__main__":
    main()
