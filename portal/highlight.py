"""Marked-up text without ``|safe``: cut the stored text at span boundaries into pieces.

Templates print each piece's text through Jinja's autoescaping and wrap it in a ``<mark>`` or
``<a>`` whose class and link come from the portal, never from the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PALETTE = 8  # source colours src-0 … src-7 in style.css


@dataclass(frozen=True)
class Mark:
    """A span of text to mark: CSS class, optional link and tooltip."""

    start: int
    end: int
    cls: str
    href: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Piece:
    """A run of text with the marks covering it merged (link and tooltip of the first that has one)."""

    text: str
    cls: str = ""
    href: str | None = None
    title: str | None = None
    anchor: str | None = None


def pieces(text: str, marks: Iterable[Mark], anchors: dict[int, str] | None = None) -> list[Piece]:
    """``text`` cut at every mark boundary; each piece carries the classes of the marks over it."""
    n = len(text)
    marks = [m for m in marks if 0 <= m.start < m.end and m.start < n]
    cuts = {0, n}
    for m in marks:
        cuts.update((m.start, min(m.end, n)))
    anchors = anchors or {}
    cuts.update(a for a in anchors if 0 <= a < n)
    bounds = sorted(cuts)
    starts = sorted(range(len(marks)), key=lambda i: marks[i].start)
    active: list[int] = []
    nxt = 0
    out: list[Piece] = []
    for s, e in zip(bounds, bounds[1:]):
        while nxt < len(starts) and marks[starts[nxt]].start <= s:
            active.append(starts[nxt])
            nxt += 1
        active = [i for i in active if marks[i].end > s]
        over = [marks[i] for i in sorted(active)]
        cls = " ".join(dict.fromkeys(m.cls for m in over))
        href = next((m.href for m in over if m.href), None)
        title = next((m.title for m in over if m.title), None)
        out.append(Piece(text[s:e], cls, href, title, anchors.get(s)))
    return out


_HEADING = re.compile(r"^(#{1,6})[ \t]+(?=\S)(.*?)[ \t#]*$", re.M)
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")


def markdown_marks(text: str) -> list[Mark]:
    """Markdown headings (``# …``) and bold (``**…**``) in a material's text, as marks: the marks
    characters get ``md-mark`` (hidden by the style sheet), the text ``md-h1``…``md-h6`` or
    ``md-strong``. The text itself is untouched, so every other span keeps its exact offsets."""
    out: list[Mark] = []
    for m in _HEADING.finditer(text):
        out.append(Mark(m.start(1), m.start(2), "md-mark"))
        if m.end(2) > m.start(2):
            out.append(Mark(m.start(2), m.end(2), f"md-h{len(m.group(1))}"))
        if m.end() > m.end(2):
            out.append(Mark(m.end(2), m.end(), "md-mark"))
    for m in _STRONG.finditer(text):
        if "\n" in m.group(2):
            continue
        out.append(Mark(m.start(1), m.end(1), "md-mark"))
        out.append(Mark(m.start(2), m.end(2), "md-strong"))
        out.append(Mark(m.end(2), m.end(), "md-mark"))
    return out


def spans_marks(spans: Iterable[Sequence[int]], cls: str) -> list[Mark]:
    """Marks of one class for ``[start, end)`` spans."""
    return [Mark(int(s), int(e), cls) for s, e in spans]


def edit_sides(passage: dict) -> tuple[list[Piece], list[Piece]]:
    """The two versions of a passage with the edits between them marked (a: del/chg, b: ins/chg)."""
    text_a, text_b = passage.get("text_a", ""), passage.get("text_b", "")
    left: list[Mark] = []
    right: list[Mark] = []
    for tag, a0, a1, b0, b1 in passage.get("edits") or []:
        if tag == "replace":
            left.append(Mark(a0, a1, "chg"))
            right.append(Mark(b0, b1, "chg"))
        elif tag == "delete":
            left.append(Mark(a0, a1, "del"))
        elif tag == "insert":
            right.append(Mark(b0, b1, "ins"))
    return pieces(text_a, left), pieces(text_b, right)


def source_colours(source_ids: Iterable[str]) -> dict[str, str]:
    """Each source its own colour class, in rank order (cycling after ``PALETTE``)."""
    out: dict[str, str] = {}
    for sid in source_ids:
        if sid not in out:
            out[sid] = f"src-{len(out) % PALETTE}"
    return out
