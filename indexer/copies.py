"""Copy detection over the library: reports, pair comparisons and the whole-corpus overview.

The detection pipeline (``indexer.detect``) works on fingerprints; this module feeds it from the
index. Fingerprints were computed at ingest and live in the phrase segments sorted by hash, so one
document is checked against the library by binary search: the postings of its hashes, then those
of its candidate sources' hashes, make a small inverted index that is exact for every hash it
holds. Nothing is fingerprinted again, and the whole corpus is never scanned for one report.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING

import numpy as np

from . import detect
from .detect import tiers
from .detect.boilerplate import docs_threshold, snap, stock_list, text_stock_mask
from .detect.stock import matcher, web_traces
from .errors import DocumentNotFound
from .ingest import fingerprint_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from .library import Library
    from .store import Document

OTHERS = -1  # the key of the stand-in for every library document that is not a candidate source


def local_index(lib: Library, fps, self_num: int | None, opts: detect.DetectOptions = detect.DEFAULTS):
    """An inverted index that decides boilerplate and finds seeds exactly like the whole library's,
    for the hashes of ``fps`` and of every candidate source.

    A hash with more than ``max_postings`` postings is boilerplate whatever its other postings are,
    so only the first ``max_postings + 1`` of each are read; the document itself and its candidate
    sources contribute all their fingerprints. The other documents are only counted: their postings
    (close to two million for one check against ten thousand materials) never become index entries.
    One stand-in document (``OTHERS``) holds once each hash they carry, so that the hash has its
    group, and every group's document frequency and posting count are then set to the figures the
    whole index would give. The stand-in never yields a seed: a hash it holds is boilerplate (were
    it not, each of its holders would have been a candidate)."""
    hashes = np.asarray(fps[0], dtype=np.uint64)
    cap = opts.max_postings + 1
    catalog = lib.catalog
    h, docs, _ = lib.segments.postings(hashes, cap)
    keep = catalog.select(docs, catalog.live)
    h, docs = h[keep], docs[keep]
    pairs = np.unique(np.stack([h, docs.astype(np.uint64)]), axis=1)  # (hash, doc) once each
    df = dict(zip(*np.unique(pairs[0], return_counts=True), strict=True))
    counts = dict(zip(*np.unique(h, return_counts=True), strict=True))
    threshold = docs_threshold(opts, len(lib) + (self_num is None))
    usable = {int(x) for x, n in df.items() if n < threshold and counts[x] <= opts.max_postings}
    use = np.isin(h, np.fromiter(usable, dtype=np.uint64, count=len(usable)))
    candidates = sorted(set(docs[use].tolist()) - {self_num})
    full = {d: lib.fingerprints(d) for d in candidates}
    if self_num is not None:
        full[self_num] = fps
    full = {d: (np.asarray(f[0], dtype=np.uint64), np.asarray(f[1], dtype=np.int64))
            for d, f in sorted(full.items())}
    every = np.unique(np.concatenate([hashes] + [f[0] for f in full.values()]))
    counted = catalog.live.copy()  # the other live documents
    counted[[d for d in full if d < len(counted)]] = False
    o_df, o_counts = lib.segments.posting_figures(every, cap, counted)
    held = every[o_counts > 0]
    stand_in = {OTHERS: (held, np.zeros(len(held), dtype=np.int64))} if len(held) else {}
    index = detect.FingerprintIndex({**stand_in, **full})
    at = np.searchsorted(every, index.hashes[index.starts])
    stood_in = (o_counts[at] > 0).astype(np.int64)  # the stand-in's one posting in the group
    index.df = index.df - stood_in + o_df[at]
    index.counts = index.counts - stood_in + o_counts[at]
    return index


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
        out.update(source_id=source.id, source=source.source, source_title=source.title,
                   source_name=source.display_name)
    return out


def _analyse(lib: Library, text: str, fps, self_num: int | None, opts: detect.DetectOptions):
    """The document's matches against the library, its normalized text and its stock mask."""
    index = local_index(lib, fps, self_num, opts)
    matches = detect.match_document(fps, text, index, _loader(lib), options=opts, self_id=self_num,
                                    corpus_docs=len(lib))
    norm = detect.normalize(text)
    return matches, norm, text_stock_mask(norm, opts), index


def _pair_figures(lib: Library, pair, norm, stock, opts, cache: dict) -> dict:
    """The pair's figures (``tiers.pair_figures``), the other side's text normalized once."""
    if pair.b not in cache:
        nb = detect.normalize(_loader(lib)(pair.b))
        cache[pair.b] = (nb, text_stock_mask(nb, opts))
    nb, stock_b = cache[pair.b]
    return tiers.pair_figures(pair.passages, norm, nb, stock, stock_b)


def _report(lib: Library, text: str, fps, self_num: int | None, document: dict,
            opts: detect.DetectOptions = detect.DEFAULTS) -> dict:
    matches, norm, stock, index = _analyse(lib, text, fps, self_num, opts)
    summary = detect.copy_report(matches, norm, min_chars=opts.min_chars)
    live = lib.catalog  # a few sources' metadata, not every material's
    texts = lib.texts(p.b for p in matches.pairs)
    figures, others = {}, {}
    for pair in matches.pairs:
        figures[pair.b] = _pair_figures(lib, pair, norm, stock, opts, others)
    n_passages = {}
    for b, _ in summary.passages:
        n_passages[b] = n_passages.get(b, 0) + 1
    base = max(1, summary.chars - summary.boilerplate_chars)
    me = {**document, "added": document.get("added")}
    sources = []
    for s in summary.sources:
        doc = _doc_dict(live.get(s.doc))
        if doc and s.doc in others:
            doc["chars"] = len(others[s.doc][0])  # 字数 as everywhere: normalized characters
        fig = figures[s.doc]
        own = bool(doc) and tiers.same_owner(me, doc) and document.get("id") is not None
        sources.append({**doc, "ratio": round(s.copied_chars / base, 4), "copied_chars": s.copied_chars,
                        "pair_chars": fig["chars_a"], "pair_ratio": fig["ratio_a"],
                        "similarity": fig["similarity"], "passages": n_passages.get(s.doc, 0),
                        "tier": tiers.tier(fig, opts, own=own),
                        "earlier": tiers.earlier(me, doc)["source"] == "b" if doc else None})
    passages = []
    for b, x in summary.passages:
        d = _passage_dict(x, text, texts[b], live.get(b))
        d["counted_chars"] = tiers.covered([(x.a_start, x.a_end)], norm, _counted(norm, matches))
        d["name_swap"] = tiers.name_swap(d)
        passages.append(d)
    copied = summary.copied_chars
    return {
        "document": {**document, "chars": summary.chars}, "chars": summary.chars, "copied_chars": copied,
        "boilerplate_chars": summary.boilerplate_chars, "stock_chars": int(stock.sum()),
        "copy_ratio": round(copied / base, 4),
        "copy_ratio_with_boilerplate": round((copied + summary.boilerplate_chars) / max(1, summary.chars), 4),
        "max_single_ratio": max((s["pair_ratio"] for s in sources), default=0.0),
        "sources": sources, "passages": passages,
        "boilerplate": _boilerplate_list(matches, text, fps, norm, index, opts),
        "sections": sections(text, norm, [tuple(p["a"]) for p in passages], _counted(norm, matches)),
        "web_traces": web_traces(norm, stock_list(opts), shipped=opts.use_stock_phrases),
        "check": check_meta(lib, text),
    }


def _counted(norm, matches) -> np.ndarray:
    boiler = np.zeros(len(norm.original) + 1, dtype=bool)
    for s, e in matches.boilerplate:
        boiler[s:e] = True
    return ~boiler[norm.offsets]


CHAR_DEFINITION = ("字数指汉字、字母和数字的个数，不计标点和空白；"
                   "套话指规定的标题、会议主题、常用提法和多份材料共有的段落。")


def check_meta(lib: Library, text: str) -> dict:
    """The report's evidence header: number, time, scope (materials and library state), SHA-256."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    now = time.time()
    state = lib.cache_key() if hasattr(lib, "cache_key") else ""
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(now))
    return {"number": f"DZ-{stamp}-{digest[:8].upper()}", "checked_at": now,
            "checked_at_text": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
            "library_documents": len(lib), "library_state": state, "sha256": digest,
            "definition": CHAR_DEFINITION}


_HEADING = re.compile(r"^[\s#*]*([一二三四五六七八九十]{1,3})[、.．]\s*(.*)$", re.M)


def sections(text: str, norm, copied: list[tuple[int, int]], counted: np.ndarray) -> list[dict]:
    """复制比 per section, following the material's own top-level headings (一、二、三…); the text
    before the first heading is 前言. Ratios count 字数 outside stock text, as the whole report."""
    heads = [(m.start(), (m.group(1) + "、" + m.group(2).strip(" *#"))[:40]) for m in _HEADING.finditer(text)]
    if not heads:
        return []
    bounds = ([(0, "前言")] if heads[0][0] > 0 else []) + heads
    cover = np.zeros(len(text) + 1, dtype=bool)
    for s, e in copied:
        cover[s:e] = True
    orig = norm.offsets
    out = []
    for i, (start, title) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(text)
        sel = (orig >= start) & (orig < end)
        base = int((sel & counted).sum())
        chars = int((sel & counted & cover[orig]).sum())
        if sel.any():
            out.append({"title": title, "span": [start, end], "chars": int(sel.sum()), "copied_chars": chars,
                        "ratio": round(chars / base, 4) if base else 0.0})
    return out


def _boilerplate_list(matches, text: str, fps, norm, index, opts) -> list[dict]:
    """The document's stock phrases (each with its kind) and recurring passages (each with how many
    library documents carry it), by position."""
    out = [{"span": [s, e], "text": text[s:e], "kind": "stock", "documents": None}
           for s, e in matches.stock]
    for item in _boilerplate_spans(matches.recurring, text, fps, norm, index, opts):
        s, e = snap(text, *item["span"])
        out.append({**item, "span": [s, e], "text": text[s:e], "kind": "recurring"})
    out.sort(key=lambda b: b["span"])
    return out


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
    document = {"id": None, "source": title or "", "name": title or "", "title": title or "",
                "chars": detect.char_count(text)}
    return _report(lib, text, fingerprint_text(text), None, document, lib.detect_options)


def compare_pair(lib: Library, a_id: str, b_id: str) -> dict:
    """Two documents side by side: the passages they share, with the pair's figures (the same as
    on the report and the overview; a document compared with itself is 100 %)."""
    a, b = lib.get(a_id), lib.get(b_id)
    opts = lib.detect_options
    na = detect.normalize(a.text)
    stock_a = text_stock_mask(na, opts)
    if a.id == b.id:
        whole = detect.Passage(0, len(a.text), 0, len(b.text), 1.0, len(na))
        pair = detect.PairResult(a.id, b.id, (whole,), 1.0, len(na))
    else:
        matches, _, _, _ = _analyse(lib, a.text, lib.fingerprints(a.docnum), a.docnum, opts)
        pair = next((p for p in matches.pairs if p.b == b.docnum), None)
        pair = detect.PairResult(a.docnum, b.docnum, pair.passages if pair else (), 0.0, 0)
    nb = na if a.id == b.id else detect.normalize(b.text)
    stock_b = stock_a if a.id == b.id else text_stock_mask(nb, opts)
    fig = tiers.pair_figures(pair.passages, na, nb, stock_a, stock_b)
    passages = []
    for x in pair.passages:
        d = _passage_dict(x, a.text, b.text, None)
        d["name_swap"] = tiers.name_swap(d)
        passages.append(d)
    da, db = _doc_dict(a, chars=detect.char_count(na)), _doc_dict(b, chars=detect.char_count(nb))
    own = tiers.same_owner(da, db)
    return {"a": da, "b": db, **fig, "passages": passages,
            "tier": tiers.tier(fig, opts, own=own) if passages else None, "earlier": tiers.earlier(da, db)}


def compare_corpus(lib: Library, *, progress: Callable[[int, int], None] | None = None) -> dict:
    """Every pair of documents with copied passages, and the boilerplate: the ``compare --json`` shape
    (``progress``: see ``detect.compare_corpus``).

    ``pairs`` and ``clusters`` hold copying only (``tiers``); weaker overlaps are under ``minor_pairs``,
    reuse of the same author's or unit's own material under ``own_pairs``. Each pair carries its
    figures (``tiers.pair_figures``), which material is earlier, and its 换名照搬 passages; documents
    that carry traces of 范文 web sites say so."""
    opts = lib.detect_options
    live = lib.live
    fps = {num: lib.fingerprints(num) for num in sorted(live)}
    # Documents go by their ids (in docnum order), so the result needs no translation afterwards.
    mapping = {live[num].id: fps[num] for num in sorted(fps)}
    docnum_of = {live[num].id: num for num in fps}
    load = _loader(lib)
    extra = {"progress": progress} if progress is not None else {}  # (an older detect has no progress)
    if opts.sentences:  # stored at ingest, read one at a time (the compare asks for each once)
        extra["sketches"] = _StoredSketches(lib, opts, docnum_of)
    result = detect.compare_corpus(mapping, lambda doc_id: load(docnum_of[doc_id]), options=opts, **extra)
    out = result.to_json({doc_id: live[docnum_of[doc_id]].source for doc_id in mapping})
    docs = {}
    for d in out["documents"]:
        doc = live[docnum_of[d["id"]]]
        d.update(title=doc.title, chars=doc.chars, added=doc.added, **doc.metadata)
        docs[d["id"]] = d
    norms: dict[str, tuple] = {}

    def norm_of(doc_id: str):
        if doc_id not in norms:
            norm = detect.normalize(load(docnum_of[doc_id]))
            norms[doc_id] = (norm, text_stock_mask(norm, opts))
        return norms[doc_id]

    for pair in out["pairs"]:
        (na, sa), (nb, sb) = norm_of(pair["a"]), norm_of(pair["b"])
        describe_pair(pair, na, nb, sa, sb, docs[pair["a"]], docs[pair["b"]], opts)
    traces, carriers = {}, {}
    spans = copied_spans(out["pairs"])
    for doc_id, num in docnum_of.items():
        norm = norms[doc_id][0] if doc_id in norms else detect.normalize(load(num))
        docs[doc_id]["chars"], found, carried = document_figures(norm, opts)
        everything = np.ones(len(norm), dtype=bool)
        docs[doc_id]["covered_chars"] = tiers.covered(spans.get(doc_id, ()), norm, everything)
        if found:
            traces[doc_id] = found
        for phrase in carried:
            carriers.setdefault(phrase, set()).add(doc_id)
    return finish_compare(out, traces, carriers)


class _StoredSketches:
    """Documents' sentence-stage sketches by id, read from their segments when the compare asks
    (``Library.sketch``: computed for documents whose segment lacks them); never all in memory."""

    def __init__(self, lib: Library, opts: detect.DetectOptions, docnum_of: dict[str, int]):
        self.lib, self.opts, self.docnum_of = lib, opts, docnum_of

    def __getitem__(self, doc_id: str):
        return self.lib.sketch(self.docnum_of[doc_id], self.opts)


def copied_spans(pairs: list[dict]) -> dict[str, list[tuple[int, int]]]:
    """Each material's passages shared with another material (copying and 少量雷同, not one's own
    earlier material): the spans its ``covered_chars`` (normalized characters, as 字数) counts."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for pair in pairs:
        if pair.get("tier") == tiers.OWN:
            continue
        for x in pair["passages"]:
            for side in ("a", "b"):
                spans.setdefault(pair[side], []).append((int(x[side][0]), int(x[side][1])))
    return spans


def document_figures(norm, opts: detect.DetectOptions) -> tuple[int, list, list[str]]:
    """What the compare records of one material: its 字数 (normalized characters, as on every page),
    its 范文 web traces, and the stock phrases it carries (套话库), in the order found."""
    user = stock_list(opts)
    hits = matcher(user, opts.use_stock_phrases).hits(norm.text)
    traces = web_traces(norm, user, shipped=opts.use_stock_phrases, hits=hits)
    return detect.char_count(norm), traces, [hit.phrase for hit in hits]


# The three steps below are what the Spark job (``indexer.spark``) calls where its data is: a pair
# where it is aligned, a document where it is read, the assembly on the driver.

def describe_pair(pair: dict, na, nb, stock_a, stock_b, doc_a: dict, doc_b: dict,
                  opts: detect.DetectOptions) -> dict:
    """One pair of the compare JSON completed in place: its figures, which material is earlier,
    its 换名照搬 passages and its tier."""
    pair.update(tiers.pair_figures(pair["passages"], na, nb, stock_a, stock_b))
    pair["earlier"] = tiers.earlier(doc_a, doc_b)
    for x in pair["passages"]:
        ta, tb = na.original[x["a"][0]:x["a"][1]], nb.original[x["b"][0]:x["b"][1]]
        rel = {"text_a": ta, "text_b": tb, "similarity": x["similarity"],
               "edits": [[t, a0 - x["a"][0], a1 - x["a"][0], b0 - x["b"][0], b1 - x["b"][0]]
                         for t, a0, a1, b0, b1 in x["edits"]]}
        x["name_swap"] = tiers.name_swap(rel)
    pair["tier"] = tiers.tier(pair, opts, own=tiers.same_owner(doc_a, doc_b))
    return pair


def finish_compare(out: dict, traces: dict, carriers: dict | None = None) -> dict:
    """The described pairs (``out["pairs"]``) split by tier and sorted, clusters, web traces, and
    which materials carry each stock phrase (``carriers``: phrase -> ids)."""
    tiers_of: dict[str, list[dict]] = {tiers.COPYING: [], tiers.MINOR: [], tiers.OWN: []}
    for pair in out["pairs"]:
        tiers_of[pair["tier"]].append(pair)
    for group in tiers_of.values():
        group.sort(key=lambda p: (-p["shared_chars"], p["a"], p["b"]))
    out["pairs"], out["minor_pairs"], out["own_pairs"] = tiers_of[tiers.COPYING], tiers_of[tiers.MINOR], \
        tiers_of[tiers.OWN]
    out["clusters"] = clusters(out["pairs"])
    out["web_traces"] = traces
    if carriers is not None:
        out["stock_usage"] = {phrase: sorted(ids) for phrase, ids in carriers.items()}
    return out


def filter_compare(lib: Library, result: dict, *, unit: str | None = None, year: str | None = None) -> dict:
    """The overview about one unit or year: pairs of every tier touching one of its materials, the
    boilerplate occurrences in them, clusters of its copying pairs."""
    if not unit and not year:
        return result
    keep = {d.id for d in lib.live.values()
            if (not unit or d.unit == unit) and (not year or d.year == year)}
    out = dict(result)
    for key in ("pairs", "minor_pairs", "own_pairs"):
        out[key] = [p for p in result.get(key, []) if p["a"] in keep or p["b"] in keep]
    boiler = []
    for b in result.get("boilerplate", []):
        occ = [o for o in b["occurrences"] if o["doc"] in keep]
        if occ:
            boiler.append({**b, "occurrences": occ})
    out["boilerplate"] = boiler
    out["documents"] = [d for d in result.get("documents", []) if d["id"] in keep]
    out["web_traces"] = {k: v for k, v in result.get("web_traces", {}).items() if k in keep}
    out["clusters"] = clusters(out["pairs"])
    return out


def clusters(pairs: list[dict]) -> list[dict]:
    """Connected groups of documents linked by copying pairs (give it ``pairs``, never the weaker
    tiers: a chain through 少量雷同 or stock text is no 互相抄录), largest first."""
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
