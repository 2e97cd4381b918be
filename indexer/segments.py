"""Phrase segments: folded text plus a suffix array, so any substring is found exactly.

A segment holds the folded views of a batch of documents as one UTF-8 blob (documents separated by
``0xFF``, a byte UTF-8 never uses, so no match can cross a document boundary), its suffix array
restricted to character starts (built by libdivsufsort through ``pydivsufsort``), and a document
array giving each suffix's document. A phrase is two binary searches plus a ``bincount``: exact
for every query of one character or more, whatever jieba would make of it. Segments are immutable;
a manifest written atomically lists the live ones, and ``merge_policy`` says which to merge.
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

from . import merge_policy
from .merge_policy import MergePolicy, SegmentSize, plan

SEPARATOR = b"\xff"


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


ARRAYS, LAYOUT = "arrays.bin", "layout.json"  # a segment's arrays in one file: one map, one open file


class _ArrayFile:
    """Writes arrays one after another into one file (64-byte aligned) and their layout beside it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.fh = open(folder / ARRAYS, "wb")
        self.layout: dict[str, list] = {}

    def add(self, name: str, arr: np.ndarray) -> None:
        arr = np.ascontiguousarray(arr)
        self.fh.write(b"\0" * (-self.fh.tell() % 64))
        self.layout[name] = [self.fh.tell(), arr.dtype.str, list(arr.shape)]
        self.fh.write(arr.data if arr.size else b"")

    def close(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        with open(self.folder / LAYOUT, "w", encoding="utf-8") as fh:
            json.dump(self.layout, fh)
            fh.flush()
            os.fsync(fh.fileno())


def _load_arrays(folder: Path, mapped: bool) -> dict[str, np.ndarray]:
    """The arrays of a segment: views of one memory map (or of one read, for small segments)."""
    layout = json.loads((folder / LAYOUT).read_text(encoding="utf-8"))
    base = (np.memmap(folder / ARRAYS, dtype=np.uint8, mode="r") if mapped
            else np.fromfile(folder / ARRAYS, dtype=np.uint8))
    out = {}
    for name, (offset, dtype, shape) in layout.items():
        dtype = np.dtype(dtype)
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        out[name] = base[offset:offset + size].view(dtype).reshape(shape)
    return out


Fingerprints = tuple[np.ndarray, np.ndarray]  # copy-detection (hashes, positions) of one document
Sketch = tuple[np.ndarray, np.ndarray]  # the sentence stage's sketch of one document: (unit, key) rows
PARAMS_FILE = "params.json"  # the parameters a segment's data was computed with (see ``format``)
SKETCH_FILE = "sketch.json"  # what its sketches were computed with (``detect.sentences.sketch_params``)


@dataclass(frozen=True)
class Sketches:
    """Sketches to store with a segment's documents: the parameters they were computed with, and
    either one per document (``rows``, in the segment's order) or how to compute one from a docnum
    (``of``: a merge filling sketches its victims lack or hold with other parameters)."""

    params: dict
    rows: list[Sketch] | None = None
    of: Callable[[int], Sketch] | None = None


SketchColumns = tuple[np.ndarray, np.ndarray, np.ndarray]  # units, keys (document order), counts


def _sketch_columns(rows: Iterable[Sketch]) -> SketchColumns:
    rows = list(rows)
    units = np.concatenate([np.asarray(u, dtype=np.uint32) for u, _ in rows] or [np.zeros(0, np.uint32)])
    keys = np.concatenate([np.asarray(k, dtype=np.int64) for _, k in rows] or [np.zeros(0, np.int64)])
    return units, keys, np.fromiter((len(u) for u, _ in rows), dtype=np.int64, count=len(rows))


IN_MEMORY_BELOW = 2 << 20  # smaller segments are read into memory: no open files per upload


def _fingerprint_arrays(hashes: np.ndarray, pos: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
    """The segment's fingerprints sorted by (hash, doc, pos), and a by-document permutation; ``hashes``
    and ``pos`` hold every document's fingerprints in document order, ``counts`` how many each has."""
    small = np.uint16 if len(counts) < 2**16 else np.uint32
    docs = np.repeat(np.arange(len(counts), dtype=small), counts)
    order = np.lexsort((pos, docs, hashes))
    by_doc = np.argsort(order, kind="stable").astype(np.uint32)  # sorted position of each doc-order entry
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return {"fp_hash": hashes[order], "fp_doc": docs[order], "fp_pos": pos[order],
            "fp_bydoc": by_doc, "fp_docstart": starts}


def build_segment(folder: Path, docnums: list[int], folded: list[str], fps: list[Fingerprints], *,
                  params: dict | None = None, sketches: Sketches | None = None) -> str:
    """Write a new segment for ``folded`` texts and their copy-detection fingerprints (and sketches,
    when given) under ``folder``; returns its name (not yet listed in the manifest). ``params``: what
    the data was computed with."""

    def fingerprints() -> FingerprintColumns:
        hashes = np.concatenate([np.asarray(h, dtype=np.uint64) for h, _ in fps] or [np.zeros(0, np.uint64)])
        pos = np.concatenate([np.asarray(p, dtype=np.uint32) for _, p in fps] or [np.zeros(0, np.uint32)])
        return hashes, pos, np.fromiter((len(h) for h, _ in fps), dtype=np.int64, count=len(fps))

    sketch = None
    if sketches is not None:
        rows = sketches.rows if sketches.rows is not None else [sketches.of(n) for n in docnums]
        sketch = (sketches.params, lambda: _sketch_columns(rows))
    return _write_segment(folder, docnums, [t.encode("utf-8") for t in folded], fingerprints, params, sketch)


FingerprintColumns = tuple[np.ndarray, np.ndarray, np.ndarray]  # hashes, positions (document order), counts


def _sketch_arrays(units: np.ndarray, keys: np.ndarray) -> dict[str, np.ndarray]:
    """A segment's sketch rows in as few bytes as they fit (7 a row, not 12; at 24 features a unit the
    sketches would outweigh the fingerprints): units as 16 bits when the segment's documents have
    fewer units, keys (40-bit hashes) as their low 32 and high 8 bits."""
    units = units.astype(np.uint16) if not len(units) or units.max() < 1 << 16 else units.astype(np.uint32)
    keys = np.asarray(keys, dtype=np.int64)
    if len(keys) and (keys.min() < 0 or keys.max() >> 40):
        return {"sk_unit": units, "sk_key": keys}  # not 40-bit keys: kept whole
    return {"sk_unit": units, "sk_klo": (keys & 0xFFFFFFFF).astype(np.uint32),
            "sk_khi": (keys >> 32).astype(np.uint8)}


def _write_segment(folder: Path, docnums, encoded: list[bytes],
                   fingerprints: Callable[[], FingerprintColumns], params: dict | None,
                   sketch: tuple[dict, Callable[[], SketchColumns]] | None = None) -> str:
    """Write a segment; the fingerprints (and sketches: their parameters and columns) are computed,
    written and freed before the suffix array is built, so they never take memory at once (a
    merge's peak is the suffix array of its text)."""
    from pydivsufsort import divsufsort

    if params is None:
        from .format import segment_params

        params = segment_params()
    name = f"seg-{uuid.uuid4().hex[:12]}"
    tmp = folder / f".tmp-{name}"
    tmp.mkdir(parents=True)
    arrays = _ArrayFile(tmp)
    arrays.add("docnums", np.asarray(docnums, dtype=np.int64))
    columns = _fingerprint_arrays(*fingerprints())
    for key in list(columns):
        arrays.add(key, columns.pop(key))
    del columns
    if sketch is not None:
        units, keys, counts = sketch[1]()
        starts = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        for column, values in _sketch_arrays(units, keys).items():
            arrays.add(column, values)
        arrays.add("sk_docstart", starts)
        del units, keys
    lengths = np.fromiter((len(b) + 1 for b in encoded), dtype=np.int64, count=len(encoded))
    starts = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    blob = bytearray(int(starts[-1]))  # texts, each followed by the separator
    for i, b in enumerate(encoded):
        end = int(starts[i + 1]) - 1
        blob[int(starts[i]):end] = b
        blob[end] = SEPARATOR[0]
    del encoded[:]  # the caller's list: its bytes are in the blob now (a merge's peak memory)
    data = np.frombuffer(blob, dtype=np.uint8)
    with open(tmp / "text.bin", "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    if len(data):
        sa = divsufsort(data)
        sa = sa[(((data & 0xC0) != 0x80) & (data != 0xFF))[sa]]  # suffixes starting a character
        sa = sa.view(np.uint32) if sa.dtype == np.int32 else sa.astype(np.uint64)  # non-negative: no copy
        small = np.uint16 if len(lengths) < 2**16 else np.uint32
        da = np.repeat(np.arange(len(lengths), dtype=small), lengths)[sa]
    else:
        sa = np.zeros(0, dtype=np.uint32)
        da = np.zeros(0, dtype=np.uint16)
    del data, blob
    arrays.add("starts", starts)
    arrays.add("sa", sa)
    del sa
    arrays.add("da", da)
    del da
    arrays.close()
    with open(tmp / PARAMS_FILE, "w", encoding="utf-8") as fh:
        json.dump(params, fh, ensure_ascii=False, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    if sketch is not None:
        with open(tmp / SKETCH_FILE, "w", encoding="utf-8") as fh:
            json.dump(sketch[0], fh, ensure_ascii=False, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
    _fsync_dir(tmp)
    os.replace(tmp, folder / name)
    _fsync_dir(folder)
    return name


def _docnum_order(victims: list[Segment], locals_: list[np.ndarray], order: np.ndarray,
                  stored: Callable[[Segment, np.ndarray], tuple | None],
                  compute: Callable[[int], tuple] | None, dtypes: tuple) -> tuple[np.ndarray, ...]:
    """Two per-document columns of a merge's live documents, and each document's row count, in
    docnum order (``order``: the victims' live documents, in victim order, sorted by docnum): read
    from a victim that holds them (``stored(seg, locals)``: columns and counts, or None), else
    computed one document at a time (``compute(docnum)``). Each victim's pages are let go once read."""
    first, second, counts = [], [], []
    for seg, loc in zip(victims, locals_):
        got = stored(seg, loc)
        if got is not None:
            first.append(np.asarray(got[0], dtype=dtypes[0]))
            second.append(np.asarray(got[1], dtype=dtypes[1]))
            counts.append(got[2])
            seg.release_pages()
            continue
        for num in seg.docnums[loc].tolist():
            a, b = compute(num)
            first.append(np.asarray(a, dtype=dtypes[0]))
            second.append(np.asarray(b, dtype=dtypes[1]))
            counts.append(np.array([len(a)], dtype=np.int64))
    cnt = np.concatenate(counts or [np.zeros(0, np.int64)])
    start = np.zeros(len(cnt), dtype=np.int64)
    np.cumsum(cnt[:-1], out=start[1:])
    idx = _ranges(start[order], cnt[order])  # each document's run, in docnum order
    a_all = np.concatenate(first or [np.zeros(0, dtypes[0])])
    del first
    b_all = np.concatenate(second or [np.zeros(0, dtypes[1])])
    del second
    return a_all[idx], b_all[idx], cnt[order]


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated index ranges ``[starts[i], starts[i] + lengths[i])``."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.repeat(np.asarray(starts, dtype=np.int64), lengths) + (
        np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths))


@dataclass
class PhraseHits:
    """Documents (global docnums) containing a phrase, with occurrence counts."""

    docnums: np.ndarray
    counts: np.ndarray


class Segment:
    """A read-only segment: memory-mapped, or read into memory when small (no open files then)."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        self.nbytes = (path / "text.bin").stat().st_size
        mode = "r" if self.nbytes >= IN_MEMORY_BELOW else None
        if (path / LAYOUT).exists():
            arrays = _load_arrays(path, mode is not None)
        else:  # written before the arrays shared one file: one .npy file each
            arrays = {f.stem: np.load(f, mmap_mode=mode) for f in path.glob("*.npy")}
        self.starts = np.array(arrays["starts"])
        self.docnums = np.array(arrays["docnums"])
        self.sa = arrays["sa"]
        self.da = arrays["da"]
        self.has_fingerprints = "fp_hash" in arrays
        if self.has_fingerprints:
            self.fp_hash = arrays["fp_hash"]
            self.fp_doc = arrays["fp_doc"]
            self.fp_pos = arrays["fp_pos"]
            self.fp_bydoc = arrays["fp_bydoc"]
            self.fp_docstart = np.array(arrays["fp_docstart"])
        try:
            self.params: dict | None = json.loads((path / PARAMS_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.params = None  # written before segments recorded their parameters (format 1)
        self.sketch_params: dict | None = None  # None: no stored sketches (written before they were)
        if "sk_unit" in arrays and (path / SKETCH_FILE).exists():  # the record is written with the arrays
            self._sk = {k: arrays[k] for k in ("sk_unit", "sk_key", "sk_klo", "sk_khi") if k in arrays}
            self.sk_docstart = np.array(arrays["sk_docstart"])
            self.sketch_params = json.loads((path / SKETCH_FILE).read_text(encoding="utf-8"))
        with open(path / "text.bin", "rb") as fh:
            if mode is None or not self.nbytes:
                self.blob = fh.read()
            else:
                import mmap

                self.blob = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)  # keeps its own fd
        maps = [self.blob] + [getattr(a, "_mmap", None) for a in arrays.values()]
        self._maps = list({id(m): m for m in maps if hasattr(m, "madvise")}.values())

    def release_pages(self) -> None:
        """Unmap the pages read so far from this process (they stay in the page cache): a merge reads
        its victims whole, and they must not count against the writer's memory."""
        import mmap

        for m in self._maps:
            try:
                m.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):
                pass

    def __len__(self) -> int:
        return len(self.docnums)

    def close(self) -> None:
        if hasattr(self.blob, "close"):
            self.blob.close()

    def live_mask(self, live: np.ndarray) -> np.ndarray:
        """Which of this segment's documents are in ``live`` (a sorted array of docnums)."""
        return np.isin(self.docnums, live, assume_unique=True)

    def doc_bytes(self) -> np.ndarray:
        """Each document's size in the blob (its separator included)."""
        return np.diff(self.starts)

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

    def fingerprint_columns(self, locals_: np.ndarray) -> FingerprintColumns:
        """The fingerprints of the documents ``locals_``: hashes and positions in document order (each
        document's in text order), and how many each has."""
        bounds = self.fp_docstart
        n = bounds[locals_ + 1] - bounds[locals_]
        rows = np.asarray(self.fp_bydoc[_ranges(bounds[locals_], n)], dtype=np.int64)
        return np.asarray(self.fp_hash[rows]), np.asarray(self.fp_pos[rows]), n

    def sketch_columns(self, locals_: np.ndarray) -> SketchColumns:
        """The stored sketches of the documents ``locals_``: units and keys in document order, and how
        many rows each has."""
        bounds = self.sk_docstart
        n = bounds[locals_ + 1] - bounds[locals_]
        return (*self.sketch_rows(_ranges(bounds[locals_], n)), n)

    def sketch(self, local: int) -> Sketch:
        """One document's stored sketch (``sketch_params`` says what it was computed with)."""
        return self.sketch_rows(slice(self.sk_docstart[local], self.sk_docstart[local + 1]))

    def sketch_rows(self, rows) -> Sketch:
        """Stored sketch rows (a slice or an index array) as (unit, key), int64."""
        sk = self._sk
        unit = np.asarray(sk["sk_unit"][rows], dtype=np.int64)
        if "sk_key" in sk:
            return unit, np.asarray(sk["sk_key"][rows], dtype=np.int64)
        key = np.asarray(sk["sk_khi"][rows], dtype=np.int64) << np.int64(32)
        key |= np.asarray(sk["sk_klo"][rows], dtype=np.int64)
        return unit, key

    def _posting_rows(self, hashes: np.ndarray, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``hashes``' postings (all, or the first ``limit`` of each), and how many each has."""
        lo = np.searchsorted(self.fp_hash, hashes, side="left")
        hi = np.searchsorted(self.fp_hash, hashes, side="right")
        n = hi - lo if limit is None else np.minimum(hi - lo, limit)
        return _ranges(lo, n), n

    def postings(self, hashes: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, ...]:
        """The (hash, docnum, pos) of this segment whose hash is in ``hashes`` (sorted, unique): all of
        them, or the first ``limit`` of each hash."""
        idx, _ = self._posting_rows(hashes, limit)
        if not len(idx):
            z = np.zeros(0, dtype=np.int64)
            return z.astype(np.uint64), z, z
        return (np.asarray(self.fp_hash[idx]), self.docnums[np.asarray(self.fp_doc[idx], dtype=np.int64)],
                np.asarray(self.fp_pos[idx], dtype=np.int64))

    def posting_figures(self, hashes: np.ndarray, limit: int, counted: np.ndarray) -> tuple[np.ndarray, ...]:
        """For each of ``hashes`` (sorted, unique): how many documents and how many postings of
        ``counted`` (a boolean array by docnum) are among its first ``limit`` postings here; the
        figures of ``postings(hashes, limit)``, counted without building them."""
        idx, n = self._posting_rows(hashes, limit)
        if not len(idx):
            z = np.zeros(len(hashes), dtype=np.int64)
            return z, z.copy()
        local = np.asarray(self.fp_doc[idx], dtype=np.int64)
        mine = self.docnums < len(counted)
        mine[mine] = counted[self.docnums[mine]]
        which = np.repeat(np.arange(len(hashes)), n)
        keep = mine[local]
        local, which = local[keep], which[keep]
        # postings are sorted by (hash, doc, pos): a document's postings of one hash are adjacent
        first = np.r_[True, (which[1:] != which[:-1]) | (local[1:] != local[:-1])] if len(which) else which
        return (np.bincount(which[first], minlength=len(hashes)),
                np.bincount(which, minlength=len(hashes)))


class SegmentSet:
    """The live segments listed in ``manifest.json``; opened read-only, written by one writer."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.folder / "manifest.json"
        self.policy: MergePolicy = merge_policy.DEFAULT_POLICY
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

    def sketch(self, docnum: int, params: dict) -> Sketch | None:
        """A document's stored sketch if it was computed with ``params``, else None."""
        loc = self.locations.get(docnum)
        return loc[0].sketch(loc[1]) if loc and loc[0].sketch_params == params else None

    def postings(self, hashes: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, ...]:
        """The (hash, docnum, pos) in any segment whose hash is in ``hashes`` (at most ``limit`` of each
        hash per segment)."""
        hashes = np.unique(np.asarray(hashes, dtype=np.uint64))
        parts = [s.postings(hashes, limit) for s in self.segments]
        if not parts:
            z = np.zeros(0, dtype=np.int64)
            return z.astype(np.uint64), z, z
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))

    def posting_figures(self, hashes: np.ndarray, limit: int, counted: np.ndarray) -> tuple[np.ndarray, ...]:
        """(documents, postings) of each of ``hashes`` (sorted, unique) among the documents marked
        in ``counted`` (a boolean array by docnum), at most ``limit`` postings of each hash read per
        segment: the figures ``postings(hashes, limit)`` would give for those documents."""
        df = np.zeros(len(hashes), dtype=np.int64)
        counts = np.zeros(len(hashes), dtype=np.int64)
        for seg in self.segments:
            d, c = seg.posting_figures(hashes, limit, counted)
            df += d
            counts += c
        return df, counts

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

    def add(self, docnums: list[int], folded: list[str], fps: list[Fingerprints],
            sketches: Sketches | None = None) -> None:
        """Write one segment of these documents and list it (the caller commits the store after)."""
        if not docnums:
            return
        name = build_segment(self.folder, docnums, folded, fps, sketches=sketches)
        manifest = self.read_manifest()
        self._commit(manifest["segments"] + [name], max(manifest.get("next_docnum", 1), max(docnums) + 1))

    def sizes(self, live: np.ndarray) -> list[SegmentSize]:
        """What the merge policy needs of each segment, given the sorted array of live docnums."""
        out = []
        for seg in self.segments:
            mask = seg.live_mask(live)
            out.append(SegmentSize(seg.name, seg.nbytes, int(seg.doc_bytes()[mask].sum()),
                                   len(seg.docnums), int(len(mask) - mask.sum())))
        return out

    def maybe_merge(self, live: Iterable[int], fingerprint_of: Callable[[int], Fingerprints], *,
                    policy: MergePolicy | None = None, sketches: Sketches | None = None) -> int:
        """Run the tiered merge policy (``self.policy`` unless given; see ``merge_policy``) until it has
        nothing left to do, dropping dead documents; first rebuild segments written before fingerprints
        were stored (``fingerprint_of`` computes them). A merged segment stores sketches with
        ``sketches.params``, computing (``sketches.of``) those its victims lack; without ``sketches``
        it keeps them only when all victims hold them with the same parameters. Returns how many
        merges ran. Each merge reads its victims from their memory maps and writes at most
        ``policy.max_segment_bytes``: memory stays bounded."""
        policy = policy or self.policy
        live_arr = np.unique(np.fromiter(live, dtype=np.int64))
        merges = 0
        for seg in self.without_fingerprints():
            self._merge([seg], live_arr, fingerprint_of, sketches)
            merges += 1
        for _ in range(10_000):  # each round shrinks the segment count or drops dead bytes
            todo = plan(self.sizes(live_arr), policy)
            if not todo:
                break
            by_name = {seg.name: seg for seg in self.segments}
            for names in todo:
                self._merge([by_name[n] for n in names], live_arr, fingerprint_of, sketches)
                merges += 1
        return merges

    def _merge(self, victims: list[Segment], live: np.ndarray,
               fingerprint_of: Callable[[int], Fingerprints], sketches: Sketches | None = None) -> None:
        """Replace ``victims`` by one segment of their live documents (none if nothing is live), in
        docnum order. Victims are read through their maps, whose pages are then let go: the writer's
        memory holds the merged segment, not its sources too."""
        locals_ = [np.flatnonzero(seg.live_mask(live)) for seg in victims]
        nums = np.concatenate([seg.docnums[loc] for seg, loc in zip(victims, locals_)]
                              or [np.zeros(0, np.int64)])
        order = np.argsort(nums, kind="stable")
        encoded: list[bytes] = []
        for seg, loc in zip(victims, locals_):
            starts = seg.starts
            encoded += [bytes(seg.blob[starts[i]:starts[i + 1] - 1]) for i in loc.tolist()]
            seg.release_pages()
        encoded = [encoded[i] for i in order.tolist()]

        def fingerprints() -> FingerprintColumns:
            return _docnum_order(victims, locals_, order, lambda seg, loc: seg.fingerprint_columns(loc)
                                 if seg.has_fingerprints else None, fingerprint_of, (np.uint64, np.uint32))

        def sketch_columns() -> SketchColumns:
            return _docnum_order(victims, locals_, order, lambda seg, loc: seg.sketch_columns(loc)
                                 if seg.sketch_params == target else None,
                                 sketches.of if sketches is not None else None, (np.uint32, np.int64))

        target = sketches.params if sketches is not None else victims[0].sketch_params
        can = all(v.sketch_params == target for v in victims) or (sketches is not None and sketches.of)
        sketch = (target, sketch_columns) if target is not None and can else None
        params = victims[0].params if all(v.params == victims[0].params for v in victims) else None
        if any(not v.has_fingerprints for v in victims):
            params = None  # fingerprints computed now: today's parameters
        new = []
        if len(nums):
            new = [_write_segment(self.folder, nums[order].tolist(), encoded, fingerprints, params, sketch)]
        victim_names = {s.name for s in victims}
        manifest = self.read_manifest()
        keep = [name for name in manifest["segments"] if name not in victim_names]
        self._commit(keep + new, manifest.get("next_docnum", 1), drop=victim_names)

    def build(self, docnums: list[int], folded: list[str], fps: list[Fingerprints], *,
              params: dict | None = None, sketches: Sketches | None = None) -> str:
        """Write a segment of these documents without listing it yet (``swap`` lists it)."""
        return build_segment(self.folder, docnums, folded, fps, params=params, sketches=sketches)

    def swap(self, old: list[str], new: list[str]) -> None:
        """List ``new`` segments in place of ``old`` ones in one atomic manifest commit (``indexer
        upgrade`` rebuilding a segment); a crash before it leaves ``new`` as orphans for ``cleanup``."""
        manifest = self.read_manifest()
        names = manifest["segments"]
        at = min((names.index(n) for n in old if n in names), default=len(names))
        keep = [n for n in names if n not in old]
        at -= sum(1 for n in names[:at] if n in old)
        self._commit(keep[:at] + new + keep[at:], manifest.get("next_docnum", 1), drop=old)

    def cleanup(self) -> int:
        """Remove segment folders no manifest lists (left by a writer that crashed mid-write or
        mid-merge); callers hold the write lock. Returns the bytes reclaimed."""
        listed = set(self.read_manifest()["segments"])
        freed = 0
        for path in self.folder.iterdir():
            if path.is_dir() and path.name not in listed:
                freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.startswith(".manifest.json.") and path.name.endswith(".tmp"):
                freed += path.stat().st_size
                path.unlink(missing_ok=True)
        return freed
