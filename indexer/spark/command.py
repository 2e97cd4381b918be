"""``indexer compare --engine spark`` and ``indexer compare --import RESULT``.

With ``--engine spark`` and no ``--input``, the job compares the index itself (read from the index
folder, its own detection options) and its result is imported into the index's compare cache, so
``indexer compare`` and the portal's overview show it. With ``--input`` it compares a folder, a
Parquet dataset or a Hadoop URL and writes the result under ``--output`` only; a result copied back
from a cluster is loaded later with ``--import``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from indexer.errors import DuizhaoError

if TYPE_CHECKING:
    from indexer.library import Library

RESULT_FOLDER = "spark-result"  # inside the index folder, when the job compares the index


class SparkUnavailable(DuizhaoError):
    """pyspark or Java is missing."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The compare subcommand's Spark options."""
    p.add_argument("--engine", choices=("embedded", "spark"), default="embedded",
                   help="比对引擎：embedded 在本进程比对，为默认；"
                        "spark 用 Spark，需先 pip install '.[spark]' 并装好 Java 17")
    p.add_argument("--master", metavar="地址",
                   help="Spark master，如 local[2]、spark://host:7077、yarn；用于 --engine spark")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="一项 Spark 配置，可重复；用于 --engine spark")
    p.add_argument("--partitions", type=int, metavar="N", help="Spark 作业的哈希与材料对分桶数")
    p.add_argument("--input", metavar="位置",
                   help="比对这些材料而不是索引：文件夹、Parquet 数据集或 hdfs:// / s3a:// 地址"
                        "；用于 --engine spark，须同时给出 --output")
    p.add_argument("--output", metavar="位置",
                   help=f"Spark 作业写结果的位置（默认：索引文件夹/{RESULT_FOLDER}）")
    p.add_argument("--import", dest="import_result", metavar="结果",
                   help="把一个 Spark 结果文件夹载入索引的比对缓存（先核对材料）")


def _job():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable("未安装 pyspark：请运行 pip install '.[spark]'，另外还需要 Java 17") from None
    import shutil

    if shutil.which("java") is None and not _java_home():
        raise SparkUnavailable("找不到 Java：Spark 需要 Java 17；Debian 或 Ubuntu 上可以运行 "
                               "apt-get install openjdk-17-jre-headless 安装")
    from indexer.spark import job

    return job


def _java_home() -> bool:
    import os

    home = os.environ.get("JAVA_HOME")
    return bool(home) and Path(home, "bin", "java").exists()


def run_compare(lib: Library, args) -> int | None:
    """Run or import a Spark compare. Returns an exit status when the command is done, or None when
    the result is now the index's cached compare and ``indexer compare`` should print it as usual."""
    if args.import_result:
        from indexer.spark.result import import_result

        info = import_result(lib, args.import_result)
        print(f"已导入 Spark 比对结果：{info['documents']} 份材料，{info['pairs']} 对抄袭，"
              f"{info['boilerplate']} 段套话", file=sys.stderr)
        if args.engine != "spark":
            return None
    if args.engine != "spark":
        return None
    if args.input and not args.output:
        raise DuizhaoError("用 --input 时请用 --output 指定结果目录")
    job = _job()
    from indexer.spark.session import parse_conf, session

    logging.basicConfig(level=logging.INFO, format="%(asctime)s 对照 %(message)s", stream=sys.stderr)
    spark = session(master=args.master or "local[2]", conf=parse_conf(args.conf))
    spark.sparkContext.setLogLevel("WARN")
    source = args.input or str(lib.path)
    output = args.output or str(lib.path / RESULT_FOLDER)
    try:
        out = job.run(spark, source, output, settings=job.JobSettings(partitions=args.partitions))
    finally:
        spark.stop()
    for item in out.get("skipped", []):
        print(f"跳过 {item['source']}：{item['reason']}", file=sys.stderr)
    if args.input:
        if args.json:
            out.pop("_meta", None)
            print(json.dumps(out, ensure_ascii=False))
        else:
            print(job.summary(out) + f"；结果在 {output}")
        return 1 if out.get("skipped") else 0
    from indexer.spark.result import import_result

    import_result(lib, output)
    print(f"Spark 比对完成并已载入索引：{job.summary(out)}；结果在 {output}", file=sys.stderr)
    return None
