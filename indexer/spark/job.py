"""The corpus compare as an Apache Spark job: the embedded pipeline, stage by stage, on a cluster.

    spark-submit --master local[2] indexer/spark/job.py INPUT --output OUT [--partitions N]
    indexer compare --engine spark --master local[2] [--input INPUT --output OUT]

INPUT is a folder of materials, a Parquet dataset (a ``text`` column, optional ``source``/``title``/
metadata columns) or an index folder; any Hadoop file system URL works for the first two. OUT gets
Parquet datasets ``documents``, ``pairs``, ``passages``, ``boilerplate``, ``clusters`` and
``skipped``, the ``compare --json`` document as ``compare.json``, and ``_duizhao.json`` (the options,
the documents' digest, per-stage figures), which ``indexer compare --import`` checks against an index.

The stages (``indexer.spark.stages`` calls the embedded engine's functions in each):

1. read and number the materials (the embedded engine's order), pack them into blocks by characters;
   normalize and fingerprint each block (``normalize``, ``fingerprints``, the sentence sketch);
2. postings by hash bucket (a shuffle of numpy blocks): each hash's document frequency and count;
3. per block, boilerplate decided with the corpus-wide figures; reported passages, boilerplate
   regions, and the postings that may seed;
4. seeds by hash bucket (``pair_seeds``), sentence-stage unit pairs by feature bucket, candidate pairs
   by pair bucket; each candidate joined with its two documents and aligned (``pair_result``) and
   described (``copies.describe_pair``); boilerplate grouped by label (``group_entries``).

Settings follow Spark's conventions: ``--master`` and ``--conf`` (``spark-submit`` or
``indexer compare``), ``spark.duizhao.partitions`` (hash and pair buckets) and
``spark.duizhao.blockChars`` (characters per document block). Each stage logs one line and names
its Spark jobs, so the Spark UI shows where the time goes.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if __package__ in (None, ""):  # run as a file by spark-submit: make ``indexer`` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from indexer.detect.options import DEFAULTS, DetectOptions
from indexer.spark import stages
from indexer.spark.result import RESULT_FORMAT, documents_digest, options_key
from indexer.spark.session import parse_conf, session, stock_options
from indexer.spark.sources import (
    Material,
    Skipped,
    SourceError,
    from_folder,
    from_index,
    from_parquet,
    is_index,
    is_parquet,
)
from indexer.spark.stagelog import StageLog

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("duizhao.spark")

@dataclass(frozen=True)
class JobSettings:
    """The job's own knobs (Spark's are set through Spark)."""

    partitions: int | None = None  # hash and pair buckets; None: 2 per core, one per 2M postings
    block_chars: int = 4_000_000  # characters per block of documents (a larger document is alone)
    write_json: bool = True  # also write compare.json (the whole result through the driver)


def plan_blocks(chars: list[int], *, budget: int) -> list[int]:
    """Block number of each document (in order): consecutive documents up to ``budget`` characters
    share a block; a document larger than the budget is alone in its own."""
    out, block, used = [], 0, 0
    for n in chars:
        if used and used + n > budget:
            block, used = block + 1, 0
        out.append(block)
        used += n
    return out


def _identity(key: int) -> int:
    return key


def _values(it: Iterable[tuple]) -> Iterator:
    return (v for _, v in it)


def _fingerprint_partition(it, opts: DetectOptions):
    """(block, DocFp) for each document: one record per document, never one per block (a block of
    4 M characters pickled as one value overflowed the JVM's heap at 10,000 materials)."""
    for block, doc in it:
        yield block, stages.fingerprint_block([doc], opts)[0]


def _by_block(it: Iterable[tuple]) -> Iterator[tuple[int, list]]:
    """A partition's (block, DocFp) records as (block, documents in docnum order); the documents of a
    block share its partition (``partitionBy(n_blocks)`` on the block number)."""
    blocks: dict[int, list] = {}
    for block, doc in it:
        blocks.setdefault(block, []).append(doc)
    for block, docs in blocks.items():
        yield block, sorted(docs, key=lambda d: d.docnum)


def _boilerplate_partition(it, opts: DetectOptions, n_docs: int, n_buckets: int):
    for _block, (docs, stats) in it:
        yield from stages.block_boilerplate(list(docs), list(stats), opts, n_docs=n_docs, n_buckets=n_buckets)


def _figures_partition(it, opts: DetectOptions, spans):
    import numpy as np

    from indexer.copies import document_figures
    from indexer.detect.normalize import normalize
    from indexer.detect.tiers import covered

    for _block, d in it:
        norm = normalize(d.text)
        everything = np.ones(len(norm), dtype=bool)
        yield (d.docnum, d.id, *document_figures(norm, opts),
               covered(spans.value.get(d.id, ()), norm, everything))


def _align_partition(it, opts: DetectOptions, documents):
    from indexer.copies import describe_pair
    from indexer.detect.boilerplate import text_stock_mask
    from indexer.detect.corpus import CompareResult

    def describe(result, na, nb) -> dict:
        pair = CompareResult([result]).to_json({})["pairs"][0]
        docs = documents.value
        return describe_pair(pair, na, nb, text_stock_mask(na, opts), text_stock_mask(nb, opts),
                             docs[result.a], docs[result.b], opts)

    yield from stages.align_pairs(it, opts, describe)


def read_materials(spark: SparkSession, source: str, *, partitions: int):
    """(materials RDD, detection options of an index or None) for any supported input."""
    if is_index(source):
        return from_index(spark, source, min_partitions=partitions)
    if is_parquet(spark, source):
        return from_parquet(spark, source, min_partitions=partitions), None
    return from_folder(spark, source, min_partitions=partitions), None


def run(spark: SparkSession, source: str, output: str | None, *, options: DetectOptions | None = None,
        settings: JobSettings = JobSettings()) -> dict:
    """Compare every material of ``source``; write the result under ``output`` (unless None) and
    return the ``compare --json`` document with ``skipped`` (inputs that gave no document)."""
    from pyspark import StorageLevel

    from indexer.copies import copied_spans, finish_compare
    from indexer.detect.corpus import CompareResult

    sc = spark.sparkContext
    conf = sc.getConf()
    partitions = settings.partitions or int(conf.get("spark.duizhao.partitions", "0")) or None
    block_chars = int(conf.get("spark.duizhao.blockChars", str(settings.block_chars)))
    # Stage outputs reused later are kept on local disk (the page cache serves them back): in the JVM's
    # heap they ran it out of memory on 10,000 materials at the default 1 GB (local[2])
    keep = StorageLevel.DISK_ONLY
    timing = StageLog()
    started = time.time()

    with timing.stage(sc, 1, "读取材料") as fig:
        rows, index_options = read_materials(spark, source, partitions=max(2, sc.defaultParallelism))
        opts = options or index_options or DEFAULTS
        rows = rows.persist(keep)
        skipped = [(s.source, s.reason) for s in rows.filter(lambda r: isinstance(r, Skipped)).collect()]
        metas = rows.filter(lambda r: isinstance(r, Material)).map(lambda m: m.meta).collect()
        metas.sort(key=lambda m: (m[0], m[1]))
        kept, first = [], {}
        for m in metas:
            if m[1] in first:
                skipped.append((m[2], f"与 {first[m[1]]} 内容相同，只计一次"))
                continue
            first[m[1]] = m[2]
            kept.append(m)
        n_docs, total_chars = len(kept), sum(m[4] for m in kept)
        # blocks of at most block_chars, and enough of them to keep every core busy
        budget = max(1, min(block_chars, math.ceil(total_chars / (2 * sc.defaultParallelism))))
        blocks = plan_blocks([m[4] for m in kept], budget=budget)
        n_blocks = (blocks[-1] + 1) if blocks else 1
        fig.update(材料=n_docs, 跳过=len(skipped), 字符=total_chars, 块=n_blocks)
    for src, reason in skipped:
        log.warning("跳过 %s：%s", src, reason)

    documents = {}
    for m in kept:
        order, doc_id, src, title, chars, added, metadata = m
        documents[doc_id] = {"id": doc_id, "source": src, "title": title, "chars": chars, "added": added,
                             **metadata}
    assign = sc.broadcast({m[1]: (i, blocks[i], m[2]) for i, m in enumerate(kept)})
    docs_bc = sc.broadcast(documents)

    def numbered(r):
        if isinstance(r, Material):
            a = assign.value.get(r.id)
            if a is not None and a[2] == r.source:
                yield a[1], (a[0], r.id, r.text)

    with timing.stage(sc, 2, "规范化与指纹") as fig:
        fp_blocks = rows.flatMap(numbered).partitionBy(n_blocks, _identity) \
            .mapPartitions(lambda it: _fingerprint_partition(it, opts)).persist(keep)
        n_fp, n_sk = fp_blocks.map(lambda kv: (len(kv[1].hashes), len(kv[1].sketch_codes))) \
            .fold((0, 0), lambda x, y: (x[0] + y[0], x[1] + y[1]))
        rows.unpersist()
        nb = partitions or max(2 * sc.defaultParallelism, math.ceil(n_fp / 2_000_000))
        fig.update(指纹=n_fp, 句子特征=n_sk, 分桶=nb)

    with timing.stage(sc, 3, "按哈希汇总倒排") as fig:
        stats = fp_blocks.mapPartitions(lambda it: (x for b, docs in _by_block(it)
                                                    for x in stages.block_postings(b, docs, nb))) \
            .partitionBy(nb, _identity).mapPartitions(lambda it: stages.hash_stats(_values(it))).persist(keep)
        fig.update(共享哈希=stats.map(lambda kv: len(kv[1][0])).sum(), 倒排字节=n_fp * 24)

    with timing.stage(sc, 4, "套话判定") as fig:
        third = fp_blocks.cogroup(stats, n_blocks) \
            .mapPartitions(lambda it: _boilerplate_partition(it, opts, n_docs, nb)).persist(keep)
        tags = dict(third.map(lambda r: r[0]).countByValue())
        fig.update(套话组片段=tags.get("label", 0), 种子块=tags.get("seed", 0))
        stats.unpersist()
        docinfo = third.filter(lambda r: r[0] == "doc").map(lambda r: (r[1], r[2]))
        labels = third.filter(lambda r: r[0] == "label").map(lambda r: (r[1], r[2]))
        seeds = third.filter(lambda r: r[0] == "seed").map(lambda r: (r[1], r[2]))

    with timing.stage(sc, 5, "候选对与种子") as fig:
        by_pair = seeds.partitionBy(nb, _identity) \
            .mapPartitions(lambda it: stages.bucket_seeds(_values(it), nb))
        if opts.sentences:
            units = fp_blocks.mapPartitions(lambda it: (x for _, docs in _by_block(it)
                                                        for x in stages.block_sketches(docs, nb))) \
                .partitionBy(nb, _identity) \
                .mapPartitions(lambda it: stages.bucket_usable_sketches(_values(it), nb, opts)) \
                .partitionBy(nb, _identity) \
                .mapPartitions(lambda it: stages.doc_sketches(_values(it), nb, opts)) \
                .partitionBy(nb, _identity) \
                .mapPartitions(lambda it: stages.bucket_unit_pairs(_values(it), opts, nb))
            by_pair = by_pair.union(units)
        cands = by_pair.partitionBy(nb, _identity) \
            .mapPartitions(lambda it: stages.candidate_pairs(_values(it), opts, n_docs)).persist(keep)
        n_seeds = cands.map(lambda kv: len(kv[1][1])).sum() if not cands.isEmpty() else 0
        fig.update(候选对=cands.count(), 种子=n_seeds)

    with timing.stage(sc, 6, "逐对比对") as fig:
        first_side = cands.join(docinfo, nb) \
            .map(lambda kv: (kv[1][0][0], (kv[0], kv[1][0][1], kv[1][0][2], kv[1][1])))
        aligned = first_side.join(docinfo, nb).mapPartitions(lambda it: _align_partition(it, opts, docs_bc))
        pairs = sorted(aligned.collect(), key=lambda x: (x[0], x[1]))
        fig.update(雷同对=len(pairs))

    with timing.stage(sc, 7, "套话分组与汇总") as fig:
        entries = labels.sortByKey(numPartitions=nb).mapPartitions(stages.group_labels).collect()
        entries.sort(key=lambda b: (-b.documents, -len(b.text)))
        out = CompareResult([], entries).to_json({d: v["source"] for d, v in documents.items()})
        out["documents"] = [documents[d["id"]] for d in out["documents"]]
        out["pairs"] = [p for _, _, p in pairs]
        traces, carriers = {}, {}
        spans_bc = sc.broadcast(copied_spans(out["pairs"]))  # covered_chars, as the embedded compare
        figures_rdd = fp_blocks.mapPartitions(lambda it: _figures_partition(it, opts, spans_bc))
        for _, doc_id, chars, found, carried, cover in sorted(figures_rdd.collect(), key=lambda t: t[0]):
            documents[doc_id]["chars"] = chars  # as the embedded compare records it, after the pairs
            documents[doc_id]["covered_chars"] = cover
            if found:
                traces[doc_id] = found
            for phrase in carried:
                carriers.setdefault(phrase, set()).add(doc_id)
        out = finish_compare(out, traces, carriers)
        out["skipped"] = [{"source": s, "reason": r} for s, r in skipped]
        fig.update(套话=len(entries), 抄袭对=len(out["pairs"]), 少量雷同=len(out["minor_pairs"]),
                   团伙=len(out["clusters"]))
    fp_blocks.unpersist()
    third.unpersist()
    cands.unpersist()

    meta = {
        "format": RESULT_FORMAT, "engine": "spark", "spark": spark.version, "master": sc.master,
        "source": source, "created": started, "seconds": round(time.time() - started, 3),
        "options": dataclasses.asdict(opts), "options_key": options_key(opts),
        "documents": n_docs, "documents_digest": documents_digest(documents), "skipped": out["skipped"],
        "stages": timing.stages,
    }
    if output is not None:
        from indexer.spark.result import write_result

        with timing.stage(sc, 8, "写出结果") as fig:
            write_result(spark, output, out, meta, write_json=settings.write_json)
            fig.update(输出=output)
        meta["stages"] = timing.stages
    out["_meta"] = meta
    return out


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="indexer.spark.job", description="对照：用 Spark 做全库比对")
    ap.add_argument("input", help="材料文件夹、Parquet 数据集或索引文件夹，可为 hdfs:// 或 s3a:// 地址")
    ap.add_argument("--output", required=True, help="结果目录，写入 Parquet 与 compare.json")
    ap.add_argument("--master", help="Spark master 地址；用 spark-submit 启动时不必给出")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="Spark 配置，可重复")
    ap.add_argument("--partitions", type=int, help="哈希与材料对的分桶数")
    ap.add_argument("--block-chars", type=int, default=JobSettings.block_chars, help="每块材料的字符数")
    ap.add_argument("--stock-phrases", help="自定义套话文件（每行一条），与索引的 stock_phrases.txt 相同")
    ap.add_argument("--no-json", action="store_true", help="不写 compare.json，特大结果只写 Parquet")
    return ap


def summary(out: dict) -> str:
    """One line about a result, for people."""
    minor, skipped = len(out.get("minor_pairs", [])), len(out.get("skipped", []))
    return (f"{len(out['documents'])} 份材料，{len(out['pairs'])} 对抄袭，{minor} 对少量雷同，"
            f"{len(out['boilerplate'])} 段套话，跳过 {skipped} 个文件")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s 对照 %(message)s", stream=sys.stderr)
    try:
        spark = session(master=args.master, conf=parse_conf(args.conf))
        settings = JobSettings(partitions=args.partitions, block_chars=args.block_chars,
                               write_json=not args.no_json)
        out = run(spark, args.input, args.output, options=stock_options(args.stock_phrases),
                  settings=settings)
    except SourceError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    print(summary(out) + f"；结果在 {args.output}")
    return 0


if __name__ == "__main__":  # spark-submit runs this file: use the package's module, which workers import
    from indexer.spark.job import main as package_main

    sys.exit(package_main())
