#!/usr/bin/env python3
"""Indexing throughput and phrase-search latency/recall: Duizhao against its peers, in one run.

    python bench/index_bench.py --corpus DIR        # DIR/docs/*.txt, e.g. from make_corpus.py
    python bench/index_bench.py --docs 10000        # builds the corpus with ../shared/bench/make_corpus.py

Peers, each indexing the same files in its own process (wall time, peak RSS of the process tree):
  duizhao   `indexer add` (everything phrase search needs, words index, and any registered stages)
  stock     jieba's ChineseAnalyzer + Whoosh, one TEXT field (the recipe from jieba's README)
  fts5      SQLite FTS5 with the trigram tokenizer over the folded text (LIKE scan below 3 chars)
Then the same random phrases (2–12 characters, cut across words and line breaks, plus some found
nowhere; generated like ../shared/bench/score_search.py) go to each, in process, asking for the
first 20 hits and the exact total; recall and precision are against plain substring truth.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "bench"
HANZI_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")

STOCK_BUILD = """
import sys, glob
from whoosh import index
from whoosh.fields import Schema, TEXT, ID
from jieba.analyse import ChineseAnalyzer
src, out, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
ix = index.create_in(out, Schema(path=ID(stored=True, unique=True), content=TEXT(analyzer=ChineseAnalyzer())))
w = ix.writer()
for f in sorted(glob.glob(src + "/*.txt"))[:limit or None]:
    w.add_document(path=f.rsplit("/", 1)[1], content=open(f, encoding="utf-8").read())
w.commit()
"""

FTS_BUILD = """
import sys, glob, sqlite3, unicodedata
src, out = sys.argv[1], sys.argv[2]
def fold(t): return "".join(unicodedata.normalize("NFKC", c) for c in t if not c.isspace())
db = sqlite3.connect(out + "/fts.sqlite")
db.execute("CREATE VIRTUAL TABLE docs USING fts5(name UNINDEXED, body, tokenize='trigram')")
with db:
    for f in sorted(glob.glob(src + "/*.txt")):
        body = fold(open(f, encoding="utf-8").read())
        db.execute("INSERT INTO docs(name, body) VALUES (?, ?)", (f.rsplit("/", 1)[1], body))
db.close()
"""


def fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", ch) for ch in text if not ch.isspace())


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total, todo = 0, [pid]
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


def timed(cmd: list[str]) -> tuple[float, int]:
    """Run ``cmd``; returns (wall seconds, peak RSS of its process tree in bytes)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.25)
    if proc.returncode:
        raise SystemExit(f"{cmd[:3]} failed with {proc.returncode}")
    return time.perf_counter() - t0, peak


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def make_queries(texts: list[str], n: int, rng: random.Random) -> list[str]:
    """As ../shared/bench/score_search.py makes them (copied so the benchmark runs without it)."""
    queries: list[str] = []
    runs = [m.group() for t in texts for m in HANZI_RUN.finditer(t)]
    while len(queries) < n * 0.7:
        run = rng.choice(runs)
        size = rng.randint(2, min(12, len(run)))
        i = rng.randrange(len(run) - size + 1)
        queries.append(run[i:i + size])
    broken = [t for t in texts if "\n" in t.strip()]
    while len(queries) < n * 0.9 and broken:
        t = rng.choice(broken)
        cuts = [m.start() for m in re.finditer(r"(?<=[\u4e00-\u9fff])\n+(?=[\u4e00-\u9fff])", t)]
        if not cuts:
            broken.remove(t)
            continue
        c = rng.choice(cuts)
        queries.append(fold(t[max(0, c - rng.randint(1, 5)):c + rng.randint(2, 6)]))
    while len(queries) < n:
        a, b = rng.choice(runs), rng.choice(runs)
        queries.append(a[:2] + b[-2:])
    return queries


def measure(name: str, run, every, queries: list[str], truth: list[set[str]]) -> dict:
    """Latency of ``run(q) -> total`` (first 20 hits and the exact total); recall and precision of
    ``every(q) -> all matching names`` against ``truth``."""
    lat, tp, fn, fp, exact = [], 0, 0, 0, 0
    for q in queries[:20]:  # warm up caches
        run(q)
    for q, want in zip(queries, truth):
        t0 = time.perf_counter()
        total = run(q)
        lat.append(time.perf_counter() - t0)
        got = every(q)
        tp += len(want & got)
        fn += len(want - got)
        fp += len(got - want)
        exact += total == len(want)
    lat.sort()
    return {
        "name": name, "p50_ms": 1000 * statistics.median(lat),
        "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
        "recall": tp / (tp + fn) if tp + fn else 1.0, "precision": tp / (tp + fp) if tp + fp else 1.0,
        "exact_totals": exact / len(queries),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, help="folder with docs/*.txt")
    ap.add_argument("--docs", type=int, default=10000, help="corpus size to generate when --corpus is absent")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "index")
    ap.add_argument("--skip", action="append", default=[], choices=["stock", "fts5"], help="leave a peer out")
    ap.add_argument("--reuse", action="store_true", help="reuse the indexes (and indexing figures) in --out")
    ap.add_argument("--stock-docs", type=int, default=0,
                    help="index only the first N documents with the stock recipe (its rate is per "
                         "character, so a subset compares fairly and saves an hour at 30,000 documents); "
                         "phrase search then skips the stock peer")
    ap.add_argument("--no-search", action="store_true", help="indexing figures only (throughput, peak RSS)")
    args = ap.parse_args()

    corpus = args.corpus
    if corpus is None:
        corpus = HERE / "out" / f"corpus-{args.docs}-{args.seed}"
        if not (corpus / "docs").exists():
            subprocess.run([sys.executable, str(SHARED / "make_corpus.py"), "--out", str(corpus),
                            "--docs", str(args.docs), "--seed", str(args.seed)], check=True)
    docs = corpus / "docs"
    files = sorted(docs.glob("*.txt"))
    texts = {p.name: p.read_text(encoding="utf-8") for p in files}
    chars = sum(map(len, texts.values()))
    print(f"corpus {docs}: {len(files)} documents, {chars / 1e6:.1f} M characters", flush=True)

    previous = {}
    if args.reuse and (args.out / "report.json").exists():
        previous = json.loads((args.out / "report.json").read_text())["indexing"]
    else:
        shutil.rmtree(args.out, ignore_errors=True)
        args.out.mkdir(parents=True)
    py = sys.executable
    indexer = str(Path(py).parent / "indexer")
    builds = {"duizhao": [indexer, "--index", str(args.out / "duizhao"), "add", "-q", str(docs)]}
    if "stock" not in args.skip:
        (args.out / "stock").mkdir(exist_ok=True)
        builds["stock"] = [py, "-c", textwrap.dedent(STOCK_BUILD), str(docs), str(args.out / "stock"),
                           str(args.stock_docs)]
    if "fts5" not in args.skip:
        (args.out / "fts5").mkdir(exist_ok=True)
        builds["fts5"] = [py, "-c", textwrap.dedent(FTS_BUILD), str(docs), str(args.out / "fts5")]
    indexing = {}
    stock_files = files[:args.stock_docs] if args.stock_docs else files
    for name, cmd in builds.items():
        if name in previous:
            indexing[name] = previous[name]
            continue
        secs, peak = timed(cmd)
        n_docs, n_chars = len(files), chars
        if name == "stock":
            n_docs, n_chars = len(stock_files), sum(len(texts[p.name]) for p in stock_files)
        indexing[name] = {"seconds": secs, "documents": n_docs, "chars_per_s": n_chars / secs,
                          "docs_per_s": n_docs / secs, "peak_rss_mb": peak / 2**20,
                          "index_mb": dir_size(args.out / name) / 2**20}
        print(f"indexed with {name}: {n_docs} documents in {secs:.1f} s, {n_chars / secs / 1e3:.0f} k "
              f"chars/s, {n_docs / secs:.1f} docs/s, peak RSS {peak / 2**20:.0f} MB", flush=True)
    if args.no_search:
        report = {"corpus": str(corpus), "documents": len(files), "characters": chars, "indexing": indexing}
        (args.out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
        stock = indexing.get("stock")
        if stock:
            print(f"duizhao / stock: {indexing['duizhao']['chars_per_s'] / stock['chars_per_s']:.2f}× in "
                  f"characters per second, {indexing['duizhao']['docs_per_s'] / stock['docs_per_s']:.2f}× in "
                  f"documents per second")
        return

    queries = make_queries(list(texts.values()), args.queries, random.Random(1))
    folded = {name: fold(t) for name, t in texts.items()}
    truth = [{n for n, t in folded.items() if fold(q) in t} for q in queries]
    results = []

    sys.path.insert(0, str(ROOT))
    from indexer.library import Library

    lib = Library(args.out / "duizhao")
    source_of = {d.id: d.source.rsplit("/", 1)[-1] for d in lib.live.values()}

    def ours(q):
        return lib.search(q, mode="phrase", limit=20).total

    def ours_all(q):
        res = lib.search(q, mode="phrase", limit=10_000)
        return {source_of[h.id] for h in res.hits}

    results.append(measure("duizhao", ours, ours_all, queries, truth))

    if "stock" in builds and not args.stock_docs:
        from whoosh import index as windex
        from whoosh.qparser import QueryParser

        ix = windex.open_dir(args.out / "stock")
        searcher = ix.searcher()
        parser = QueryParser("content", ix.schema)
        names = {d: f["path"] for d, f in searcher.reader().iter_docs()}

        def stock(q):
            return len(searcher.search(parser.parse(f'"{q}"'), limit=20))

        def stock_all(q):
            return {names[d] for d in searcher.docs_for_query(parser.parse(f'"{q}"'))}

        results.append(measure("stock", stock, stock_all, queries, truth))

    if "fts5" in builds:
        import sqlite3

        db = sqlite3.connect(args.out / "fts5" / "fts.sqlite")

        def fts_where(q):
            fq = fold(q)
            if len(fq) >= 3:  # the trigram index answers phrases of 3+ characters
                return "docs MATCH ?", '"' + fq.replace('"', '""') + '"'
            return "instr(body, ?) > 0", fq  # shorter: a full scan

        def fts(q):
            where, arg = fts_where(q)
            db.execute(f"SELECT name FROM docs WHERE {where} LIMIT 20", (arg,)).fetchall()
            return db.execute(f"SELECT count(*) FROM docs WHERE {where}", (arg,)).fetchone()[0]

        def fts_all(q):
            where, arg = fts_where(q)
            return {r[0] for r in db.execute(f"SELECT name FROM docs WHERE {where}", (arg,))}

        results.append(measure("fts5", fts, fts_all, queries, truth))

    stock_rate = indexing.get("stock", {}).get("chars_per_s")
    print()
    print(f"{'peer':10} {'index s':>8} {'k chars/s':>10} {'× stock':>8} {'peak MB':>8} {'index MB':>9} "
          f"{'p50 ms':>8} {'p95 ms':>8} {'recall':>7} {'precision':>9} {'exact totals':>12}")
    for r in results:
        ix = indexing[r["name"]]
        ratio = f"{ix['chars_per_s'] / stock_rate:.2f}" if stock_rate else "-"
        print(f"{r['name']:10} {ix['seconds']:8.1f} {ix['chars_per_s'] / 1e3:10.0f} {ratio:>8} "
              f"{ix['peak_rss_mb']:8.0f} {ix['index_mb']:9.0f} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} "
              f"{r['recall']:7.4f} {r['precision']:9.4f} {r['exact_totals']:12.3f}")
    report = {"corpus": str(corpus), "documents": len(files), "characters": chars, "queries": len(queries),
              "indexing": indexing, "phrase_search": results}
    (args.out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
