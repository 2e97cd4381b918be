"""Stock text (套话) matched as whole phrases: the shipped slogan list, the genre's structure (mandated
headings and the meeting themes of recent years), the user's own phrases, and traces left by
范文/文库 web sites.

Phrases are matched on the normalized text (``normalize``: no punctuation, spaces or width, traditional
folded to simplified) with one Aho-Corasick automaton (``pyahocorasick``), so a phrase is marked from
its first character to its last and never in pieces; overlapping occurrences are merged. Matching is
linear in the text whatever the number of phrases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ahocorasick
import numpy as np

from indexer.detect.normalize import Normalized, normalize

HERE = Path(__file__).resolve().parent
STOCK_FILE = HERE / "stock_phrases.txt"
STRUCTURE_FILE = HERE / "structure_phrases.txt"
WEB_TRACES_FILE = HERE / "web_traces.txt"

KINDS = {"stock": "套话", "structure": "规定结构", "user": "自定义套话", "web": "范文网站痕迹"}


def _read_list(path: Path) -> tuple[str, ...]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#"))


@lru_cache(maxsize=1)
def shipped_phrases() -> tuple[str, ...]:
    """The shipped starter list of official slogans, one per line, '#' comments skipped."""
    return _read_list(STOCK_FILE)


@lru_cache(maxsize=1)
def structure_phrases() -> tuple[str, ...]:
    """The genre's structure: mandated section headings and the meeting themes of recent years."""
    return _read_list(STRUCTURE_FILE)


@lru_cache(maxsize=1)
def web_trace_phrases() -> tuple[str, ...]:
    """Traces of 范文/文库 web sites: download notices, '阅读全文', site names, footers."""
    return _read_list(WEB_TRACES_FILE)


def stock_hashes(phrases: Iterable[str], *, k: int) -> np.ndarray:
    """Sorted unique hashes of every k-gram of the normalized phrases (shorter phrases add none)."""
    from indexer.detect.fingerprint import kgram_hashes

    parts = [kgram_hashes(normalize(p).text, k) for p in phrases]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


@dataclass(frozen=True)
class Hit:
    """One occurrence of a phrase: normalized span [start, end), the phrase and its kind."""

    start: int
    end: int
    phrase: str
    kind: str


# Abbreviations materials write for a name they must not misspell (拼音 initials typed while drafting,
# left in the text), each the length of what it stands for, so offsets stay valid: "学习xjp新时代……思想"
# quotes the slogan as surely as "学习习近平新时代……思想". Keys are as ``normalize`` leaves them.
ALIASES = {"xjp": "习近平"}


def expand_aliases(norm_text: str) -> str:
    """A normalized text with every ``ALIASES`` key replaced by what it stands for (same length)."""
    for short, full in ALIASES.items():
        if short in norm_text:
            norm_text = norm_text.replace(short, full)
    return norm_text


class PhraseMatcher:
    """An Aho-Corasick automaton over normalized phrases, each remembered with its kind."""

    MIN_CHARS = 4  # a shorter normalized phrase would mark ordinary words

    def __init__(self, phrases: Iterable[tuple[str, str]]):
        self.automaton = ahocorasick.Automaton()
        self.phrases: dict[str, tuple[str, str]] = {}  # normalized -> (phrase as written, kind)
        for phrase, kind in phrases:
            key = expand_aliases(normalize(phrase).text)
            if len(key) >= self.MIN_CHARS and key not in self.phrases:
                self.phrases[key] = (phrase, kind)
                self.automaton.add_word(key, key)
        if self.phrases:
            self.automaton.make_automaton()

    def hits(self, norm_text: str) -> list[Hit]:
        """Every occurrence of every phrase in a normalized text, by start (``ALIASES`` read as what
        they stand for)."""
        if not self.phrases or not norm_text:
            return []
        norm_text = expand_aliases(norm_text)
        out = []
        for end, key in self.automaton.iter(norm_text):
            phrase, kind = self.phrases[key]
            out.append(Hit(end + 1 - len(key), end + 1, phrase, kind))
        out.sort(key=lambda h: (h.start, -h.end))
        return out

    def spans(self, norm_text: str, *, kinds: Iterable[str] | None = None) -> list[tuple[int, int]]:
        """The merged normalized spans the phrases cover (optionally of some kinds only)."""
        wanted = set(kinds) if kinds is not None else None
        return merge_spans((h.start, h.end) for h in self.hits(norm_text)
                           if wanted is None or h.kind in wanted)

    def mask(self, norm_text: str) -> np.ndarray:
        """Which normalized characters lie in a phrase occurrence."""
        mask = np.zeros(len(norm_text), dtype=bool)
        for s, e in self.spans(norm_text):
            mask[s:e] = True
        return mask


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlapping and touching ones merged."""
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def phrase_list(user: Iterable[str] = (), *, shipped: bool = True) -> tuple[tuple[str, str], ...]:
    """The phrases in force with their kinds: shipped slogans, structure and web traces (unless
    ``shipped`` is off), then the user's own."""
    out: list[tuple[str, str]] = []
    if shipped:
        out += [(p, "stock") for p in shipped_phrases()]
        out += [(p, "structure") for p in structure_phrases()]
        out += [(p, "web") for p in web_trace_phrases()]
    out += [(p, "user") for p in user]
    return tuple(out)


@lru_cache(maxsize=8)
def matcher(user: tuple[str, ...] = (), shipped: bool = True) -> PhraseMatcher:
    """The (cached) matcher of the phrases in force."""
    return PhraseMatcher(phrase_list(user, shipped=shipped))


def stock_mask(norm: Normalized | str, user: tuple[str, ...] = (), *, shipped: bool = True) -> np.ndarray:
    """Which normalized characters are stock text (whole phrase occurrences)."""
    text = norm.text if isinstance(norm, Normalized) else norm
    return matcher(tuple(user), shipped).mask(text)


def web_traces(norm: Normalized, user: tuple[str, ...] = (), *, shipped: bool = True,
               hits: list[Hit] | None = None) -> list[dict]:
    """The 范文/文库 site traces found in a text, each once with its first occurrence (original span).
    ``hits``: the matcher's hits in ``norm`` when the caller has them already (one scan, not two)."""
    seen: dict[str, dict] = {}
    for h in matcher(tuple(user), shipped).hits(norm.text) if hits is None else hits:
        if h.kind == "web" and h.phrase not in seen:
            s, e = norm.to_original(h.start, h.end)
            seen[h.phrase] = {"phrase": h.phrase, "span": [s, e], "text": norm.original[s:e]}
    return list(seen.values())
