"""Copy detection over the library: reports, pair comparisons and the whole-corpus overview.

The detection pipeline (``indexer.detect``) works on fingerprints; this module feeds it from the
index. Fingerprints were computed at ingest and live in the phrase segments sorted by hash, so one
document is checked against the library by binary search: the postings of its hashes, then those
of its candidate sources' hashes, make a small inverted index that is exact for every hash it
holds. Nothing is fingerprinted again, and the whole corpus is never scanned for one report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import detect
from .detect.boilerplate import stock_set
from .detect.corpus import union_length
from .errors import DocumentNotFound
from .ingest import fingerprint_text

if TYPE_CHECKING:
    from .library import Library
    from .store import Document

def _group(h: np.ndarray, docs: np.ndarray, pos: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Postings grouped by document, positions ascending."""
    if not len(docs):
        return {}
    order = np.lexsort((pos, docs))
    h, docs, pos = h[order], docs[order], pos[order]
    bounds = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
    ends = np.append(bounds[1:], len(docs))
    return {int(docs[s]): (h[s:e], pos[s:e]) for s, e in zip(bounds.tolist(), ends.tolist(), strict=True)}


def local_index(lib: Library, fps, self_num: int | None, opts: detect.DetectOptions = detect.DEFAULTS):
    """An inverted index that decides boilerplate and finds seeds exactly like the whole library's,
    for the hashes of ``fps`` and of every candidate source.

    A hash with more than ``max_postings`` postings is boilerplate whatever its other postings are,
    so only the first ``max_postings + 1`` of each are read; the document itself and its candidate
    sources contribute all their fingerprints."""
    hashes = np.asarray(fps[0], dtype=np.uint64)
    cap = opts.max_postings + 1
    catalog = lib.catalog

    def postings(of: np.ndarray):
        h, docs, pos = lib.segments.postings(of, cap)
        keep = catalog.select(docs, catalog.live)
        return h[keep], docs[keep], pos[keep]

    h, docs, _ = postings(hashes)
    pairs = np.unique(np.stack([h, docs.astype(np.uint64)]), axis=1)  # (hash, doc) once each
    df = dict(zip(*np.unique(pairs[0], return_counts=True), strict=True))
    counts = dict(zip(*np.unique(h, return_counts=True), strict=True))
    stock = set(stock_set(opts).tolist())
    usable = {int(x) for x, n in df.items() if n < opts.min_docs and counts[x] <= opts.max_postings
              and int(x) not in stock}
    use = np.isin(h, np.fromiter(usable, dtype=np.uint64, count=len(usable)))
    candidates = sorted(set(docs[use].tolist()) - {self_num})
    full = {d: lib.fingerprints(d) for d in candidates}
    if self_num is not None:
        full[self_num] = fps
    every = np.concatenate([hashes] + [np.asarray(f[0], dtype=np.uint64) for f in full.values()])
    h, docs, pos = postings(every)
    others = ~np.isin(docs, np.fromiter(full, dtype=np.int64, count=len(full)))
    mapping = _group(h[others], docs[others], pos[others])
    mapping.update({d: (np.asarray(f[0], dtype=np.uint64), np.asarray(f[1], dtype=np.int64))
                    for d, f in full.items()})
    return detect.FingerprintIndex(dict(sorted(mapping.items())))


def _loader(lib: Library):
    def load(docnum: int) -> str:
        text = lib.texts([docnum]).get(docnum)
        if text is None:
            raise DocumentNotFound(str(docnum))
        return text
    return load


def _doc_dict(doc: Document | None, **extra) -> dict:
    if doc is None:
        return dict(extra)
    return {**doc.to_dict(), **doc.metadata, **extra}


def _passage_dict(p, text_a: str, text_b: str, source: Document | None) -> dict:
    ta, tb = text_a[p.a_start:p.a_end], text_b[p.b_start:p.b_end]
    edits = [[tag, a0 - p.a_start, a1 - p.a_start, b0 - p.b_start, b1 - p.b_start]
             for tag, a0, a1, b0, b1 in p.edits]
    out = {"a": [p.a_start, p.a_end], "b": [p.b_start, p.b_end], "similarity": p.similarity,
           "shared_chars": p.shared_chars, "text_a": ta, "text_b": tb, "edits": edits}
    if source is not None:
        out.update(source_id=source.id, source=source.source, source_title=source.title)
    return out


def _report(lib: Library, text: str, fps, self_num: int | None, document: dict,
            opts: detect.DetectOptions = detect.DEFAULTS) -> dict:
    index = local_index(lib, fps, self_num, opts)
    matches = detect.match_document(fps, text, index, _loader(lib), options=opts, self_id=self_num)
    norm = detect.normalize(text)
    summary = detect.copy_report(matches, norm)
    live = lib.live
    texts = lib.texts(p.b for p in matches.pairs)
    n_passages = {p.b: len(p.passages) for p in matches.pairs}
    sources = [{**_doc_dict(live.get(s.doc)), "ratio": s.ratio, "copied_chars": s.copied_chars,
                "passages": n_passages.get(s.doc, 0)} for s in summary.sources]
    passages = [_passage_dict(x, text, texts[p.b], live.get(p.b)) for p in matches.pairs for x in p.passages]
    passages.sort(key=lambda x: x["a"])
    return {
        "document": document, "chars": summary.chars, "copied_chars": summary.copied_chars,
        "boilerplate_chars": summary.boilerplate_chars,
        "copy_ratio": summary.total_ratio,
        "copy_ratio_with_boilerplate": round(
            (summary.copied_chars + summary.boilerplate_chars) / max(1, summary.chars), 4),
        "max_single_ratio": summary.max_source_ratio,
        "sources": sources, "passages": passages,
        "boilerplate": _boilerplate_spans(matches.boilerplate, text, fps, norm, index, opts),
    }


def _boilerplate_spans(spans, text: str, fps, norm, index, opts) -> list[dict]:
    """The document's boilerplate spans, each with how many library documents carry it."""
    hashes, pos = np.asarray(fps[0], dtype=np.uint64), np.asarray(fps[1], dtype=np.int64)
    groups = index.group_of(hashes)
    df = np.zeros(len(hashes), dtype=np.int64)
    df[groups >= 0] = index.df[groups[groups >= 0]]
    where = norm.offsets[np.minimum(pos, len(norm.offsets) - 1)] if len(norm.offsets) else pos
    out = []
    for s, e in spans:
        inside = (where >= s) & (where < e)
        docs = int(df[inside].max()) if inside.any() else 0
        out.append({"span": [s, e], "documents": docs, "text": text[s:e]})
    return out


def report(lib: Library, doc_id: str) -> dict:
    """The 查重 report of one library document against all the others."""
    doc = lib.get(doc_id)
    fps = lib.fingerprints(doc.docnum)
    return _report(lib, doc.text, fps, doc.docnum, _doc_dict(doc), lib.detect_options)


def report_text(lib: Library, text: str, title: str | None = None) -> dict:
    """The 查重 report of a text that is not in the library (the pre-submission check)."""
    from .text import clean_stored

    text = clean_stored(text)
    document = {"id": None, "source": title or "", "title": title or "", "chars": len(text)}
    return _report(lib, text, fingerprint_text(text), None, document, lib.detect_options)


def compare_pair(lib: Library, a_id: str, b_id: str) -> dict:
    """Two documents side by side: the passages they share (boilerplate excluded)."""
    a, b = lib.get(a_id), lib.get(b_id)
    rep = report(lib, a.id) if a.id != b.id else {"passages": []}
    passages = [{k: v for k, v in p.items() if not k.startswith("source")}
                for p in rep["passages"] if p.get("source_id") == b.id]
    shared = sum(p["shared_chars"] for p in passages)
    covered = [union_length([tuple(p["a"]) for p in passages]) / max(1, len(a.text)),
               union_length([tuple(p["b"]) for p in passages]) / max(1, len(b.text))]
    return {"a": _doc_dict(a), "b": _doc_dict(b), "similarity": round(max(covered), 4),
            "shared_chars": shared, "passages": passages}


def compare_corpus(lib: Library) -> dict:
    """Every pair of documents with copied passages, and the boilerplate: the ``compare --json`` shape."""
    opts = lib.detect_options
    live = lib.live
    fps = {num: lib.fingerprints(num) for num in sorted(live)}
    # Documents go by their ids (in docnum order), so the result needs no translation afterwards.
    mapping = {live[num].id: fps[num] for num in sorted(fps)}
    docnum_of = {live[num].id: num for num in fps}
    load = _loader(lib)
    result = detect.compare_corpus(mapping, lambda doc_id: load(docnum_of[doc_id]), options=opts)
    out = result.to_json({doc_id: live[docnum_of[doc_id]].source for doc_id in mapping})
    for d in out["documents"]:
        doc = live[docnum_of[d["id"]]]
        d.update(title=doc.title, chars=doc.chars, **doc.metadata)
    out["pairs"].sort(key=lambda p: (-p["shared_chars"], p["a"], p["b"]))
    out["clusters"] = clusters(out["pairs"])
    return out


def clusters(pairs: list[dict]) -> list[dict]:
    """Connected groups of documents that share passages, largest first."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        parent[find(p["a"])] = find(p["b"])
    groups: dict[str, dict] = {}
    for p in pairs:
        g = groups.setdefault(find(p["a"]), {"documents": set(), "shared_chars": 0, "pairs": 0})
        g["documents"].update((p["a"], p["b"]))
        g["shared_chars"] += p["shared_chars"]
        g["pairs"] += 1
    out = [{"documents": sorted(g["documents"]), "shared_chars": g["shared_chars"], "pairs": g["pairs"]}
           for g in groups.values()]
    out.sort(key=lambda g: (-len(g["documents"]), -g["shared_chars"]))
    return out
