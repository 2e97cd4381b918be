"""The index writer: the only code that changes an index folder.

Open it from a library, in Whoosh's style::

    with lib.writer() as w:
        w.add([folder])
        w.remove(doc_id)
    # committed on a clean exit

The writer holds the index's exclusive file lock for its whole life, so any number of processes may
share one index: writers queue, readers never block. While it is open a ``dirty`` marker sits in the
index folder; a writer that dies leaves it behind, and the next writer (or the next ``Library``
opened while no writer is at work) reconciles the derived indexes with the store.

SQLite is the commit point: a batch's phrase segment and word postings are written first, then its
rows are committed, so a crash never leaves a visible document unsearchable. After every commit the
segment merge policy runs (``_after_commit``, the one place that calls it).
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from . import ingest
from .store import META_FIELDS, Document
from .text import fold

if TYPE_CHECKING:
    from .library import Library

BATCH_CHARS = 12_000_000
BATCH_DOCS = 2_000
DIRTY = "dirty"
LOCK = "write.lock"


@dataclass
class FileResult:
    """What happened to one input file: added, replaced, unchanged, duplicate or skipped."""

    path: str
    source: str
    status: str
    id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class AddReport:
    results: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> bool:
        return any(r.status == "skipped" for r in self.results)


def needs_repair(lib: Library) -> bool:
    """A writer died mid-job, or segments predate stored fingerprints."""
    return (lib.path / DIRTY).exists() or bool(lib.segments.without_fingerprints())


def recover(lib: Library) -> None:
    """Finish what a crashed writer left half-done, unless a live writer holds the lock (it will)."""
    with open(lib.path / LOCK, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        try:
            if needs_repair(lib):
                reconcile(lib)
                (lib.path / DIRTY).unlink(missing_ok=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def reconcile(lib: Library) -> None:
    """Make the derived indexes match the store: index what is missing, drop what is not live."""
    lib._generation = -1
    lib.segments.cleanup()
    live = set(lib.live)
    missing = sorted(live - lib.segments.indexed_docnums())
    texts = lib.store.texts(missing)
    lib.segments.add(missing, [fold(texts[n]) for n in missing],
                     [ingest.fingerprint_text(texts[n]) for n in missing])
    ids = dict(lib.catalog.by_id)
    from . import words

    indexed = lib.words.indexed_ids()
    writer = lib.words.ix.writer()
    for doc_id in indexed - set(ids):
        writer.delete_by_term("id", doc_id)
    todo = [ids[i] for i in set(ids) - indexed]
    texts = lib.store.texts(d.docnum for d in todo)
    for doc in todo:
        add_words(writer, doc, words.word_counts(texts[doc.docnum]))
    writer.commit()
    merge(lib)


def merge(lib: Library) -> None:
    """Run the segment merge policy over the live documents (after every commit and reconcile)."""
    lib.segments.maybe_merge(set(lib.live), lib.fingerprints)


def add_words(writer, doc: Document, counts: dict[str, int]) -> None:
    """Index one document's words and metadata in Whoosh."""
    fields = {f: getattr(doc, f) for f in META_FIELDS if getattr(doc, f)}
    writer.add_document(id=doc.id, docnum=doc.docnum, title=doc.title, words=counts, **fields)


class IndexWriter:
    """The exclusive writer of one index; see the module docstring. Not thread-safe."""

    def __init__(self, lib: Library):
        self.lib = lib
        self._lock: IO | None = open(lib.path / LOCK, "a+")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            lib.segments.cleanup()  # orphans of crashed writers, even if no dirty marker was left
            if needs_repair(lib):
                reconcile(lib)
            (lib.path / DIRTY).touch()
        except BaseException:
            self._release()
            raise

    # -- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.cancel()

    def commit(self) -> None:
        """Finish: everything done so far is committed; release the lock."""
        if self._lock is None:
            return
        try:
            self.lib.refresh()
            (self.lib.path / DIRTY).unlink(missing_ok=True)
        finally:
            self._release()

    def cancel(self) -> None:
        """Give up: batches already committed stay; the ``dirty`` marker makes the next writer check."""
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def _check_open(self) -> None:
        if self._lock is None:
            raise RuntimeError("IndexWriter is closed")

    # -- adding ------------------------------------------------------------------------------

    def add(self, paths: Iterable[Path | str], *, progress: bool = False,
            on_result: Callable[[FileResult], None] | None = None) -> AddReport:
        """Ingest files and folders; one result per file. Never raises for a bad file."""
        jobs, problems = ingest.collect(paths)
        return self.add_jobs(jobs, problems, progress=progress, on_result=on_result)

    def add_jobs(self, jobs: list[ingest.FileJob], problems: Iterable[tuple[Path, str]] = (), *,
                 prepared: Iterable[ingest.Prepared] | None = None, progress: bool = False,
                 on_result: Callable[[FileResult], None] | None = None) -> AddReport:
        """Ingest ``jobs`` (or their ``prepared`` results, when the caller read the files before taking
        the lock); ``problems`` are files found unusable on the way, reported as skipped."""
        self._check_open()
        report = AddReport([FileResult(str(p), p.name, "skipped", reason=why) for p, why in problems])
        bar = None
        if progress and len(jobs) >= ingest.PARALLEL_FROM:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), unit="份", disable=None, dynamic_ncols=True)
        try:
            self._ingest(iter(prepared) if prepared is not None else ingest.prepare_all(jobs),
                         report, bar, on_result)
        finally:
            if bar is not None:
                bar.close()
        return report

    def _ingest(self, prepared: Iterator[ingest.Prepared], report: AddReport, bar, on_result) -> None:
        lib = self.lib
        lib._generation = -1
        known_ids = set(lib.catalog.by_id)
        by_source = {d.source: d for d in lib.live.values()}
        pending: list[tuple[ingest.Prepared, FileResult]] = []
        replaced: list[str] = []
        size = 0

        def emit(res: FileResult) -> None:
            report.results.append(res)
            if on_result:
                on_result(res)

        for prep in prepared:
            if bar is not None:
                bar.update(1)
            job = prep.job
            if prep.error:
                emit(FileResult(str(job.path), job.source, "skipped", reason=prep.error))
                continue
            if prep.id in known_ids:
                emit(FileResult(str(job.path), job.source, "unchanged", id=prep.id))
                continue
            old = by_source.get(job.source)
            status = "added"
            if old is not None and old.id != prep.id:
                status = "replaced"
                replaced.append(old.id)
                by_source.pop(job.source)
            known_ids.add(prep.id)
            pending.append((prep, FileResult(str(job.path), job.source, status, id=prep.id)))
            size += len(prep.text)
            if size >= BATCH_CHARS or len(pending) >= BATCH_DOCS:
                self._commit(pending, replaced)
                for _, res in pending:
                    emit(res)
                pending, replaced, size = [], [], 0
        if pending or replaced:
            self._commit(pending, replaced)
            for _, res in pending:
                emit(res)

    def _commit(self, pending: list[tuple[ingest.Prepared, FileResult]], replaced: list[str]) -> None:
        lib = self.lib
        first = lib.segments.reserve_docnums(len(pending))
        now = time.time()
        docs = []
        for i, (prep, _) in enumerate(pending):
            meta = {k: v for k, v in prep.meta.items() if k in META_FIELDS}
            docs.append(Document(id=prep.id, docnum=first + i, source=prep.job.source, title=prep.title,
                                 chars=len(prep.text), added=now, text=prep.text, **meta))
        lib.segments.add([d.docnum for d in docs], [p.folded for p, _ in pending],
                         [p.fingerprints for p, _ in pending])
        writer = lib.words.ix.writer(limitmb=256)
        for doc, (prep, _) in zip(docs, pending):
            add_words(writer, doc, prep.counts)
        writer.commit()
        lib.store.commit_batch(docs, replaced)
        if replaced:
            writer = lib.words.ix.writer()
            for doc_id in replaced:
                writer.delete_by_term("id", doc_id)
            writer.commit()
        self._after_commit()

    def _after_commit(self) -> None:
        self.lib.refresh()
        merge(self.lib)

    # -- removing ----------------------------------------------------------------------------

    def remove(self, doc_id: str) -> Document:
        """Remove a material from the library; returns what was removed."""
        self._check_open()
        lib = self.lib
        doc = lib.resolve(doc_id)
        lib.store.commit_batch([], [doc.id])
        writer = lib.words.ix.writer()
        writer.delete_by_term("id", doc.id)
        writer.commit()
        self._after_commit()
        return doc
