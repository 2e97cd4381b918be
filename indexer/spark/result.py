"""A Spark compare result on disk: written by the job, imported into an index's compare cache.

A result folder holds Parquet datasets (``documents``, ``pairs``, ``passages``, ``boilerplate``,
``clusters``, ``skipped``) for whoever analyses it at scale, ``compare.json`` (the ``indexer compare
--json`` document) and ``_duizhao.json``, written last, which says what the result was computed from:
the detection options and a digest of the documents' ids. ``import_result`` loads ``compare.json``
into an index's compare cache only when the index holds exactly those documents and uses the same
options, so the portal never shows a result computed for another state of the library.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from indexer.errors import DuizhaoError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from indexer.detect.options import DetectOptions
    from indexer.library import Library

META_FILE = "_duizhao.json"
JSON_FILE = "compare.json"
RESULT_FORMAT = 1
EXTRA_KEYS = ("skipped", "_meta")  # in the job's result, not in the embedded compare's


def options_key(opts: DetectOptions) -> str:
    """The options' digest, as ``Library`` keys its compare cache."""
    return hashlib.sha256(repr(opts).encode("utf-8")).hexdigest()[:16]


def documents_digest(ids: Iterable[str]) -> str:
    """A digest of a set of document ids (what an index must hold for a result to be imported)."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


class ResultMismatch(DuizhaoError):
    """A Spark result that does not belong to this index (documents or options differ), or no result."""


def _hadoop_fs(spark: SparkSession, url: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(url)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def write_text(spark: SparkSession, url: str, text: str) -> None:
    """Write a whole text file through Hadoop's file system API (local paths, hdfs://, s3a://...)."""
    fs, path = _hadoop_fs(spark, url)
    stream = fs.create(path, True)
    try:
        data = text.encode("utf-8")
        for i in range(0, len(data), 1 << 20):
            stream.write(bytearray(data[i:i + (1 << 20)]))
    finally:
        stream.close()


def write_result(spark: SparkSession, output: str, out: dict, meta: dict, *, write_json: bool = True) -> None:
    """Every part of a result under ``output``; ``_duizhao.json`` last (a result without it is partial)."""
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    base = output.rstrip("/")
    fs, meta_path = _hadoop_fs(spark, f"{base}/{META_FILE}")
    if fs.exists(meta_path):
        fs.delete(meta_path, False)

    def save(name: str, rows: list, fields: list) -> None:
        schema = StructType(fields)
        spark.createDataFrame(rows, schema).write.mode("overwrite").parquet(f"{base}/{name}")

    s, n, d, b = StringType(), LongType(), DoubleType(), BooleanType()
    meta_keys = ("unit", "author", "role", "year", "meeting")
    save("documents", [(x["id"], x["source"], x.get("title"), x.get("chars"), x.get("added"),
                        *(x.get(k) for k in meta_keys)) for x in out["documents"]],
         [StructField("id", s), StructField("source", s), StructField("title", s), StructField("chars", n),
          StructField("added", d)] + [StructField(k, s) for k in meta_keys])
    pairs = [*out["pairs"], *out.get("minor_pairs", []), *out.get("own_pairs", [])]
    save("pairs", [(p["a"], p["b"], p.get("tier"), p["similarity"], p["shared_chars"], len(p["passages"]),
                    json.dumps({k: v for k, v in p.items() if k != "passages"}, ensure_ascii=False))
                   for p in pairs],
         [StructField("a", s), StructField("b", s), StructField("tier", s), StructField("similarity", d),
          StructField("shared_chars", n), StructField("passages", n), StructField("figures", s)])
    save("passages", [(p["a"], p["b"], *x["a"], *x["b"], x["similarity"], x["shared_chars"],
                       bool(x.get("name_swap")), json.dumps(x["edits"], ensure_ascii=False))
                      for p in pairs for x in p["passages"]],
         [StructField("a", s), StructField("b", s), StructField("a_start", n), StructField("a_end", n),
          StructField("b_start", n), StructField("b_end", n), StructField("similarity", d),
          StructField("shared_chars", n), StructField("name_swap", b), StructField("edits", s)])
    occurrence = StructType([StructField("doc", s), StructField("start", n), StructField("end", n)])
    save("boilerplate", [(i, x["documents"], x["text"], [(o["doc"], *o["span"]) for o in x["occurrences"]])
                         for i, x in enumerate(out["boilerplate"])],
         [StructField("rank", n), StructField("documents", n), StructField("text", s),
          StructField("occurrences", ArrayType(occurrence))])
    save("clusters", [(i, c["documents"], c["shared_chars"], c["pairs"])
                      for i, c in enumerate(out["clusters"])],
         [StructField("rank", n), StructField("documents", ArrayType(s)), StructField("shared_chars", n),
          StructField("pairs", n)])
    save("skipped", [(x["source"], x["reason"]) for x in out.get("skipped", [])],
         [StructField("source", s), StructField("reason", s)])
    if write_json:
        body = {k: v for k, v in out.items() if k != "_meta"}
        write_text(spark, f"{base}/{JSON_FILE}", json.dumps(body, ensure_ascii=False))
    write_text(spark, f"{base}/{META_FILE}", json.dumps(meta, ensure_ascii=False, indent=1))


def _local(path: str | Path) -> Path:
    text = str(path)
    if text.startswith("file://"):
        text = text[len("file://"):]
    elif "://" in text:
        raise ResultMismatch(f"导入结果需要本地路径（可先从集群复制下来）：{text}")
    return Path(text)


def load_result(path: str | Path) -> tuple[dict, dict]:
    """(compare JSON, meta) of a result folder on this machine."""
    folder = _local(path)
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultMismatch(f"{folder} 不是完整的 Spark 比对结果：缺少 {META_FILE}") from None
    except (OSError, ValueError) as exc:
        raise ResultMismatch(f"无法读取 {folder / META_FILE}：{exc}") from exc
    if meta.get("format") != RESULT_FORMAT:
        raise ResultMismatch(f"结果格式 {meta.get('format')} 不受支持（应为 {RESULT_FORMAT}）")
    try:
        with open(folder / JSON_FILE, encoding="utf-8") as fh:
            out = json.load(fh)
    except FileNotFoundError:
        raise ResultMismatch(f"{folder} 中没有 {JSON_FILE}：作业运行时用了 --no-json") from None
    except (OSError, ValueError) as exc:
        raise ResultMismatch(f"无法读取 {folder / JSON_FILE}：{exc}") from exc
    return out, meta


def import_result(lib: Library, path: str | Path) -> dict:
    """Load a Spark result into ``lib``'s compare cache, after checking that it was computed for the
    index's current documents with its detection options. Returns a short summary."""
    out, meta = load_result(path)
    key = lib.cache_key()
    if meta.get("options_key") != options_key(lib.detect_options):
        raise ResultMismatch("结果所用的检测参数（含自定义套话）与本索引不同，请用当前索引重新计算")
    live = {d.id for d in lib.live.values()}
    ids = {d["id"] for d in out.get("documents", [])}
    if meta.get("documents_digest") != documents_digest(live) or ids != live:
        raise ResultMismatch(f"结果与索引中的材料不一致：结果 {len(ids)} 份，索引 {len(live)} 份，"
                             f"索引缺 {len(ids - live)} 份，结果缺 {len(live - ids)} 份")
    result = {k: v for k, v in out.items() if k not in EXTRA_KEYS}
    lib.store_compare(result, key)
    return {"documents": len(ids), "pairs": len(result.get("pairs", [])),
            "boilerplate": len(result.get("boilerplate", [])), "key": key}
