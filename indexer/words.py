"""The word index: jieba words in Whoosh, ranked with BM25, with metadata fields for filtering.

jieba's shipped ``ChineseAnalyzer`` puts character offsets into token positions, which breaks
Whoosh phrase queries; our tokenizer numbers tokens 0, 1, 2, … Exact phrases are not asked of
Whoosh at all (see ``segments``), so the word field stores frequencies only, which keeps indexing
fast. Documents are tokenized in worker processes and handed to Whoosh as word counts.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from whoosh import fields, index, qparser
from whoosh.analysis import Token, Tokenizer
from whoosh.system import pack_uint

from .wordcut import word_counts, words  # noqa: F401 (the word rules live in wordcut)


class JiebaTokenizer(Tokenizer):
    """Tokens with sequential positions (0, 1, 2, …); used to analyze query text."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, mode="", **kwargs):
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for pos, w in enumerate(words(value)):
            t.original = t.text = w
            t.boost = 1.0
            t.stopped = False
            if positions:
                t.pos = start_pos + pos
            yield t


class WordCounts(fields.TEXT):
    """A TEXT field indexed from precomputed ``{word: count}`` (tokenized elsewhere, in parallel)."""

    def index(self, value, **kwargs):
        if not isinstance(value, Mapping):
            value = word_counts(value)
        for word, n in value.items():
            yield word.encode("utf-8"), n, float(n), pack_uint(n)


def make_schema() -> fields.Schema:
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        docnum=fields.STORED(),
        title=fields.STORED(),
        unit=fields.ID(),
        author=fields.ID(),
        role=fields.ID(),
        year=fields.ID(),
        meeting=fields.ID(),
        words=WordCounts(analyzer=JiebaTokenizer(), phrase=False, multitoken_query="and"),
    )


class WordIndex:
    """The Whoosh index under ``folder``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        if index.exists_in(self.folder):
            try:
                self.ix = index.open_dir(self.folder)
            except Exception:  # an unreadable index is derived data: rebuild it from the store
                shutil.rmtree(self.folder)
                self.ix = None
        else:
            self.ix = None
        if self.ix is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.ix = index.create_in(self.folder, make_schema())
        self._searcher = None
        self._docmap: tuple[object, np.ndarray] | None = None
        self._lengths: tuple[object, np.ndarray] | None = None

    def docmap(self, searcher) -> np.ndarray:
        """Whoosh's internal document numbers mapped to ours (-1: deleted), cached per searcher."""
        if self._docmap is None or self._docmap[0] is not searcher:
            reader = searcher.reader()
            mapping = np.full(reader.doc_count_all(), -1, dtype=np.int64)
            for w, f in reader.iter_docs():
                mapping[w] = f["docnum"]
            self._docmap = (searcher, mapping)
        return self._docmap[1]

    def lengths(self, searcher) -> np.ndarray:
        """Each Whoosh document's ``words`` length as BM25 sees it (byte-quantized), cached per searcher."""
        if self._lengths is None or self._lengths[0] is not searcher:
            reader = searcher.reader()
            size = reader.doc_count_all()
            lengths = np.fromiter((reader.doc_field_length(i, "words", 1) or 1 for i in range(size)),
                                  dtype=np.float64, count=size)
            self._lengths = (searcher, lengths)
        return self._lengths[1]

    def postings(self, searcher, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """A term's postings in every segment as arrays: Whoosh document numbers (deleted ones
        included: ``docmap`` maps them to -1) and weights (the word's count in the document).
        Read a block at a time from Whoosh's own matchers, not a posting at a time."""
        from whoosh.matching.wrappers import FilterMatcher
        from whoosh.reading import TermNotFound

        ids: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for leaf, offset in searcher.reader().leaf_readers():
            try:
                m = leaf.postings(fieldname, text)
            except TermNotFound:
                continue
            while isinstance(m, FilterMatcher):  # deleted documents: left to the docmap
                m = m.child
            blocks = all(hasattr(m, a) for a in ("_read_ids", "_read_weights", "_next_block"))
            while m.is_active():
                if blocks:  # whoosh3's leaf matcher: one block (up to 128 postings) at a time
                    m._read_ids()
                    m._read_weights()
                    ids.append(np.asarray(m._ids, dtype=np.int64) + offset)
                    weights.append(np.asarray(m._weights, dtype=np.float64))
                    m._next_block()
                else:
                    ids.append(np.array([m.id() + offset], dtype=np.int64))
                    weights.append(np.array([m.weight()], dtype=np.float64))
                    m.next()
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        return np.concatenate(ids), np.concatenate(weights)

    def searcher(self):
        # Searcher.refresh() of an empty index (EmptyReader, generation None) raises TypeError on
        # the second query: such a searcher is just opened again (cheap).
        if self._searcher is None or self._searcher.reader().generation() is None:
            self._searcher = self.ix.searcher()
        else:
            self._searcher = self._searcher.refresh()
        return self._searcher

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None

    def parser(self) -> qparser.QueryParser:
        parser = qparser.QueryParser("words", self.ix.schema, group=qparser.AndGroup)
        parser.remove_plugin_class(qparser.WildcardPlugin)
        parser.remove_plugin_class(qparser.PlusMinusPlugin)
        parser.remove_plugin_class(qparser.BoostPlugin)
        return parser

    def indexed_ids(self) -> set[str]:
        with self.ix.searcher() as s:
            return {f["id"] for f in s.all_stored_fields()}
