"""The library: one index folder holding the document store, phrase segments and the word index.

``Library`` is the public face of ``indexer``: the CLI and the portal only parse, call it and render.
A ``Library`` is the read side: search and copy detection receive it, and it refreshes itself
cheaply when another process committed. Every change goes through ``lib.writer()`` (an
``indexer.writer.IndexWriter``, which holds the exclusive write lock); ``add`` and ``remove`` here
are conveniences that open one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from . import format, ingest
from .catalog import Catalog
from .errors import DocumentNotFound
from .identity import AddReport, FileResult
from .repair import needs_repair, recover
from .segments import SegmentSet, write_text_atomic
from .store import META_FIELDS, Document, Store, Version
from .text import fold
from .writer import IndexWriter

DEFAULT_INDEX = Path("data/index")
STOCK_FILE = "stock_phrases.txt"


def default_index_path() -> Path:
    return Path(os.environ.get("DUIZHAO_INDEX") or DEFAULT_INDEX)


FILTERED_KEPT = 8  # unit/year filters of the overview kept per process (see Library.duplicates)

class Library:
    """An index folder; open it with ``Library(path)`` (created if missing)."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_index_path()
        self.path.mkdir(parents=True, exist_ok=True)
        format.check(self.path)  # written with other parameters: IndexFormatMismatch, never silently
        self.store = Store(self.path / "documents.sqlite")
        self.segments = SegmentSet(self.path / "segments")
        self._words = None
        self._generation = -1
        self._catalog = Catalog([])
        self._compare: tuple[str, dict] | None = None
        self._filtered: dict[tuple[str | None, str | None], tuple[dict, dict]] = {}  # see duplicates
        self._options = None
        if needs_repair(self):
            recover(self)

    @property
    def words(self):
        """The Whoosh word index, opened on first use (reports and phrase search never need it)."""
        if self._words is None:
            from .words import WordIndex

            self._words = WordIndex(self.path / "words")
        return self._words

    def close(self) -> None:
        if self._words is not None:
            self._words.close()
        self.segments.close()
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Pick up changes committed by other processes (cheap when nothing changed)."""
        gen = self.store.generation()
        if gen == self._generation:
            return
        self.segments.reload()
        changed = self.store.changed_since(self._generation) if self._generation >= 0 else None
        self._catalog = self._catalog.updated(self.store, changed)  # reads the changed rows only
        self._generation = gen

    @property
    def catalog(self) -> Catalog:
        """The live documents' metadata as arrays (see ``catalog``), refreshed when the index changed."""
        self.refresh()
        return self._catalog

    @property
    def live(self) -> dict[int, Document]:
        """Live documents by docnum (metadata only; every document's is read on first use)."""
        return self.catalog.by_num

    def __len__(self) -> int:
        return len(self.catalog)

    def resolve(self, doc_id: str) -> Document:
        """The document with this id (or unambiguous id prefix of 6+ characters)."""
        catalog = self.catalog
        find = catalog.by_id.get if catalog.loaded else lambda i: self.store.get(i, with_text=False)
        doc = find(doc_id)
        if doc is None and len(doc_id) >= 6:
            found = self.store.find_prefix(doc_id)
            if len(found) == 1:
                doc = find(found[0])
        if doc is None:
            raise DocumentNotFound(doc_id)
        return doc

    def get(self, doc_id: str) -> Document:
        """The document with its stored text."""
        doc = self.store.get(self.resolve(doc_id).id)
        if doc is None:
            raise DocumentNotFound(doc_id)
        return doc

    def documents(self, *, limit: int = 50, offset: int = 0) -> tuple[int, list[Document]]:
        docs = list(self.live.values())
        return len(docs), docs[offset:offset + limit]

    def texts(self, docnums: Iterable[int]) -> dict[int, str]:
        return self.store.texts(docnums)

    def folded(self, docnum: int) -> str:
        """The folded view of a document (from its phrase segment, else computed)."""
        text = self.segments.folded(docnum)
        if text is None:
            text = fold(self.store.texts([docnum]).get(docnum, ""))
        return text

    def fingerprints(self, docnum: int):
        """A document's copy-detection fingerprints: stored in its segment, else computed from its text."""
        fps = self.segments.fingerprints(docnum)
        if fps is None:
            fps = ingest.fingerprint_text(self.store.texts([docnum])[docnum])
        return fps

    def sketch(self, docnum: int, opts=None) -> tuple:
        """A document's sentence-stage sketch for ``opts`` (default: ``detect_options``): stored in its
        segment when computed with the same parameters, else computed from its text."""
        from .detect.normalize import normalize
        from .detect.sentences import sketch_params, sketch_text

        opts = self.detect_options if opts is None else opts
        stored = self.segments.sketch(docnum, sketch_params(opts))
        if stored is not None:
            return stored
        return sketch_text(normalize(self.store.texts([docnum])[docnum]), opts)

    def sketch_source(self):
        """The sketches merges store (``segments.Sketches``): ingest's, computed from the stored text
        for documents whose segment lacks them."""
        return ingest.stored_sketches(of=lambda num: ingest.sketch_of_text(self.store.texts([num])[num]))

    def stats(self) -> dict:
        docs = list(self.live.values())
        facets = {f: {} for f in META_FIELDS if f != "author"}
        for d in docs:
            for f in facets:
                value = getattr(d, f)
                if value:
                    facets[f][value] = facets[f].get(value, 0) + 1
        disk = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return {
            "index": str(self.path),
            "documents": len(docs),
            "characters": sum(d.chars for d in docs),
            "segments": len(self.segments.segments),
            "disk_bytes": disk,
            "facets": {f: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for f, v in facets.items()},
        }

    def search(self, query: str, **options):
        """See ``indexer.search.search``."""
        from .search import search

        return search(self, query, **options)

    # -- copy detection (see ``indexer.copies``) ----------------------------------------------

    @property
    def detect_options(self):
        """Copy-detection options: the defaults, plus the user's own stock phrases (套话 that never
        count as copying), one per line in ``stock_phrases.txt`` in the index folder."""
        from .detect import DEFAULTS

        path = self.path / STOCK_FILE
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return DEFAULTS
        if self._options is None or self._options[0] != stamp:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
            phrases = tuple(x.strip() for x in lines if x.strip() and not x.lstrip().startswith("#"))
            self._options = (stamp, replace(DEFAULTS, stock_phrases=phrases))
        return self._options[1]

    def _compare_key(self, generation: int) -> str:
        """What a cached corpus compare depends on: the documents and the detection options."""
        digest = hashlib.sha256(repr(self.detect_options).encode("utf-8")).hexdigest()[:16]
        return f"{generation}:{digest}"

    def cache_key(self) -> str:
        """The key of everything cached about the library's current state (compare, reports)."""
        self.refresh()
        return self._compare_key(self._generation)

    def report(self, doc_id: str, *, cached: bool = True) -> dict:
        """The 查重 report of one document against the rest of the library, computed once per
        library state and detection options (see ``report_cache``)."""
        from . import copies, report_cache

        if not cached:
            return copies.report(self, doc_id)
        return report_cache.report(self, doc_id, copies.report)

    def report_text(self, text: str, title: str | None = None) -> dict:
        """The 查重 report of a text not in the library, without adding it."""
        from . import copies

        return copies.report_text(self, text, title)

    def compare_pair(self, a_id: str, b_id: str, *, cached: bool = True) -> dict:
        """Two materials side by side with the passages they share, computed once per library state
        and detection options (see ``report_cache``)."""
        from . import copies, report_cache

        if not cached:
            return copies.compare_pair(self, a_id, b_id)
        return report_cache.pair(self, a_id, b_id, copies.compare_pair)

    def compare(self, *, wait: bool | float = True,
                progress: Callable[[int, int], None] | None = None) -> dict | None:
        """The whole-corpus comparison (the ``indexer compare --json`` shape), cached per generation in
        memory and in ``compare.json``. ``wait=True`` computes it here; ``wait=False`` only returns
        the cached result (else None); ``wait`` a number of seconds starts (or joins) the compare job
        in its own process (see ``indexer.jobs``) and returns None if it takes longer."""
        self.refresh()
        generation = self._compare_key(self._generation)
        cached = self._cached_compare(generation)
        if cached is not None or wait is False:
            return cached
        if wait is not True:
            from .jobs import JobQueue

            deadline = time.monotonic() + float(wait)
            with JobQueue(self.path) as queue:
                job = queue.start_compare(self)
                while cached is None and time.monotonic() < deadline and (job is None or job.active):
                    time.sleep(0.05)
                    cached = self._cached_compare(generation)
                    job = queue.get(job.id) if job is not None else None
            return cached or self._cached_compare(generation)
        from . import copies

        with open(self.path / "compare.lock", "a+") as lock:  # one process computes, the others wait
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                cached = self._cached_compare(generation)
                if cached is None:
                    cached = copies.compare_corpus(self, progress=progress)
                    # the result first, then the key it is valid for: a reader that sees the new
                    # key finds the new result
                    write_text_atomic(self.path / "compare.json", json.dumps(cached, ensure_ascii=False))
                    write_text_atomic(self.path / "compare.key", generation)
                    self._compare = (generation, cached)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return cached

    def store_compare(self, result: dict, key: str) -> None:
        """Install a compare computed elsewhere (``indexer compare --import``, a Spark result) as the
        cached compare of library state ``key`` (``cache_key()`` when its documents were checked);
        refused if the library changed since."""
        from .errors import DuizhaoError

        with open(self.path / "compare.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self.cache_key() != key:
                    raise DuizhaoError("导入期间索引有变动，请重新检查后再导入")
                write_text_atomic(self.path / "compare.json", json.dumps(result, ensure_ascii=False))
                write_text_atomic(self.path / "compare.key", key)
                self._compare = (key, result)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _cached_compare(self, generation: str) -> dict | None:
        if self._compare is not None and self._compare[0] == generation:
            return self._compare[1]
        try:
            if (self.path / "compare.key").read_text(encoding="utf-8") != generation:
                return None
            with open(self.path / "compare.json", encoding="utf-8") as fh:
                result = json.load(fh)
        except (OSError, ValueError):
            return None
        self._compare = (generation, result)
        return result

    def cached_compare_file(self) -> BinaryIO | None:
        """The cached whole-corpus comparison of the current state as an open binary file (the
        ``indexer compare --json`` shape, UTF-8), or None when there is none: for streaming it out
        without loading it. The key is read before the file is opened; both are replaced atomically,
        result first, so a file opened under the current key is that state's result or a newer one."""
        try:
            if (self.path / "compare.key").read_text(encoding="utf-8") != self.cache_key():
                return None
            return open(self.path / "compare.json", "rb")  # noqa: SIM115 (the caller closes it)
        except OSError:
            return None

    def compare_json_file(self) -> Path:
        """The whole-corpus comparison as a JSON file (computed if needed), for streaming it out."""
        self.compare()
        return self.path / "compare.json"

    def duplicates(self, *, unit: str | None = None, year: str | None = None,
                   wait: bool | float = True) -> dict | None:
        """The corpus overview: pairs, clusters and boilerplate, optionally about one unit or year
        (None while it is still being computed after ``wait`` seconds, see ``compare``)."""
        from . import copies

        result = self.compare(wait=wait)
        if result is None or (not unit and not year):
            return result
        # Filtering walks every occurrence of every boilerplate passage (about two million on
        # 10,000 materials, a second): the last few filters are kept per compare result. They share
        # the result's dicts, so each costs only its lists.
        found = self._filtered.pop((unit, year), None)
        if found is None or found[0] is not result:
            found = (result, copies.filter_compare(self, result, unit=unit, year=year))
        self._filtered[(unit, year)] = found  # most recent last
        for stale in [k for k, (r, _) in self._filtered.items() if r is not result]:
            del self._filtered[stale]
        while len(self._filtered) > FILTERED_KEPT:
            del self._filtered[next(iter(self._filtered))]
        return found[1]

    # -- writing (see ``indexer.writer``) ------------------------------------------------------

    def writer(self, *, user: str | None = None) -> IndexWriter:
        """The index's exclusive writer (waits for the write lock): ``with lib.writer() as w: ...``;
        ``user`` is recorded as the uploader of new materials (None: the command line)."""
        return IndexWriter(self, user=user)

    def add(self, paths: Iterable[Path | str], *, progress: bool = False, user: str | None = None,
            on_result: Callable[[FileResult], None] | None = None) -> AddReport:
        """Ingest files and folders (see ``IndexWriter.add``); a few files (uploads) are read before
        the write lock is taken, so other writers wait only for the commit."""
        jobs, problems = ingest.collect(paths)
        prepared = list(ingest.prepare_all(jobs)) if len(jobs) < ingest.PARALLEL_FROM else None
        with self.writer(user=user) as w:
            return w.add_jobs(jobs, problems, prepared=prepared, progress=progress, on_result=on_result)

    def replace(self, doc_id: str, path: Path | str, *, name: str | None = None,
                user: str | None = None) -> FileResult:
        """A new version of a material from the file at ``path`` (see ``IndexWriter.replace``)."""
        old = self.resolve(doc_id)
        job = ingest.FileJob(Path(path), old.source, name=name or Path(path).name)
        prepared = ingest.prepare(job)  # read before taking the lock
        with self.writer(user=user) as w:
            return w.replace(old.id, path, prepared=prepared)

    def update_metadata(self, doc_id: str, *, user: str | None = None, **values: str | None) -> Document:
        """Edit a material's title and metadata (see ``IndexWriter.update_metadata``)."""
        with self.writer(user=user) as w:
            return w.update_metadata(doc_id, **values)

    def remove(self, doc_id: str) -> Document:
        """Remove a document from the library; returns what was removed."""
        with self.writer() as w:
            return w.remove(doc_id)

    def versions(self, doc_id: str) -> list[Version]:
        """The earlier versions of a material, newest first (kept, not searchable)."""
        return self.store.versions(self.resolve(doc_id).id)

    def version(self, doc_id: str, number: int) -> Version:
        """One earlier version of a material, with its text."""
        found = self.store.version(self.resolve(doc_id).id, number)
        if found is None:
            raise DocumentNotFound(f"{doc_id} 第 {number} 版")
        return found
