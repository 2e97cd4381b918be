"""What a pair of materials is: copying, 少量雷同 (a weaker overlap), or reuse of one's own earlier
material (与本人往年材料重复); which one is earlier and so the likely source; and which passages only
swap place, unit or person names (换名照搬).

The pair's figures are defined once here and used by the report, the compare page and the overview:
on each side, the normalized characters (字数: 汉字, letters and digits) the pair's passages cover,
stock text (whole stock phrases, headings, themes) left out, over that side's 字数 less its stock text.
So a material compared with itself is 100 %, and a pair sharing only stock text shares nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from indexer.detect.normalize import Normalized
from indexer.detect.options import DEFAULTS, DetectOptions

COPYING, MINOR, OWN = "copying", "minor", "own"
TIER_NAMES = {COPYING: "抄袭", MINOR: "少量雷同", OWN: "与本人往年材料重复"}
NAME_SWAP = "换名照搬"


def covered(spans: Sequence[tuple[int, int]], norm: Normalized, counted: np.ndarray) -> int:
    """Counted normalized characters of ``norm`` inside the original ``spans``."""
    if not len(norm):
        return 0
    cover = np.zeros(len(norm.original) + 1, dtype=bool)
    for s, e in spans:
        cover[s:e] = True
    return int((cover[norm.offsets] & counted).sum())


def side_figures(spans: Sequence[tuple[int, int]], norm: Normalized, stock: np.ndarray) -> tuple[int, float]:
    """(characters, ratio) one side of a pair shares: stock text left out of both."""
    counted = ~stock
    base = int(counted.sum())
    chars = covered(spans, norm, counted)
    return chars, round(chars / base, 4) if base else 0.0


def pair_figures(passages, na: Normalized, nb: Normalized, stock_a: np.ndarray, stock_b: np.ndarray) -> dict:
    """The figures of a pair from its passages (objects with a_start/a_end/b_start/b_end, or dicts
    with "a"/"b" spans): characters and ratio on each side, the similarity (the larger ratio, i.e.
    the share of the smaller material) and the shared characters (the smaller side's count)."""
    sa = [tuple(p["a"]) if isinstance(p, dict) else (p.a_start, p.a_end) for p in passages]
    sb = [tuple(p["b"]) if isinstance(p, dict) else (p.b_start, p.b_end) for p in passages]
    ca, ra = side_figures(sa, na, stock_a)
    cb, rb = side_figures(sb, nb, stock_b)
    return {"chars_a": ca, "chars_b": cb, "ratio_a": ra, "ratio_b": rb,
            "similarity": max(ra, rb), "shared_chars": min(ca, cb)}


def tier(figures: dict, opts: DetectOptions = DEFAULTS, *, own: bool = False) -> str:
    """Copying when the pair shares at least ``min_copy_chars`` substantive characters and
    ``min_copy_share`` of the smaller material; else 少量雷同. Reuse of one's own material is its own tier."""
    strong = figures["shared_chars"] >= opts.min_copy_chars and figures["similarity"] >= opts.min_copy_share
    if not strong:
        return MINOR
    return OWN if own else COPYING


def same_owner(a: dict, b: dict) -> bool:
    """Materials of the same author, or of the same unit and role when an author is missing."""
    if a.get("author") and b.get("author"):
        return a["author"] == b["author"]
    return bool(a.get("unit")) and a.get("unit") == b.get("unit") and a.get("role") == b.get("role") \
        and bool(a.get("role"))


def _year(doc: dict) -> int | None:
    m = re.search(r"(19|20)\d{2}", str(doc.get("year") or ""))
    return int(m.group(0)) if m else None


def earlier(a: dict, b: dict) -> dict:
    """Which of two materials is earlier, so the likely source: by year, then by date added.
    {"source": "a"|"b"|None, "basis": "year"|"added"|None}."""
    ya, yb = _year(a), _year(b)
    if ya is not None and yb is not None and ya != yb:
        return {"source": "a" if ya < yb else "b", "basis": "year"}
    ta, tb = a.get("added"), b.get("added")
    if ta is not None and tb is not None and ta != tb:
        return {"source": "a" if ta < tb else "b", "basis": "added"}
    return {"source": None, "basis": None}


_SUFFIX_NEXT = set("省市县州盟旗镇乡村局委厅")  # right after a swapped name: 县委, 州委, 市局
_TITLES = ("同志", "书记", "副书记", "局长", "主任", "县长", "市长", "区长", "镇长", "乡长", "部长", "主席",
           "委员", "处长", "科长", "厅长", "省长", "村长")
_SURNAMES = set("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
                "于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江"
                "尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
_NAME_END = ("", "，", "、", "。", "等")
_PLACEHOLDER = set("Xx×某*＊")


def _looks_like_name(text: str, start: int, end: int) -> bool:
    """Does ``text[start:end]`` lie in a place, unit or person name? A place or unit is followed by an
    administrative suffix (县委, 州委, 市局) or ends in one; a person is followed by a title (同志,
    书记, 局长…) or is a whole 2–3 character name starting with a common surname; a placeholder (X,
    某) stands for either. Rules only, no dictionary: the same answer in every process, in microseconds."""
    piece = text[start:end]
    if piece and all(ch in _PLACEHOLDER for ch in piece):
        return True
    if text[end:end + 1] in _SUFFIX_NEXT or (0 < end - start <= 3 and text[end - 1] in _SUFFIX_NEXT):
        return True
    if text[end:].startswith(_TITLES):
        return True
    whole = 2 <= end - start <= 3 and text[start] in _SURNAMES
    return whole and (start == 0 or not text[start - 1].isalnum()) and text[end:end + 1] in _NAME_END


def name_swap(passage: dict, *, max_edit: int = 8, max_edits: int = 12, min_similarity: float = 0.8) -> bool:
    """换名照搬: a passage whose only edits replace short stretches that are place, unit or person names.

    ``passage`` has "text_a"/"text_b" and "edits" relative to them (tag, a0, a1, b0, b1)."""
    edits = [e for e in passage.get("edits", []) if e[0] != "equal"]
    if not edits or len(edits) > max_edits or passage.get("similarity", 0) < min_similarity:
        return False
    ta, tb = passage.get("text_a", ""), passage.get("text_b", "")
    for tag, a0, a1, b0, b1 in edits:
        if tag != "replace" or a1 - a0 > max_edit or b1 - b0 > max_edit:
            return False
        if not (_looks_like_name(ta, a0, a1) or _looks_like_name(tb, b0, b1)):
            return False
    return True
