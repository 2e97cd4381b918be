"""Crash repair: a writer that died leaves the ``dirty`` marker in the index folder; the next writer
(or the next ``Library`` opened while no writer is at work) reconciles the derived indexes, the
phrase segments and the Whoosh word index, with the store, which is the commit point.
"""

from __future__ import annotations

import fcntl
from typing import TYPE_CHECKING

from . import ingest
from .text import fold

if TYPE_CHECKING:
    from .library import Library

DIRTY = "dirty"
LOCK = "write.lock"


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
    """Make the derived indexes match the store: index what is missing, drop what is not live, and
    rewrite the word-index entries of materials whose metadata changed (``words_todo``)."""
    from .writer import merge, update_words, words_writer

    lib._generation = -1
    lib.segments.cleanup()
    live = set(lib.live)
    missing = sorted(live - lib.segments.indexed_docnums())
    for i in range(0, len(missing), 500):  # a few hundred texts at a time: memory bounded, not the corpus
        chunk = missing[i:i + 500]
        texts = lib.store.texts(chunk)
        fps, sketches = zip(*(ingest.detection_data(texts[n]) for n in chunk), strict=True)
        lib.segments.add(chunk, [fold(texts[n]) for n in chunk], list(fps),
                         ingest.stored_sketches(list(sketches)))
    by_id = dict(lib.catalog.by_id)
    with lib.words.ix.searcher() as searcher:
        have = {(f["id"], f["docnum"]) for f in searcher.all_stored_fields()}
    want = {(d.id, d.docnum) for d in by_id.values()}
    todo = lib.store.words_todo()
    redo = {i for i, _ in want - have} | (set(todo) & set(by_id))
    with words_writer(lib.words.ix) as writer:
        for doc_id in {i for i, _ in have} - set(by_id):
            writer.delete_by_term("id", doc_id)
        for doc in (by_id[i] for i in sorted(redo)):
            update_words(writer, doc, lib.store.texts([doc.docnum])[doc.docnum])
    lib.store.clear_words_todo(todo)
    merge(lib)
