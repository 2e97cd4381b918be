"""One document against the library (``indexer check``/``report``): its copied passages and a
CNKI-style summary: 去除套话复制比 (copied characters / characters, boilerplate excluded), 单篇最大复制比
(the largest share copied from one source) and the sources ranked by their share.

字数 everywhere is the number of normalized characters (汉字, letters and digits; punctuation and spaces
are not counted). Every copied character is attributed to exactly one source, the best (the one the
document shares most with, as CNKI does): passages never overlap and the per-source figures add up
to the total (``attribution``).

The same pieces as the corpus compare do the work: the library's hash→postings lookup gives seeds
and document frequencies, boilerplate is decided the same way (counting the new document too),
and each candidate source is aligned with ``align_pair``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from indexer.detect.attribution import attribute
from indexer.detect.boilerplate import docs_threshold, inside, regions, text_stock_mask
from indexer.detect.corpus import PairResult, pair_result
from indexer.detect.normalize import Normalized, TextCache, char_count, normalize
from indexer.detect.options import DEFAULTS, DetectOptions
from indexer.detect.postings import DocId, FingerprintIndex, Fingerprints
from indexer.detect.sentences import sentence_seeds
from indexer.detect.stock import merge_spans
from indexer.detect.units import features


@dataclass(frozen=True)
class DocumentMatches:
    """What one document shares with the library: pairs (the document is ``a``) and its boilerplate."""

    pairs: list[PairResult]
    boilerplate: list[tuple[int, int]]  # original spans of the document that are boilerplate
    stock: list[tuple[int, int]] = ()  # ... of them, the whole stock phrases, headings and themes
    recurring: list[tuple[int, int]] = ()  # ... and the passages recurring in many documents


@dataclass(frozen=True)
class Source:
    """One library document the checked document copies from, with its share (0..1)."""

    doc: DocId
    ratio: float  # copied_chars / the document's 字数
    copied_chars: int  # characters attributed to this source (they add up to the total)
    pair_chars: int = 0  # characters the document shares with this source, before attribution
    pair_ratio: float = 0.0  # pair_chars / 字数: the pair's figure, the same on every page


@dataclass(frozen=True)
class CopyReport:
    """The CNKI-style summary of one document; ratios count normalized characters."""

    chars: int
    copied_chars: int
    boilerplate_chars: int
    total_ratio: float  # 去除套话复制比: copied_chars / chars
    max_source_ratio: float  # 单篇最大复制比 (the largest pair_ratio)
    sources: list[Source]
    matches: DocumentMatches
    passages: list[tuple[DocId, object]] = ()  # (source, Passage) after attribution, by position

    def to_json(self, name_of: Callable[[DocId], str] = str) -> dict:
        """A JSON-ready summary: ratios, ranked sources, and every passage with its source."""
        return {
            "chars": self.chars, "copied_chars": self.copied_chars,
            "boilerplate_chars": self.boilerplate_chars,
            "total_ratio": self.total_ratio, "max_source_ratio": self.max_source_ratio,
            "sources": [{"doc": name_of(s.doc), "ratio": s.ratio, "copied_chars": s.copied_chars,
                         "pair_chars": s.pair_chars, "pair_ratio": s.pair_ratio} for s in self.sources],
            "passages": [{"source": name_of(b), "span": [x.a_start, x.a_end],
                          "source_span": [x.b_start, x.b_end], "similarity": x.similarity,
                          "shared_chars": x.shared_chars, "edits": [list(e) for e in x.edits]}
                         for b, x in self.passages],
            "boilerplate": [list(span) for span in self.matches.boilerplate],
        }


def match_document(fps: Fingerprints, text: str, index: FingerprintIndex,
                   load_text: Callable[[DocId], str], *, options: DetectOptions = DEFAULTS,
                   self_id: DocId | None = None, texts: TextCache | None = None,
                   corpus_docs: int | None = None) -> DocumentMatches:
    """The passages ``text`` (fingerprinted as ``fps``) shares with the documents of ``index``.

    ``self_id`` names the document itself when the library already holds it (its postings are skipped
    and it is not counted twice in document frequencies). ``corpus_docs`` is the number of documents
    of the whole library when ``index`` holds only some (the boilerplate threshold adapts to it).
    """
    opts = options
    texts = texts or TextCache(load_text)
    hashes, pos = np.asarray(fps[0], dtype=np.uint64), np.asarray(fps[1], dtype=np.int64)
    groups = index.group_of(hashes)
    known = groups >= 0
    self_num = index.doc_ids.index(self_id) if self_id is not None and self_id in index.doc_ids else -1
    safe = np.maximum(groups, 0)
    df = np.zeros(len(hashes), dtype=np.int64) + (self_num < 0)
    counts = np.zeros(len(hashes), dtype=np.int64)
    df[known] += index.df[safe[known]]
    counts[known] = index.counts[safe[known]]
    n_docs = (len(index.doc_ids) if corpus_docs is None else corpus_docs) + (self_num < 0)
    threshold = docs_threshold(opts, n_docs)
    bp = (df >= threshold) | (counts > opts.max_postings)
    order = np.argsort(pos[bp], kind="stable")
    bp_pos = pos[bp][order]
    zeros = np.zeros(len(bp_pos), dtype=np.int64)
    _, m_doc, m_start, m_end = regions(zeros, bp_pos, k=opts.k, gap=opts.window)
    norm = normalize(text)
    stock = text_stock_mask(norm, opts)

    # Seeds: every posting of a usable hash in another document.
    use = np.flatnonzero(known & ~bp)
    use = use[~inside(np.zeros(len(use), dtype=np.int64), pos[use], m_doc, m_start, m_end, k=opts.k)]
    starts, n = index.starts[groups[use]], index.counts[groups[use]]
    rep = np.repeat(np.arange(len(use)), n)
    post = np.repeat(starts, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    s_doc, s_lib, s_new = index.docs[post], index.pos[post], pos[use][rep]
    keep = s_doc != self_num
    s_doc, s_lib, s_new = s_doc[keep], s_lib[keep], s_new[keep]
    pairs = []
    bp_groups = None
    mine = None  # the checked text's sentence units, once (sentence stage)
    weak = 0  # sources with a single seed looked at so far
    for d in np.unique(s_doc).tolist():
        sel = s_doc == d
        if sel.sum() < opts.min_seeds:  # a rewritten copy may keep one seed: the sentence stage decides,
            if not opts.sentences or weak >= opts.unit_check_sources:  # for a bounded number of sources
                continue
            weak += 1
        if bp_groups is None:
            bp_groups = _library_boilerplate(index, threshold, opts, self_num)
        lib_doc = index.doc_ids[d]
        lib = texts.get(lib_doc)
        l_start, l_end = _doc_regions(index, bp_groups, d, opts)
        ones = np.zeros(len(l_start), dtype=np.int64)
        ok = ~inside(np.zeros(int(sel.sum()), dtype=np.int64), s_lib[sel], ones, l_start, l_end, k=opts.k)
        seeds = np.stack([s_new[sel][ok], s_lib[sel][ok]], axis=1)
        if len(seeds) < (1 if opts.sentences else opts.min_seeds):  # rewritten copies keep few seeds
            continue
        masks = (_mask(stock, m_start, m_end), _mask(text_stock_mask(lib, opts), l_start, l_end))
        units = None
        if opts.sentences:  # the sentence stage (issue 11) on every candidate source
            if mine is None:
                mine = features(norm, opts)
            units = sentence_seeds(mine, features(lib, opts), opts, boiler_a=masks[0], boiler_b=masks[1])
        if len(seeds) < opts.min_seeds and units is None:
            continue
        result = pair_result(self_id, lib_doc, norm, lib, seeds, opts, masks, units)
        if result is not None:
            pairs.append(result)
    recurring = [norm.to_original(int(s), min(int(e), len(norm)))
                 for s, e in zip(m_start, m_end, strict=True)]
    stock_spans = [norm.to_original(s, e) for s, e in merge_spans(_runs_of(stock))]
    pairs.sort(key=lambda p: -p.shared_chars)
    return DocumentMatches(pairs, merge_spans(recurring + stock_spans), stock_spans, recurring)


def _runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _library_boilerplate(index: FingerprintIndex, threshold: int, opts: DetectOptions,
                         self_num: int) -> np.ndarray:
    """Boilerplate groups of the library, counting the checked document when it is not in it."""
    extra = 1 if self_num < 0 else 0
    return (index.df + extra >= threshold) | (index.counts > opts.max_postings)


def _doc_regions(index: FingerprintIndex, bp_groups: np.ndarray, d: int,
                 opts: DetectOptions) -> tuple[np.ndarray, np.ndarray]:
    """Unbroken boilerplate regions of library document number ``d`` (normalized offsets)."""
    p = index.pos[index.postings_of(d)]
    g = index.group[index.postings_of(d)]
    bp_pos = np.sort(p[bp_groups[g]])
    _, _, start, end = regions(np.zeros(len(bp_pos), dtype=np.int64), bp_pos, k=opts.k, gap=opts.window)
    return start, end


def _mask(stock: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    mask = stock.copy()
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        mask[s:e] = True
    return mask


def copy_report(matches: DocumentMatches, norm: Normalized, *,
                min_chars: int = DEFAULTS.min_chars) -> CopyReport:
    """去除套话复制比, 单篇最大复制比 and ranked sources; boilerplate never counts as copied, every copied
    character counts once, for the best source."""
    n = len(norm.original)
    boiler = np.zeros(n + 1, dtype=bool)
    for s, e in matches.boilerplate:
        boiler[s:e] = True
    counted = ~boiler[norm.offsets]  # normalized characters outside boilerplate
    chars = max(1, char_count(norm))
    att = attribute(matches.pairs, norm, counted, min_chars=min_chars)
    sources = [Source(b, round(att.chars[b] / chars, 4), att.chars[b], att.pair_chars[b],
                      round(att.pair_chars[b] / chars, 4)) for b in att.ranking]
    copied = sum(att.chars.values())
    return CopyReport(
        chars=char_count(norm), copied_chars=copied, boilerplate_chars=int((~counted).sum()),
        total_ratio=round(copied / chars, 4),
        max_source_ratio=max((s.pair_ratio for s in sources), default=0.0), sources=sources,
        matches=matches, passages=att.passages)
