"""The words of a text as the word index stores them: jieba (no HMM) over NFKC, lower-cased text.

Kept apart from the Whoosh index (``indexer.words``) so that what only needs the rules (the index
format record, the ingest workers) never imports Whoosh.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_SKIP = re.compile(r"^[\W_]+$")
WORDS_VERSION = 1  # bump when ``words`` changes: the word index stores its output (``indexer.format``)
_CJK_BREAK = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
_jieba_ready = False


def _ensure_jieba():
    """jieba, with its dictionary loaded (imported on first use: reports never need it)."""
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        jieba.setLogLevel(60)
        jieba.initialize()
        _jieba_ready = True
    return jieba


def words(text: str) -> list[str]:
    """The words of ``text`` as indexed: jieba (no HMM) over NFKC, lower-cased text, with line
    breaks inside Chinese runs removed (PDF extraction breaks words)."""
    jieba = _ensure_jieba()
    text = unicodedata.normalize("NFKC", _CJK_BREAK.sub("", text)).lower()
    return [w for w in jieba.cut(text, HMM=False) if not _SKIP.match(w)]


def word_counts(text: str) -> dict[str, int]:
    return dict(Counter(words(text)))
