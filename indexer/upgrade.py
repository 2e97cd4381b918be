"""``indexer upgrade``: rebuild what an index stores with other parameters than this program uses.

The store (SQLite) holds every material's text and is never touched; phrase segments and the word
index are derived from it. Each phrase segment records the parameters it was computed with
(``params.json``; none: format 1), so the upgrade rebuilds only the segments that differ, one at a
time, each swapped in by an atomic manifest commit: memory stays bounded by the segment size, and a
run killed at any point resumes where it stopped. The word index is rebuilt when jieba or its rules
changed, in batches committed as they go (its ``params.json`` tells a resumed run it is already the
new one). ``format.json`` is written last, so until the upgrade is complete the index refuses to
open with a message naming ``indexer upgrade``.

Segments written before the sentence stage's sketches were stored, or with other sketch parameters
(``segments.SKETCH_FILE``), are rebuilt too. Such an index opens without an upgrade: the compare
computes the sketches it lacks, and segment merges store them as they go.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import format, ingest, merge_policy
from .segments import SegmentSet, write_json_atomic
from .store import Store
from .text import fold

WORD_BATCH = 500  # documents per word-index commit while rebuilding
STAMP = "params.json"


@dataclass
class UpgradeReport:
    """What an upgrade did: the parameters that changed, and what it rebuilt."""

    differences: dict[str, tuple]
    segments_rebuilt: int = 0
    documents_refolded: int = 0
    words_rebuilt: int = 0

    def to_dict(self) -> dict:
        return {"differences": {k: list(v) for k, v in self.differences.items()},
                "segments_rebuilt": self.segments_rebuilt, "documents_refolded": self.documents_refolded,
                "words_rebuilt": self.words_rebuilt}


def upgrade(index: Path | str, *, progress: bool = False,
            max_segment_bytes: int | None = None) -> UpgradeReport:
    """Bring the index at ``index`` to this program's parameters; see the module docstring. Holds the
    index's write lock throughout; running it on an index that is up to date only writes its record."""
    index = Path(index)
    old = format.recorded_params(index)
    current = format.current_params()
    report = UpgradeReport(format.differences(old, current))
    with open(index / "write.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            store = Store(index / "documents.sqlite")
            try:
                _upgrade_segments(index, store, old, current, report, progress,
                                  max_segment_bytes or merge_policy.DEFAULT_POLICY.max_segment_bytes)
                _upgrade_words(index, store, old, current, report, progress)
            finally:
                store.close()
            for name in ("compare.key", "compare.json"):  # a cached compare used the old fingerprints
                (index / name).unlink(missing_ok=True)
            format.write_record(index, current)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return report


def _bar(progress: bool, total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="份", desc=desc, disable=not progress or None, dynamic_ncols=True)


def _upgrade_segments(index: Path, store: Store, old: dict, current: dict, report: UpgradeReport,
                      progress: bool, max_bytes: int) -> None:
    target = format.segment_params(current)
    legacy = format.segment_params(old)
    sketch_target = ingest.stored_sketch_params()
    segments = SegmentSet(index / "segments")
    try:
        segments.cleanup()
        # written with other parameters, or before sketches were stored (or with other sketch parameters)
        stale = [s for s in segments.segments
                 if (s.params or legacy) != target or s.sketch_params != sketch_target]
        if not stale:
            return
        live = np.array([r[0] for r in store.db.execute("SELECT docnum FROM documents ORDER BY docnum")],
                        dtype=np.int64)
        with _bar(progress, sum(int(s.live_mask(live).sum()) for s in stale), "重建短语段") as bar:
            for seg in stale:
                mask = seg.live_mask(live)
                nums, sizes = seg.docnums[mask].tolist(), seg.doc_bytes()[mask].tolist()
                # a format-1 segment may hold the whole corpus: rebuild it as several capped ones
                chunks, chunk, size = [], [], 0
                for num, n in zip(nums, sizes):
                    if chunk and size + n > max_bytes // 2:
                        chunks.append(chunk)
                        chunk, size = [], 0
                    chunk.append(num)
                    size += n
                if chunk:
                    chunks.append(chunk)
                built = []
                for chunk in chunks:
                    texts = store.texts(chunk)
                    folded = [fold(texts[n]) for n in chunk]
                    fps, sketches = zip(*(ingest.detection_data(texts[n]) for n in chunk), strict=True)
                    del texts
                    built.append(segments.build(chunk, folded, list(fps), params=target,
                                                sketches=ingest.stored_sketches(list(sketches))))
                    bar.update(len(chunk))
                segments.swap([seg.name], built)
                report.segments_rebuilt += 1
                report.documents_refolded += len(nums)
    finally:
        segments.close()


def _upgrade_words(index: Path, store: Store, old: dict, current: dict, report: UpgradeReport,
                   progress: bool) -> None:
    target = format.words_params(current)
    folder = index / "words"
    stamp = folder / STAMP
    try:
        have = json.loads(stamp.read_text(encoding="utf-8"))
    except FileNotFoundError:
        have = format.words_params(old)
    if have != target:
        shutil.rmtree(folder, ignore_errors=True)  # derived data: rebuilt below from the store
        folder.mkdir(parents=True)
        write_json_atomic(stamp, target)  # a resumed run sees the rebuilt index is already the new one
    elif not stamp.exists():
        return  # written with today's parameters
    from . import words
    from .writer import add_words, words_writer

    word_index = words.WordIndex(folder)
    try:
        done = word_index.indexed_ids()
        todo = [d for d in store.all() if d.id not in done]
        with _bar(progress, len(todo), "重建词索引") as bar:
            for i in range(0, len(todo), WORD_BATCH):
                batch = todo[i:i + WORD_BATCH]
                texts = store.texts(d.docnum for d in batch)
                with words_writer(word_index.ix, limitmb=64) as writer:
                    for doc in batch:
                        add_words(writer, doc, words.word_counts(texts[doc.docnum]))
                report.words_rebuilt += len(batch)
                bar.update(len(batch))
    finally:
        word_index.close()
