"""Turning files on disk into prepared documents, in parallel worker processes.

Everything per document that costs CPU — decoding, folding, jieba, fingerprints — happens here, in
as many processes as there are cores; the single index writer only stores the results.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from . import detect, readers, sandbox, store
from .errors import UnreadableFile
from .metadata import CSV_NAME, infer_title, infer_year, read_metadata_csv
from .text import clean_stored, fold


@dataclass
class FileJob:
    """A file to ingest, the source it comes from, and metadata from a CSV.

    ``source`` is the material's identity (see ``store``): the absolute path of a file given to
    ``indexer add``, ``upload:<uuid>/<name>`` for an upload. ``name`` is the file name people see,
    ``rel`` the path below the folder that was added (how indexes before identity named sources).
    """

    path: Path
    source: str
    meta: dict[str, str] = field(default_factory=dict)
    name: str = ""
    rel: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or Path(self.path).name
        self.rel = self.rel or self.name


@dataclass
class Prepared:
    """A document ready for the index, or the reason its file was skipped."""

    job: FileJob
    digest: str = ""
    text: str = ""
    title: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    folded: str = ""
    chars: int = 0  # 字数: normalized characters (``detect.char_count``), stored as ``Document.chars``
    counts: dict[str, int] = field(default_factory=dict)
    fingerprints: tuple = ()
    sketch: tuple = ()  # the sentence stage's sketch (``sketch_of_text``), stored beside the fingerprints
    error: str | None = None


def source_of(path: Path) -> str:
    """The source of a file on disk: its absolute path, symbolic links resolved."""
    return Path(path).resolve().as_posix()


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
                        problems.append((here / CSV_NAME, f"元数据表无法读取：{exc}"))
                for name in sorted(filenames):
                    path = here / name
                    if name.startswith(".") or name == CSV_NAME:
                        continue
                    if path.suffix.lower() not in readers.SUFFIXES:
                        continue
                    rel = path.relative_to(root).as_posix()
                    jobs.append(FileJob(path, source_of(path), _meta_for(path, csvs), rel=rel))
        elif root.is_file():
            csv_rows = {}
            if (root.parent / CSV_NAME).is_file():
                try:
                    csv_rows = {root.parent: read_metadata_csv(root.parent / CSV_NAME)}
                except (ValueError, OSError, UnicodeError) as exc:
                    problems.append((root.parent / CSV_NAME, f"元数据表无法读取：{exc}"))
            jobs.append(FileJob(root, source_of(root), _meta_for(root, csv_rows)))
        else:
            problems.append((root, "文件或文件夹不存在"))
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


def fingerprint_text(text: str, *, norm: detect.Normalized | None = None) -> tuple:
    """Copy-detection fingerprints (hashes, positions) of a stored text; ``norm``: its normalized
    view when the caller already has it."""
    opts = detect.DEFAULTS
    norm = detect.normalize(text) if norm is None else norm
    return detect.fingerprints(norm.text, k=opts.k, window=opts.window)


def sketch_of_text(text: str, *, norm: detect.Normalized | None = None) -> tuple:
    """The sentence stage's sketch (unit, key) rows of a stored text (``sentences.sketch_text``), with
    the options ``stored_sketch_params`` records; ``norm``: its normalized view when the caller has it."""
    from .detect.sentences import sketch_text

    norm = detect.normalize(text) if norm is None else norm
    return sketch_text(norm, detect.DEFAULTS)


def detection_data(text: str) -> tuple[tuple, tuple]:
    """A stored text's fingerprints and sketch, normalized once (repair and upgrade rebuild both)."""
    norm = detect.normalize(text)
    return fingerprint_text(text, norm=norm), sketch_of_text(text, norm=norm)


def stored_sketch_params() -> dict:
    """What the sketches computed at ingest (``sketch_of_text``) depend on."""
    from .detect.sentences import sketch_params

    return sketch_params(detect.DEFAULTS)


def stored_sketches(rows: list | None = None, *, of=None):
    """Sketches for a segment (``segments.Sketches``) as ingest computes them: ``rows``, one per
    document, or ``of``, a docnum's computed from its stored text by ``sketch_of_text``."""
    from .segments import Sketches

    return Sketches(stored_sketch_params(), rows=rows, of=of)


def prepare_text(job: FileJob, raw: str) -> Prepared:
    """Everything the index needs of one document's text."""
    text = clean_stored(raw)
    if not text.strip():
        return Prepared(job, error="没有文字内容")
    meta = dict(job.meta)
    title = meta.pop("title", "") or infer_title(text, Path(job.name).stem)
    if not meta.get("year"):
        year = infer_year(text, title)
        if year:
            meta["year"] = year
    from .wordcut import word_counts  # jieba loads on first use: `indexer check` never needs it

    norm = detect.normalize(text)  # once: for the fingerprints, the sketch and 字数
    return Prepared(job, digest=store.digest(text), text=text, title=title, meta=meta, folded=fold(text),
                    chars=detect.char_count(norm), counts=word_counts(text),
                    fingerprints=fingerprint_text(text, norm=norm), sketch=sketch_of_text(text, norm=norm))


def prepare(job: FileJob) -> Prepared:
    """Read (in a child process with memory and time limits: ``sandbox``) and prepare one file."""
    try:
        raw = sandbox.read_text(job.path)
    except UnreadableFile as exc:
        return Prepared(job, error=str(exc))
    except OSError as exc:
        return Prepared(job, error=readers.os_reason(exc))
    return prepare_text(job, raw)


PARALLEL_FROM = 16  # fewer files are prepared in process: starting workers costs more


def _init_worker() -> None:
    from .wordcut import _ensure_jieba

    _ensure_jieba()
    sandbox.preload()


def _init_pool_worker() -> None:
    """A pool worker only reads and prepares files: confine it once rather than fork per file."""
    _init_worker()
    sandbox.confine_worker()


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
    with ctx.Pool(processes, initializer=_init_pool_worker, maxtasksperchild=2000) as pool:
        yield from _imap_bounded(pool, jobs, AHEAD)


AHEAD = 256  # documents prepared ahead of the writer at most: its memory must not grow with the corpus


def _imap_bounded(pool, jobs: list[FileJob], ahead: int) -> Iterator[Prepared]:
    """``pool.imap(prepare, jobs)`` keeping at most ``ahead`` results waiting for the consumer: a plain
    imap queues every result while the writer commits a batch, so memory grows with the corpus."""
    window: deque = deque()
    todo = iter(jobs)
    for job in islice(todo, ahead):
        window.append(pool.apply_async(prepare, (job,)))
    while window:
        result = window.popleft().get()
        job = next(todo, None)
        if job is not None:
            window.append(pool.apply_async(prepare, (job,)))
        yield result
