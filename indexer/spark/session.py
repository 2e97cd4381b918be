"""The Spark session of a compare, and the settings people give it (``--master``, ``--conf``,
``--stock-phrases``), for ``spark-submit indexer/spark/job.py`` and ``indexer compare --engine spark``.

Settings follow Spark's conventions: whatever ``--conf`` sets wins. By default the Python workers fork
from ``indexer.spark.daemon``, which has loaded the detection code (``spark.python.daemon.module``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from indexer.detect.options import DEFAULTS, DetectOptions
from indexer.spark.sources import SourceError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_CONF = (
    ("spark.ui.showConsoleProgress", "false"),  # a log line per stage instead (job.StageLog)
    ("spark.python.daemon.module", "indexer.spark.daemon"),  # workers fork warm
    ("spark.driver.memory", "2g"),  # the driver assembles the result; local mode's tasks run in it too
)


def session(*, master: str | None = None, conf: Iterable[tuple[str, str]] = (),
            app_name: str = "duizhao-compare") -> SparkSession:
    """A SparkSession (``master`` and ``conf`` as spark-submit takes them); the workers run this
    Python, so the ``indexer`` package they import is this one."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in (*DEFAULT_CONF, *conf):  # later settings win
        builder = builder.config(key, value)
    if master:
        builder = builder.master(master)
    return builder.getOrCreate()


def parse_conf(items: Iterable[str]) -> list[tuple[str, str]]:
    """``key=value`` strings (``--conf``) as pairs; a malformed one is a usage error."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SourceError(f"--conf 应写成 键=值：{item}")
        out.append((key.strip(), value))
    return out


def stock_options(path: str | None) -> DetectOptions | None:
    """Detection options with the user's own stock phrases (one per line), as an index's are."""
    if not path:
        return None
    with open(path, encoding="utf-8-sig") as fh:
        phrases = tuple(x.strip() for x in fh if x.strip() and not x.lstrip().startswith("#"))
    return dataclasses.replace(DEFAULTS, stock_phrases=phrases)
