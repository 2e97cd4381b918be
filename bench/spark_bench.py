#!/usr/bin/env python3
"""The Spark job (local mode) against the embedded compare, on the same materials, in one run.

    nice -n 10 .venv/bin/python bench/spark_bench.py /work/corpora/e-2k/docs /work/corpora/c10k-s11/docs \\
        [--master 'local[2]'] [--out bench/out/spark_bench.json]

For each folder, each engine runs in a child process of its own and starts from the files:

- embedded: read each file as the job does (``indexer.spark.sources.material``), fingerprint it (what
  ``indexer add`` does), then ``indexer.copies.compare_corpus`` — the real ``indexer compare`` code,
  over a small stand-in for the index;
- spark: ``indexer.spark.job.run`` on the folder, result written under bench/out/.

Time is wall time of the child; peak memory is the largest sum of RSS over the child's whole process
tree (the JVM and Spark's Python workers included), sampled every half second. The two results are
compared (they must be equal), and the job's per-stage figures are kept for docs/scaling.md.
Results are written after each folder, so a long run leaves what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tree(root: int) -> tuple[int, dict[int, float]]:
    """Bytes of RSS of ``root`` and all its descendants, and each one's CPU seconds so far (/proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().rsplit(b")", 1)[1].split()
            ppid, pages = int(stat[1]), int(stat[21])
            cpu[int(entry)] = (int(stat[11]) + int(stat[12])) / tick  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, todo, seen = 0, [root], {}
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        seen[pid] = cpu.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total, seen


def measure(cmd: list[str]) -> dict:
    """Run ``cmd``; its wall time, peak tree RSS, CPU time of its tree, the load average around it
    and the JSON it prints last. CPU is each process's last sampled utime + stime, summed: the
    steadier figure on a shared machine (a process's last half second, and processes shorter than
    a sample, are missed)."""
    load_before = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = 0
    cpu: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            rss, seen = tree(proc.pid)
            peak = max(peak, rss)
            cpu.update(seen)
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[3]} failed with status {proc.returncode}")
    figures = json.loads(out.splitlines()[-1])
    load = [round(x, 1) for x in (*load_before, *os.getloadavg())]  # 1, 5, 15 min: before, after
    return {"seconds": round(seconds, 2), "cpu_seconds": round(sum(cpu.values()), 1),
            "peak_rss_mb": round(peak / 2**20), "load": load, **figures}


class _Doc:
    def __init__(self, m, docnum: int):
        self.id, self.source, self.title, self.chars = m.id, m.source, m.title, len(m.text)
        self.added, self.metadata, self.docnum, self.text = None, dict(m.metadata), docnum, m.text


class _Corpus:
    """What ``copies.compare_corpus`` reads of a Library, over materials in memory."""

    def __init__(self, docs: list[_Doc], fps: dict[int, tuple]):
        from indexer.detect import DEFAULTS

        self.detect_options = DEFAULTS
        self.live = {d.docnum: d for d in docs}
        self._fps = fps

    def fingerprints(self, docnum: int):
        return self._fps[docnum]

    def texts(self, docnums):
        return {n: self.live[n].text for n in docnums if n in self.live}


def child_embedded(folder: str, out_file: str) -> None:
    from indexer import copies
    from indexer.ingest import fingerprint_text
    from indexer.readers import SUFFIXES, read_text
    from indexer.spark.sources import Material, material

    t0 = time.perf_counter()
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    mats = [m for m in (material(str(p.resolve()), read_text(p)) for p in files) if isinstance(m, Material)]
    seen, docs = set(), []
    for m in mats:  # as the job: one document per text
        if m.id not in seen:
            seen.add(m.id)
            docs.append(_Doc(m, len(docs)))
    t1 = time.perf_counter()
    fps = {d.docnum: fingerprint_text(d.text) for d in docs}
    t2 = time.perf_counter()
    result = copies.compare_corpus(_Corpus(docs, fps))
    t3 = time.perf_counter()
    Path(out_file).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({"documents": len(docs), "read_s": round(t1 - t0, 2), "fingerprint_s": round(t2 - t1, 2),
                      "compare_s": round(t3 - t2, 2)}))


def child_spark(folder: str, out_dir: str, master: str, partitions: int | None) -> None:
    import logging

    from indexer.spark import job
    from indexer.spark.session import session

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    spark = session(master=master)
    spark.sparkContext.setLogLevel("ERROR")
    out = job.run(spark, folder, out_dir, settings=job.JobSettings(partitions=partitions))
    spark.stop()
    meta = out["_meta"]
    print(json.dumps({"documents": meta["documents"], "stages": meta["stages"], "job_s": meta["seconds"]},
                     ensure_ascii=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="*")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--partitions", type=int)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "spark_bench.json"))
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "embedded":
            child_embedded(*rest)
        else:
            child_spark(rest[0], rest[1], args.master, args.partitions)
        return
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    for folder in args.folders:
        name = Path(folder).resolve().parent.name or Path(folder).name
        work = out_path.parent / f"spark_bench-{name}"
        work.mkdir(parents=True, exist_ok=True)
        me = [sys.executable, __file__, "--master", args.master, "--child"]
        if args.partitions:
            me[2:2] = ["--partitions", str(args.partitions)]
        embedded = measure(me + ["embedded", folder, str(work / "embedded.json")])
        print(f"{name}: embedded {embedded}", file=sys.stderr, flush=True)
        spark = measure(me + ["spark", folder, str(work / "spark")])
        print(f"{name}: spark {spark['seconds']} s, {spark['cpu_seconds']} s CPU, {spark['peak_rss_mb']} MB",
              file=sys.stderr, flush=True)
        a = json.loads((work / "embedded.json").read_text(encoding="utf-8"))
        b = json.loads((work / "spark" / "compare.json").read_text(encoding="utf-8"))
        b.pop("skipped", None)
        runs.append({"folder": folder, "documents": embedded["documents"], "master": args.master,
                     "equal": a == b, "pairs": len(a["pairs"]), "minor_pairs": len(a.get("minor_pairs", [])),
                     "boilerplate": len(a["boilerplate"]), "embedded": embedded, "spark": spark,
                     "ratio_time": round(spark["seconds"] / embedded["seconds"], 2),
                     "ratio_cpu": round(spark["cpu_seconds"] / max(0.1, embedded["cpu_seconds"]), 2),
                     "ratio_memory": round(spark["peak_rss_mb"] / max(1, embedded["peak_rss_mb"]), 2)})
        out_path.write_text(json.dumps({"runs": runs, "cpus": os.cpu_count(),
                                        "load": os.getloadavg()}, ensure_ascii=False, indent=1))
        print(json.dumps(runs[-1], ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
