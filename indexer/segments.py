"""Phrase segments: folded text plus a suffix array, so any substring is found exactly.

A segment holds the folded views of a batch of documents as one UTF-8 blob (documents separated by
``0xFF``, a byte UTF-8 never uses, so no match can cross a document boundary), its suffix array
restricted to character starts (built by libdivsufsort through ``pydivsufsort``), and a document
array giving each suffix's document. A phrase is two binary searches plus a ``bincount``: exact
for every query of one character or more, whatever jieba would make of it. Segments are immutable;
a manifest written atomically lists the live ones, and small segments are merged into larger ones.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEPARATOR = b"\xff"
MAX_SEGMENTS = 8


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, ensure_ascii=False))


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _save(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, arr)
        fh.flush()
        os.fsync(fh.fileno())


Fingerprints = tuple[np.ndarray, np.ndarray]  # copy-detection (hashes, positions) of one document


def _fingerprint_arrays(fps: list[Fingerprints]) -> dict[str, np.ndarray]:
    """The segment's fingerprints sorted by (hash, doc, pos), and a by-document permutation."""
    hashes = np.concatenate([np.asarray(h, dtype=np.uint64) for h, _ in fps] or [np.zeros(0, np.uint64)])
    pos = np.concatenate([np.asarray(p, dtype=np.uint32) for _, p in fps] or [np.zeros(0, np.uint32)])
    small = np.uint16 if len(fps) < 2**16 else np.uint32
    docs = np.repeat(np.arange(len(fps), dtype=small), [len(h) for h, _ in fps])
    order = np.lexsort((pos, docs, hashes))
    by_doc = np.argsort(order, kind="stable").astype(np.uint32)  # sorted position of each doc-order entry
    starts = np.zeros(len(fps) + 1, dtype=np.int64)
    np.cumsum([len(h) for h, _ in fps], out=starts[1:])
    return {"fp_hash": hashes[order], "fp_doc": docs[order], "fp_pos": pos[order],
            "fp_bydoc": by_doc, "fp_docstart": starts}


def build_segment(folder: Path, docnums: list[int], folded: list[str], fps: list[Fingerprints]) -> str:
    """Write a new segment for ``folded`` texts and their copy-detection fingerprints under ``folder``;
    returns its name (not yet listed in the manifest)."""
    from pydivsufsort import divsufsort

    encoded = [t.encode("utf-8") for t in folded]
    lengths = np.fromiter((len(b) + 1 for b in encoded), dtype=np.int64, count=len(encoded))
    starts = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    blob = bytearray(SEPARATOR.join(encoded) + SEPARATOR) if encoded else bytearray()
    data = np.frombuffer(blob, dtype=np.uint8)
    if len(data):
        sa = divsufsort(data)
        first = data[sa]
        keep = ((first & 0xC0) != 0x80) & (first != 0xFF)  # suffixes starting a character
        del first
        sa = sa[keep].astype(np.uint32 if len(data) < 2**32 else np.uint64)
        del keep
        small = np.uint16 if len(encoded) < 2**16 else np.uint32
        da = np.repeat(np.arange(len(encoded), dtype=small), lengths)[sa]
    else:
        sa = np.zeros(0, dtype=np.uint32)
        da = np.zeros(0, dtype=np.uint16)
    name = f"seg-{uuid.uuid4().hex[:12]}"
    tmp = folder / f".tmp-{name}"
    tmp.mkdir(parents=True)
    with open(tmp / "text.bin", "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    _save(tmp / "starts.npy", starts)
    _save(tmp / "docnums.npy", np.asarray(docnums, dtype=np.int64))
    _save(tmp / "sa.npy", sa)
    _save(tmp / "da.npy", da)
    for key, arr in _fingerprint_arrays(fps).items():
        _save(tmp / f"{key}.npy", arr)
    _fsync_dir(tmp)
    os.replace(tmp, folder / name)
    _fsync_dir(folder)
    return name


@dataclass
class PhraseHits:
    """Documents (global docnums) containing a phrase, with occurrence counts."""

    docnums: np.ndarray
    counts: np.ndarray


class Segment:
    """A read-only, memory-mapped segment."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        self.starts = np.load(path / "starts.npy")
        self.docnums = np.load(path / "docnums.npy")
        self.sa = np.load(path / "sa.npy", mmap_mode="r")
        self.da = np.load(path / "da.npy", mmap_mode="r")
        self.has_fingerprints = (path / "fp_hash.npy").exists()
        if self.has_fingerprints:
            self.fp_hash = np.load(path / "fp_hash.npy", mmap_mode="r")
            self.fp_doc = np.load(path / "fp_doc.npy", mmap_mode="r")
            self.fp_pos = np.load(path / "fp_pos.npy", mmap_mode="r")
            self.fp_bydoc = np.load(path / "fp_bydoc.npy", mmap_mode="r")
            self.fp_docstart = np.load(path / "fp_docstart.npy")
        self._fh = open(path / "text.bin", "rb")
        size = os.fstat(self._fh.fileno()).st_size
        if size:
            import mmap

            self.blob = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            self.blob = b""

    def __len__(self) -> int:
        return len(self.docnums)

    def close(self) -> None:
        if hasattr(self.blob, "close"):
            self.blob.close()
        self._fh.close()

    def folded(self, local: int) -> str:
        return self.blob[self.starts[local]:self.starts[local + 1] - 1].decode("utf-8")

    def _range(self, q: bytes) -> tuple[int, int]:
        sa, blob, n = self.sa, self.blob, len(q)
        lo, hi = 0, len(sa)
        while lo < hi:
            mid = (lo + hi) >> 1
            p = int(sa[mid])
            if blob[p:p + n] < q:
                lo = mid + 1
            else:
                hi = mid
        first, hi = lo, len(sa)
        while lo < hi:
            mid = (lo + hi) >> 1
            p = int(sa[mid])
            if blob[p:p + n] <= q:
                lo = mid + 1
            else:
                hi = mid
        return first, lo

    def find(self, q: bytes) -> PhraseHits:
        lo, hi = self._range(q)
        if hi <= lo:
            empty = np.zeros(0, dtype=np.int64)
            return PhraseHits(empty, empty)
        counts = np.bincount(self.da[lo:hi], minlength=len(self.docnums))
        local = np.flatnonzero(counts)
        return PhraseHits(self.docnums[local], counts[local])

    def texts(self) -> Iterable[tuple[int, str]]:
        for i, num in enumerate(self.docnums.tolist()):
            yield num, self.folded(i)

    def fingerprints(self, local: int) -> Fingerprints:
        """One document's fingerprints in text order."""
        idx = self.fp_bydoc[self.fp_docstart[local]:self.fp_docstart[local + 1]]
        return np.asarray(self.fp_hash[idx]), np.asarray(self.fp_pos[idx])

    def postings(self, hashes: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, ...]:
        """The (hash, docnum, pos) of this segment whose hash is in ``hashes`` (sorted, unique): all of
        them, or the first ``limit`` of each hash."""
        lo = np.searchsorted(self.fp_hash, hashes, side="left")
        hi = np.searchsorted(self.fp_hash, hashes, side="right")
        n = hi - lo if limit is None else np.minimum(hi - lo, limit)
        if not n.sum():
            z = np.zeros(0, dtype=np.int64)
            return z.astype(np.uint64), z, z
        idx = np.repeat(lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        return (np.asarray(self.fp_hash[idx]), self.docnums[np.asarray(self.fp_doc[idx], dtype=np.int64)],
                np.asarray(self.fp_pos[idx], dtype=np.int64))


class SegmentSet:
    """The live segments listed in ``manifest.json``; opened read-only, written by one writer."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.folder / "manifest.json"
        self.segments: list[Segment] = []
        self.locations: dict[int, tuple[Segment, int]] = {}
        self.reload()

    def read_manifest(self) -> dict:
        if not self.manifest_path.exists():
            return {"segments": [], "next_docnum": 1}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def reload(self) -> None:
        for attempt in range(5):
            manifest = self.read_manifest()
            try:
                old = {s.name: s for s in self.segments}
                segs = [old.pop(name, None) or Segment(self.folder / name) for name in manifest["segments"]]
                break
            except FileNotFoundError:  # a merge replaced a segment between reading and opening
                if attempt == 4:
                    raise
        for s in old.values():
            s.close()
        self.segments = segs
        self.next_docnum = manifest.get("next_docnum", 1)
        self.locations = {}
        for seg in segs:
            for i, num in enumerate(seg.docnums.tolist()):
                self.locations[num] = (seg, i)

    def close(self) -> None:
        for s in self.segments:
            s.close()
        self.segments = []

    def find(self, phrase: str) -> PhraseHits:
        q = phrase.encode("utf-8")
        parts = [s.find(q) for s in self.segments]
        parts = [p for p in parts if len(p.docnums)]
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return PhraseHits(empty, empty)
        if len(parts) == 1:
            return parts[0]
        return PhraseHits(np.concatenate([p.docnums for p in parts]),
                          np.concatenate([p.counts for p in parts]))

    def folded(self, docnum: int) -> str | None:
        loc = self.locations.get(docnum)
        return loc[0].folded(loc[1]) if loc else None

    def fingerprints(self, docnum: int) -> Fingerprints | None:
        """A document's stored fingerprints; None if no segment holds them."""
        loc = self.locations.get(docnum)
        return loc[0].fingerprints(loc[1]) if loc and loc[0].has_fingerprints else None

    def postings(self, hashes: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, ...]:
        """The (hash, docnum, pos) in any segment whose hash is in ``hashes`` (at most ``limit`` of each
        hash per segment)."""
        hashes = np.unique(np.asarray(hashes, dtype=np.uint64))
        parts = [s.postings(hashes, limit) for s in self.segments]
        if not parts:
            z = np.zeros(0, dtype=np.int64)
            return z.astype(np.uint64), z, z
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))

    def without_fingerprints(self) -> list[Segment]:
        return [s for s in self.segments if not s.has_fingerprints]

    def indexed_docnums(self) -> set[int]:
        return set(self.locations)

    # -- writing (callers hold the library's write lock) ---------------------------------------

    def _commit(self, names: list[str], next_docnum: int, drop: Iterable[str] = ()) -> None:
        write_json_atomic(self.manifest_path, {"segments": names, "next_docnum": next_docnum})
        self.reload()
        for name in drop:
            shutil.rmtree(self.folder / name, ignore_errors=True)

    def reserve_docnums(self, n: int) -> int:
        """Reserve ``n`` fresh docnums (never reused, even after a crash); returns the first."""
        first = self.read_manifest().get("next_docnum", 1)
        self._commit(self.read_manifest()["segments"], first + n)
        return first

    def add(self, docnums: list[int], folded: list[str], fps: list[Fingerprints]) -> None:
        if not docnums:
            return
        name = build_segment(self.folder, docnums, folded, fps)
        manifest = self.read_manifest()
        self._commit(manifest["segments"] + [name], max(manifest.get("next_docnum", 1), max(docnums) + 1))

    def maybe_merge(self, live: set[int], fingerprint_of: Callable[[int], Fingerprints], *,
                    max_segments: int = MAX_SEGMENTS, force: bool = False) -> bool:
        """Merge the smallest segments (dropping dead documents) when there are too many, and rebuild
        segments written before fingerprints were stored (``fingerprint_of`` computes them)."""
        segs = sorted(self.segments, key=lambda s: s.blob.size() if hasattr(s.blob, "size") else 0)
        if force:
            victims = segs if len(segs) > 1 else []
        elif len(segs) > max_segments:
            victims = segs[: len(segs) - max_segments + 2]
        else:
            victims = []
        victims += [s for s in segs if not s.has_fingerprints and s not in victims]
        if not victims:
            return False
        entries = []
        for seg in victims:
            for i, num in enumerate(seg.docnums.tolist()):
                if num in live:
                    fp = seg.fingerprints(i) if seg.has_fingerprints else fingerprint_of(num)
                    entries.append((num, seg.folded(i), fp))
        entries.sort(key=lambda e: e[0])
        victim_names = {s.name for s in victims}
        keep = [s.name for s in self.segments if s.name not in victim_names]
        new = []
        if entries:
            nums, folded, fps = (list(x) for x in zip(*entries, strict=True))
            new = [build_segment(self.folder, nums, folded, fps)]
        self._commit(keep + new, self.read_manifest().get("next_docnum", 1), drop=victim_names)
        return True

    def cleanup(self) -> None:
        """Remove segment folders no manifest lists (left by a crash mid-write)."""
        listed = set(self.read_manifest()["segments"])
        for path in self.folder.iterdir():
            if path.is_dir() and path.name not in listed:
                shutil.rmtree(path, ignore_errors=True)
