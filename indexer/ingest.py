"""Turning files on disk into prepared documents, in parallel worker processes.

Everything per document that costs CPU — decoding, folding, jieba, fingerprints — happens here, in
as many processes as there are cores; the single index writer only stores the results.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import detect, readers
from .errors import UnreadableFile
from .metadata import CSV_NAME, infer_title, infer_year, read_metadata_csv
from .text import clean_stored, fold


@dataclass
class FileJob:
    """A file to ingest, the source name it will be known by, and metadata from a CSV."""

    path: Path
    source: str
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class Prepared:
    """A document ready for the index, or the reason its file was skipped."""

    job: FileJob
    id: str = ""
    text: str = ""
    title: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    folded: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    fingerprints: tuple = ()
    error: str | None = None


def content_id(text: str) -> str:
    """A stable id derived from the stored text: the same content always gets the same id."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def collect(paths: Iterable[Path | str]) -> tuple[list[FileJob], list[tuple[Path, str]]]:
    """Files to ingest under ``paths`` (folders walked recursively), and problems found on the way."""
    jobs: list[FileJob] = []
    problems: list[tuple[Path, str]] = []
    for raw in paths:
        root = Path(raw)
        if root.is_dir():
            csvs: dict[Path, dict[str, dict[str, str]]] = {}
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                here = Path(dirpath)
                if CSV_NAME in filenames:
                    try:
                        csvs[here] = read_metadata_csv(here / CSV_NAME)
                    except (ValueError, OSError, UnicodeError) as exc:
                        problems.append((here / CSV_NAME, f"元数据表无法读取 ({exc})"))
                for name in sorted(filenames):
                    path = here / name
                    if name.startswith(".") or name == CSV_NAME:
                        continue
                    if path.suffix.lower() not in readers.SUFFIXES:
                        continue
                    rel = path.relative_to(root).as_posix()
                    jobs.append(FileJob(path, rel, _meta_for(path, csvs)))
        elif root.is_file():
            csv_rows = {}
            if (root.parent / CSV_NAME).is_file():
                try:
                    csv_rows = {root.parent: read_metadata_csv(root.parent / CSV_NAME)}
                except (ValueError, OSError, UnicodeError) as exc:
                    problems.append((root.parent / CSV_NAME, f"元数据表无法读取 ({exc})"))
            jobs.append(FileJob(root, root.name, _meta_for(root, csv_rows)))
        else:
            problems.append((root, "文件不存在 (no such file or folder)"))
    return jobs, problems


def _meta_for(path: Path, csvs: dict[Path, dict[str, dict[str, str]]]) -> dict[str, str]:
    """The CSV row describing ``path``: from the nearest CSV above it, by relative path or name."""
    for folder in [path.parent, *path.parent.parents]:
        rows = csvs.get(folder)
        if rows:
            rel = path.relative_to(folder).as_posix()
            if rel in rows:
                return dict(rows[rel])
            if path.name in rows:
                return dict(rows[path.name])
    return {}


def fingerprint_text(text: str) -> tuple:
    """Copy-detection fingerprints (hashes, positions) of a stored text."""
    opts = detect.DEFAULTS
    return detect.fingerprints(detect.normalize(text).text, k=opts.k, window=opts.window)


def prepare_text(job: FileJob, raw: str) -> Prepared:
    """Everything the index needs of one document's text."""
    text = clean_stored(raw)
    if not text.strip():
        return Prepared(job, error="没有文字内容 (no text)")
    meta = dict(job.meta)
    title = meta.pop("title", "") or infer_title(text, Path(job.source).stem)
    if not meta.get("year"):
        year = infer_year(text, title)
        if year:
            meta["year"] = year
    from . import words  # jieba and Whoosh load on first use: `indexer check` never needs them

    return Prepared(job, id=content_id(text), text=text, title=title, meta=meta, folded=fold(text),
                    counts=words.word_counts(text), fingerprints=fingerprint_text(text))


def prepare(job: FileJob) -> Prepared:
    try:
        raw = readers.read_text(job.path)
    except UnreadableFile as exc:
        return Prepared(job, error=str(exc))
    except OSError as exc:
        return Prepared(job, error=f"无法读取 ({exc.strerror or exc})")
    return prepare_text(job, raw)


PARALLEL_FROM = 16  # fewer files are prepared in process: starting workers costs more


def _init_worker() -> None:
    from .words import _ensure_jieba

    _ensure_jieba()


def prepare_all(jobs: list[FileJob], *, processes: int | None = None) -> Iterator[Prepared]:
    """Prepared documents in the order of ``jobs``; uses worker processes for more than a few files."""
    processes = processes or min(os.cpu_count() or 1, 4)
    if len(jobs) < PARALLEL_FROM or processes < 2:
        _init_worker()
        for job in jobs:
            yield prepare(job)
        return
    # Not "fork": a process that already built a suffix array has OpenMP threads, and a forked
    # child of it can hang inside libdivsufsort. The fork server is a clean process.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["indexer.ingest"])
    with ctx.Pool(processes, initializer=_init_worker, maxtasksperchild=2000) as pool:
        yield from pool.imap(prepare, jobs, chunksize=4)
