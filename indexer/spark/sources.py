"""Where the Spark job's materials come from: a folder of files, a Parquet dataset, or an index.

A local folder is walked as ``indexer add`` walks it (``ingest.collect``: hidden files skipped, each
file with its row of a ``metadata.csv`` above it) and its files are read by the executors; a folder
on another file system (``hdfs://``, ``s3a://``) and Parquet datasets come through Spark's own
readers, the folder's ``metadata.csv`` files parsed by the same parser. A file is read as ``indexer
add`` reads it (the same readers; Word and PDF in ``sandbox``) and stored the same way
(``clean_stored``), so the same file gives the same text in the index and in the job; it is known by
its absolute path (or URL) and its text's digest. A file that cannot be read becomes a ``Skipped``
row with its reason; the job goes on without it.

Every source yields ``Material`` rows (texts stay on the executors) and ``Skipped`` rows; the
driver only ever sees the small ``Material.meta`` part.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from indexer.errors import DuizhaoError, UnreadableFile

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import SparkSession

TEXT_COLUMNS = ("text", "content", "正文")  # a Parquet dataset's text column, first found
SOURCE_COLUMNS = ("source", "path", "file", "来源")
KNOWN_META = ("unit", "author", "role", "year", "meeting")
ID_CHARS = 16  # a document of a folder or dataset is known by its text's digest, this long


@dataclass(frozen=True)
class Material:
    """One document: its identity and metadata (``meta``) and its stored text."""

    source: str
    id: str
    text: str
    title: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    order: tuple = ()  # how documents are numbered: the same order as the embedded compare's
    added: float | None = None  # when the index took it in (index input only)

    @property
    def meta(self) -> tuple:
        """What the driver needs: (order, id, source, title, chars, added, metadata)."""
        return (self.order, self.id, self.source, self.title, len(self.text), self.added, self.metadata)


@dataclass(frozen=True)
class Skipped:
    """An input that gave no document, and why (plain Chinese, as ``indexer add`` says it)."""

    source: str
    reason: str


class SourceError(DuizhaoError):
    """The input as a whole cannot be read (no such folder, no text column...)."""


def material(source: str, raw: str, metadata: dict[str, str] | None = None) -> Material | Skipped:
    """A document from a file's raw text, stored exactly as ``indexer add`` stores it."""
    from indexer.metadata import infer_title, infer_year
    from indexer.store import digest
    from indexer.text import clean_stored

    text = clean_stored(raw)
    if not text.strip():
        return Skipped(source, "没有文字内容")
    meta = {k: str(v) for k, v in (metadata or {}).items() if v not in (None, "")}
    title = meta.pop("title", "") or infer_title(text, PurePosixPath(source).stem)
    if not meta.get("year"):
        year = infer_year(text, title)
        if year:
            meta["year"] = year
    return Material(source, digest(text)[:ID_CHARS], text, title, meta, (source,))


def read_path(path: str) -> str:
    """A file's text as ``indexer add`` reads it: by the same readers (``readers.read_text``), a Word
    or PDF file in a child process with memory and time limits (``sandbox.read_text``). A plain-text
    file is read in the task: its reader is a bounded decode (``max_file_bytes``), and a fork per
    file cost the job more than its fingerprinting (15 of 18 s of reading 300 files)."""
    from indexer import readers, sandbox

    if PurePosixPath(path).suffix.lower() in readers.PLAIN:  # bounded decode by our own code
        return readers.read_text(path)
    return sandbox.read_text(path)


def read_local(path: str, source: str, metadata: dict[str, str]) -> Material | Skipped:
    """A file every executor sees at ``path`` (a local folder, or a mount they share)."""
    try:
        raw = read_path(path)
    except UnreadableFile as exc:
        return Skipped(source, str(exc))
    except Exception as exc:  # one bad file must not fail the job
        return Skipped(source, f"无法读取：{type(exc).__name__}")
    return material(source, raw, metadata)


def read_file_bytes(source: str, data: bytes, metadata: dict[str, str] | None = None) -> Material | Skipped:
    """A file of a Hadoop file system, from its bytes: read as ``read_local`` reads it, from a
    private temporary copy."""
    suffix = PurePosixPath(source).suffix.lower()
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="duizhao-spark-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return read_local(tmp, source, metadata or {})
    finally:
        os.unlink(tmp)


def _relative(uri: str, root: str) -> str:
    """A file's path below the input folder (to skip hidden folders and pick the readers)."""
    for prefix in (root.rstrip("/") + "/", "file:" + root.rstrip("/") + "/"):
        if uri.startswith(prefix):
            return uri[len(prefix):]
    marker = "/" + PurePosixPath(root.rstrip("/")).name + "/"
    return uri.split(marker, 1)[1] if marker in uri else uri


def source_name(uri: str) -> str:
    """A file's source, as ``indexer add`` names it: the absolute path of a local file, else its URL."""
    for prefix in ("file://", "file:"):
        if uri.startswith(prefix):
            return "/" + uri[len(prefix):].lstrip("/")
    return uri


def local_folder(path: str) -> Path | None:
    """The local folder a path or ``file:`` URL names, None for another file system."""
    if path.startswith("file:"):
        return Path("/" + path[len("file:"):].lstrip("/"))
    return None if "://" in path else Path(path)


def from_folder(spark: SparkSession, path: str, *, min_partitions: int) -> RDD:
    """Every supported file under ``path`` (recursively, hidden files skipped) as Material/Skipped,
    each with its row of a ``metadata.csv`` above it, as ``indexer add`` finds them. A local folder
    is listed here by ``ingest.collect`` (the very walk of ``indexer add``) and its files read by
    the executors; a folder of another file system (``hdfs://``, ``s3a://``) comes through Spark's
    ``binaryFiles``."""
    local = local_folder(path)
    if local is None:
        return _from_hadoop_folder(spark, path, min_partitions=min_partitions)
    from indexer.ingest import collect

    if not local.is_dir():
        raise SourceError(f"找不到输入文件夹 {path}")
    jobs, problems = collect([local])
    rows = [(str(j.path), j.source, dict(j.meta)) for j in jobs]
    sc = spark.sparkContext
    files = sc.parallelize(rows, max(1, min(len(rows), 4 * min_partitions))).map(lambda r: read_local(*r))
    if problems:  # an unreadable metadata.csv: said in the result, as indexer add says it
        files = files.union(sc.parallelize([Skipped(str(p), reason) for p, reason in problems], 1))
    return files


def _from_hadoop_folder(spark: SparkSession, path: str, *, min_partitions: int) -> RDD:
    from indexer.ingest import _meta_for
    from indexer.metadata import CSV_NAME
    from indexer.readers import SUFFIXES

    sc = spark.sparkContext
    sc._jsc.hadoopConfiguration().set("mapreduce.input.fileinputformat.input.dir.recursive", "true")
    root = _qualified(spark, path)
    try:
        files = sc.binaryFiles(path, minPartitions=min_partitions)
        files.getNumPartitions()
    except Exception as exc:  # py4j wraps Hadoop's errors
        raise SourceError(f"无法读取输入文件夹 {path}：{_first_line(exc)}") from exc

    def visible(item: tuple[str, bytes]) -> bool:
        return not any(p.startswith(".") for p in PurePosixPath(_relative(item[0], root)).parts)

    tables = [u for u in _list_files(spark, path) if u.endswith("/" + CSV_NAME) and visible((u, b""))]
    csvs, problems = _metadata_tables(sc.binaryFiles(",".join(tables)).collect() if tables else [], root)
    base = Path("/")

    def wanted(item: tuple[str, bytes]) -> bool:
        return PurePosixPath(item[0]).suffix.lower() in SUFFIXES and visible(item)

    def read(item: tuple[str, bytes]) -> Material | Skipped:
        meta = _meta_for(base / _relative(item[0], root), csvs)
        return read_file_bytes(source_name(item[0]), item[1], meta)

    out = files.filter(wanted).map(read)
    if problems:
        out = out.union(sc.parallelize(problems, 1))
    return out


def _metadata_tables(found: list[tuple[str, bytes]], root: str) -> tuple[dict, list[Skipped]]:
    """The ``metadata.csv`` files of a remote folder parsed by ``indexer add``'s parser, keyed by
    their folder as ``ingest.collect`` keys them (below ``/``), and the unreadable ones."""
    from indexer.metadata import read_metadata_csv

    csvs, problems = {}, []
    for uri, data in found:
        fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="duizhao-spark-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            csvs[(Path("/") / _relative(uri, root)).parent] = read_metadata_csv(Path(tmp))
        except (ValueError, OSError, UnicodeError) as exc:
            problems.append(Skipped(source_name(uri), f"元数据表无法读取：{exc}"))
        finally:
            os.unlink(tmp)
    return csvs, problems


def from_parquet(spark: SparkSession, path: str, *, min_partitions: int) -> RDD:
    """Rows of a Parquet dataset: a text column (``text``), an optional source column, metadata."""
    try:
        df = spark.read.parquet(path)
    except Exception as exc:
        raise SourceError(f"无法读取 Parquet 数据 {path}：{_first_line(exc)}") from exc
    text_col = next((c for c in TEXT_COLUMNS if c in df.columns), None)
    if text_col is None:
        raise SourceError(f"Parquet 数据 {path} 没有正文列，正文列应名为 text")
    source_col = next((c for c in SOURCE_COLUMNS if c in df.columns), None)
    meta_cols = [c for c in df.columns if c in KNOWN_META or c == "title"]

    def row(item) -> Material | Skipped:
        d, number = item[0].asDict(), item[1]
        source = str(d[source_col]) if source_col and d[source_col] is not None else f"第 {number + 1} 行"
        text = d[text_col]
        if not isinstance(text, str):
            return Skipped(source, "正文不是文字" if text is not None else "没有文字内容")
        return material(source, text, {c: d[c] for c in meta_cols})

    rows = df.rdd.zipWithIndex()
    if rows.getNumPartitions() < min_partitions:
        rows = rows.repartition(min_partitions)
    return rows.map(row)


def from_index(spark: SparkSession, path: str, *, min_partitions: int) -> tuple[RDD, object]:
    """The live documents of an index (a local folder every executor can read), in docnum order,
    and the index's detection options. Texts are read on the executors, a batch of docnums each."""
    from indexer.library import Library

    with Library(path) as lib:
        live = lib.live
        options = lib.detect_options
        rows = [(num, d.id, d.source, d.title, d.added, dict(d.metadata)) for num, d in sorted(live.items())]

    def read(batch):
        from indexer.store import Store

        batch = list(batch)
        store = Store(os.path.join(path, "documents.sqlite"))
        try:
            texts = store.texts([r[0] for r in batch])
        finally:
            store.close()
        for num, doc_id, source, title, added, meta in batch:
            text = texts.get(num)
            if text is None:
                yield Skipped(source, "索引中找不到正文")
            else:
                yield Material(source, doc_id, text, title, meta, (num,), added)

    n = max(1, min(min_partitions, len(rows)))
    return spark.sparkContext.parallelize(rows, n).mapPartitions(read), options


def is_index(path: str) -> bool:
    """Whether ``path`` is a local index folder."""
    return "://" not in path and os.path.isfile(os.path.join(path, "documents.sqlite"))


def is_parquet(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` holds a Parquet dataset (a .parquet file, or a folder of part files)."""
    if path.rstrip("/").endswith(".parquet"):
        return True
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    try:
        if not fs.getFileStatus(hpath).isDirectory():
            return False
        names = [s.getPath().getName() for s in fs.listStatus(hpath)]
    except Exception as exc:
        raise SourceError(f"找不到输入 {path}：{_first_line(exc)}") from exc
    return "_SUCCESS" in names and any(n.endswith(".parquet") for n in names)


def _list_files(spark: SparkSession, path: str) -> list[str]:
    """Every file below ``path`` (recursively) on its Hadoop file system, as qualified URIs."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    found, it = [], fs.listFiles(hpath, True)
    while it.hasNext():
        found.append(str(it.next().getPath().toString()))
    return found


def _qualified(spark: SparkSession, path: str) -> str:
    """``path`` as Hadoop spells it in the URIs it returns (scheme, no trailing slash)."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return str(fs.makeQualified(hpath).toString()).rstrip("/")


def _first_line(exc: Exception) -> str:
    """The useful line of an error (for a Java one, the exception's own message)."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    java = next((x for x in lines if "Exception: " in x), None)
    return (java.split("Exception: ", 1)[1] if java else lines[0])[:200]
