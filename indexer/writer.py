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

What a file is to the library (new material, same material, new version) follows the identity rules
of ``indexer.identity``; the repair of what a crashed writer left is in ``indexer.repair``.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from . import ingest
from .errors import InvalidMetadata
from .identity import UPLOAD, AddReport, FileResult, check_metadata, new_id, version_metadata
from .repair import DIRTY, LOCK, needs_repair, reconcile
from .store import EDITABLE, LEGACY, META_FIELDS, Document

if TYPE_CHECKING:
    from .library import Library

# A batch is held in memory with its word counts, then its suffix array is built (~8 bytes per byte of
# text): these two knobs and ``merge_policy.MergePolicy.max_segment_bytes`` bound the writer's memory.
BATCH_CHARS = 6_000_000
BATCH_DOCS = 2_000


def merge(lib: Library) -> None:
    """Run the segment merge policy over the live documents (after every commit and reconcile)."""
    lib.segments.maybe_merge(lib.catalog.docnums, lib.fingerprints, sketches=lib.sketch_source())


@contextmanager
def words_writer(ix, **options) -> Iterator:
    """A writer of the Whoosh index ``ix``, committed with the tiered merge on success and cancelled
    (its lock released) on any exception."""
    writer = ix.writer(**options)
    try:
        yield writer
    except BaseException:
        writer.cancel()
        raise
    from .merge_policy import whoosh_merge

    writer.commit(mergetype=whoosh_merge)  # tiered, as the phrase segments (S)


def add_words(writer, doc: Document, counts: dict[str, int], *, update: bool = False) -> None:
    """Index one document's words and metadata in Whoosh (``update``: replacing its entry by id)."""
    fields = {f: getattr(doc, f) for f in META_FIELDS if getattr(doc, f)}
    put = writer.update_document if update else writer.add_document
    put(id=doc.id, docnum=doc.docnum, title=doc.title, words=counts, **fields)


def update_words(writer, doc: Document, text: str) -> None:
    from .wordcut import word_counts

    add_words(writer, doc, word_counts(text), update=True)


@dataclass
class _Pending:
    """A prepared file accepted for the next batch: a new material, or a new version of ``old``."""

    prep: ingest.Prepared
    result: FileResult
    id: str
    old: Document | None = None
    meta: dict[str, str] = field(default_factory=dict)


class IndexWriter:
    """The exclusive writer of one index; see the module docstring. Not thread-safe.

    ``user`` is recorded as the uploader of new materials and as who replaced an earlier version
    (None: the command line). Identity rules (see ``store``): a file is the same material only when
    it comes back at the same source; then unchanged content is a no-op (its ``metadata.csv`` row
    may still update the metadata) and changed content is a new version. Anything else is a new
    material, even with the same name or byte-identical content.
    """

    def __init__(self, lib: Library, *, user: str | None = None):
        self.lib = lib
        self.user = user
        self._words_pending: list[str] = []
        self._lock: IO | None = open(lib.path / LOCK, "a+")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            lib.segments.cleanup()  # orphans of crashed writers, even if no dirty marker was left (S)
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
        by_source = lib.store.by_source  # one indexed lookup per file: never the whole catalog
        seen: dict[str, tuple[str, str]] = {}  # source → (digest, id) of the files met in this run
        pending: list[_Pending] = []
        size = 0

        def emit(res: FileResult) -> None:
            report.results.append(res)
            if on_result:
                on_result(res)

        for prep in prepared:
            if bar is not None:
                bar.update(1)
            job = prep.job
            path = str(job.path)
            if prep.error:
                emit(FileResult(path, job.source, "skipped", reason=prep.error))
                continue
            if job.source in seen:  # the same file given twice (a folder and a file in it)
                if seen[job.source][0] == prep.digest:
                    emit(FileResult(path, job.source, "unchanged", id=seen[job.source][1]))
                else:
                    emit(FileResult(path, job.source, "skipped", reason="文件在读取期间被修改，请重新添加"))
                continue
            old = by_source(job.source)
            if old is None and job.rel and not job.source.startswith(UPLOAD):
                old = self._claim_legacy(by_source(LEGACY + job.rel), job, prep)
            if old is not None and (old.digest == prep.digest
                                    or prep.digest in lib.store.version_digests(old.id)):
                seen[job.source] = (prep.digest, old.id)
                emit(self._same_material(old, job))
                continue
            if old is not None:
                item = _Pending(prep, FileResult(path, job.source, "replaced", id=old.id), old.id, old,
                                version_metadata(old, prep))
            else:
                item = _Pending(prep, FileResult(path, job.source, "added"), new_id(), None, dict(prep.meta))
            item.result.id = item.id
            seen[job.source] = (prep.digest, item.id)
            pending.append(item)
            size += len(prep.text)
            if size >= BATCH_CHARS or len(pending) >= BATCH_DOCS:
                self._commit(pending)
                for item in pending:
                    emit(item.result)
                pending, size = [], 0
        if pending:
            self._commit(pending)
            for item in pending:
                emit(item.result)
        self._flush_words()

    def _claim_legacy(self, legacy: Document | None, job: ingest.FileJob,
                      prep: ingest.Prepared) -> Document | None:
        """A row migrated from an index before identity, named by the same relative path and holding
        the same text, becomes the material at this file's source (nothing is duplicated)."""
        if legacy is None or legacy.digest != prep.digest:
            return None
        self.lib.store.update_fields(legacy.id, {"source": job.source})
        return replace(legacy, source=job.source)

    def _same_material(self, old: Document, job: ingest.FileJob) -> FileResult:
        """The file is already in: a no-op, unless its ``metadata.csv`` row says something new."""
        changes = {k: v for k, v in check_metadata(
            {k: v for k, v in job.meta.items() if k in EDITABLE}).items() if getattr(old, k) != v}
        if not changes:
            return FileResult(str(job.path), job.source, "unchanged", id=old.id)
        self._set_metadata(old.id, changes)
        return FileResult(str(job.path), job.source, "updated", id=old.id)

    def _commit(self, pending: list[_Pending]) -> None:
        lib = self.lib
        first = lib.segments.reserve_docnums(len(pending))
        now = time.time()
        docs = []
        for i, item in enumerate(pending):
            prep, old = item.prep, item.old
            meta = {k: v for k, v in item.meta.items() if k in META_FIELDS}
            docs.append(Document(
                id=item.id, docnum=first + i, source=prep.job.source, title=prep.title,
                chars=prep.chars, added=now, text=prep.text, name=prep.job.name,
                uploader=old.uploader if old else self.user, digest=prep.digest,
                version=old.version + 1 if old else 1, **meta))
        lib.segments.add([d.docnum for d in docs], [it.prep.folded for it in pending],
                         [it.prep.fingerprints for it in pending],
                         ingest.stored_sketches([it.prep.sketch for it in pending]))
        with words_writer(lib.words.ix, limitmb=256) as writer:
            for doc, item in zip(docs, pending):
                add_words(writer, doc, item.prep.counts, update=item.old is not None)
        lib.store.commit_batch(docs, retire=[it.id for it in pending if it.old], by=self.user)
        del docs
        for it in pending:  # stored: free the batch before merging, so memory stays one batch (S)
            it.prep.text = it.prep.folded = ""
            it.prep.counts, it.prep.fingerprints, it.prep.sketch = {}, (), ()
        self._after_commit()

    def _after_commit(self) -> None:
        self.lib.refresh()
        merge(self.lib)

    # -- new versions, metadata, removal -----------------------------------------------------

    def replace(self, doc_id: str, path: Path | str, *, name: str | None = None,
                prepared: ingest.Prepared | None = None) -> FileResult:
        """Make the file at ``path`` the new version of material ``doc_id`` (an explicit
        replacement): the old version is kept, not searchable (``Library.versions``). Status
        ``replaced``, ``unchanged`` (same text) or ``skipped`` (unreadable, with the reason)."""
        self._check_open()
        lib = self.lib
        old = lib.resolve(doc_id)
        if prepared is None:
            job = ingest.FileJob(Path(path), old.source, name=name or Path(path).name)
            prepared = ingest.prepare(job)
        prep = prepared
        prep.job.source = old.source
        if prep.error:
            return FileResult(str(path), old.source, "skipped", id=old.id, reason=prep.error)
        if prep.digest == old.digest:
            return FileResult(str(path), old.source, "unchanged", id=old.id)
        item = _Pending(prep, FileResult(str(path), old.source, "replaced", id=old.id), old.id, old,
                        version_metadata(old, prep))
        self._commit([item])
        return item.result

    def update_metadata(self, doc_id: str, **values: str | None) -> Document:
        """Change a material's title, unit, author, role, year or meeting (an empty value clears
        one); search facets and the word index follow at once. Returns the material as it is now."""
        self._check_open()
        doc = self.lib.resolve(doc_id)
        changes = {k: v for k, v in check_metadata(values).items() if getattr(doc, k) != v}
        if changes:
            self._set_metadata(doc.id, changes)
            self._flush_words()
        return self.lib.resolve(doc.id)

    def apply_metadata(self, rows: dict[str, dict[str, str]]) -> list[FileResult]:
        """A ``metadata.csv`` given after its materials (``read_metadata_csv`` rows): each row names
        a material by id or by file name (refused when several materials share that name) and
        updates it; one result per row (``updated``, ``unchanged`` or ``skipped`` with the reason)."""
        self._check_open()
        lib = self.lib
        by_id = dict(lib.catalog.by_id)  # read once: each update bumps the generation
        by_name: dict[str, list[Document]] = {}
        for doc in by_id.values():
            by_name.setdefault(doc.display_name, []).append(doc)
        out = []
        for key, fields in rows.items():
            doc = by_id.get(key)
            found = [doc] if doc else by_name.get(key) or by_name.get(key.rsplit("/", 1)[-1], [])
            if len(found) != 1:
                why = (f"库中有 {len(found)} 份名为“{key}”的材料，请用材料编号，或在材料页面修改" if found
                       else f"库中没有名为“{key}”的材料")
                out.append(FileResult(key, key, "skipped", reason=why))
                continue
            doc = found[0]
            try:
                changes = {k: v for k, v in check_metadata(
                    {k: v for k, v in fields.items() if k in EDITABLE}).items() if getattr(doc, k) != v}
            except InvalidMetadata as exc:
                out.append(FileResult(key, doc.source, "skipped", id=doc.id, reason=str(exc)))
                continue
            if changes:
                self._set_metadata(doc.id, changes)
            out.append(FileResult(key, doc.source, "updated" if changes else "unchanged", id=doc.id))
        self._flush_words()
        return out

    def _set_metadata(self, doc_id: str, changes: dict[str, str | None]) -> None:
        """Commit a metadata change (SQLite, with its word-index rewrite queued in ``words_todo``);
        the word index follows in ``_flush_words``, once for all changes of one call."""
        self.lib.store.update_fields(doc_id, changes)
        self._words_pending.append(doc_id)

    def _flush_words(self) -> None:
        """Rewrite the word-index entries of the materials whose metadata changed (one Whoosh commit)."""
        if not self._words_pending:
            return
        lib = self.lib
        lib.refresh()
        ids = [i for i in dict.fromkeys(self._words_pending) if i in lib.catalog.by_id]
        with words_writer(lib.words.ix) as writer:
            for doc_id in ids:
                doc = lib.catalog.by_id[doc_id]
                update_words(writer, doc, lib.store.texts([doc.docnum])[doc.docnum])
        lib.store.clear_words_todo(self._words_pending)
        self._words_pending = []

    def remove(self, doc_id: str) -> Document:
        """Remove a material from the library; returns what was removed."""
        self._check_open()
        lib = self.lib
        doc = lib.resolve(doc_id)
        lib.store.commit_batch([], [doc.id])
        with words_writer(lib.words.ix) as writer:
            writer.delete_by_term("id", doc.id)
        self._after_commit()
        return doc
