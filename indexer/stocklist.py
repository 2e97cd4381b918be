"""The 套话 library: the stock phrases in force (shipped slogans, structure, web-site traces and the
user's own ``stock_phrases.txt`` in the index folder), which materials carry each one, and adding or
removing the user's own phrases.

A change rewrites ``stock_phrases.txt`` atomically; ``Library.detect_options`` reads it again by its
modification time and every cached compare and report is keyed by those options, so reports and the
overview follow at once.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .detect import normalize
from .detect.stock import KINDS, PhraseMatcher, matcher, phrase_list
from .errors import BadQuery
from .segments import write_text_atomic

if TYPE_CHECKING:
    from .library import Library

FILE = "stock_phrases.txt"
MAX_PHRASE = 200
MAX_PHRASES = 2000
SCAN_LIMIT = 2000  # larger libraries take the counts from the corpus compare (a background job)
_usage_cache: dict[tuple[str, str], dict[str, set[str]]] = {}


def user_phrases(lib: Library) -> list[str]:
    """The user's own phrases, in file order."""
    return list(lib.detect_options.stock_phrases)


def _write(lib: Library, phrases: list[str]) -> None:
    head = "# 本库自定义套话：每行一条，以 # 开头的行为注释。由套话库页面维护。\n"
    write_text_atomic(lib.path / FILE, head + "".join(p + "\n" for p in phrases))


@contextmanager
def _locked(lib: Library) -> Iterator[None]:
    """One change of the phrase file at a time (two admins adding at once lose nothing)."""
    with open(lib.path / "stock_phrases.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def add_phrase(lib: Library, phrase: str) -> str:
    """Add one phrase (stripped, one line); BadQuery when it is empty, too short, too long or there."""
    phrase = " ".join((phrase or "").split())
    if not phrase or len(phrase) > MAX_PHRASE:
        raise BadQuery(f"套话须为 1–{MAX_PHRASE} 字的一行文字")
    if len(normalize(phrase).text) < PhraseMatcher.MIN_CHARS:
        raise BadQuery(f"套话至少要有 {PhraseMatcher.MIN_CHARS} 个汉字、字母或数字")
    with _locked(lib):
        phrases = user_phrases(lib)
        if phrase in phrases:
            raise BadQuery("这条套话已在库中")
        if len(phrases) >= MAX_PHRASES:
            raise BadQuery(f"自定义套话最多 {MAX_PHRASES} 条")
        _write(lib, phrases + [phrase])
    return phrase


def remove_phrase(lib: Library, phrase: str) -> str:
    """Remove one of the user's own phrases (shipped ones cannot be removed here)."""
    with _locked(lib):
        phrases = user_phrases(lib)
        if phrase not in phrases:
            raise BadQuery("只能删除本库自定义的套话")
        _write(lib, [p for p in phrases if p != phrase])
    return phrase


def usage(lib: Library, compare: dict | None = None, *, scan_limit: int = SCAN_LIMIT) -> list[dict] | None:
    """Every phrase in force with its kind and the materials carrying it (ids), most carried first.

    Taken from the corpus compare (``compare["stock_usage"]``) when there is one for the current state;
    else a library of at most ``scan_limit`` materials is scanned here (once per state); else None
    (the caller shows that the compare is still running)."""
    opts = lib.detect_options
    listed = phrase_list(opts.stock_phrases, shipped=opts.use_stock_phrases)
    if compare is not None and "stock_usage" in compare:
        carriers = {p: set(ids) for p, ids in compare["stock_usage"].items()}
    elif len(lib) <= scan_limit:
        carriers = _scan(lib)
    else:
        return None
    seen: set[str] = set()
    out = []
    for p, k in listed:  # a phrase in two lists is listed once, under its first
        if p not in seen:
            seen.add(p)
            out.append({"phrase": p, "kind": k, "kind_name": KINDS[k], "user": k == "user",
                        "documents": sorted(carriers.get(p, ()))})
    out.sort(key=lambda x: (-len(x["documents"]), x["kind"], x["phrase"]))
    return out


def _scan(lib: Library) -> dict[str, set[str]]:
    """The materials carrying each phrase in force, found as the compare finds them (the cached
    matcher of ``detect.stock``), once per library state."""
    key = (str(lib.path), lib.cache_key())
    if key not in _usage_cache:
        opts = lib.detect_options
        found = matcher(tuple(opts.stock_phrases), opts.use_stock_phrases)
        carriers: dict[str, set[str]] = {}
        live = lib.live
        nums = sorted(live)
        for start in range(0, len(nums), 500):
            for num, text in lib.texts(nums[start:start + 500]).items():
                for hit in found.hits(normalize(text).text):
                    carriers.setdefault(hit.phrase, set()).add(live[num].id)
        _usage_cache.clear()
        _usage_cache[key] = carriers
    return _usage_cache[key]
