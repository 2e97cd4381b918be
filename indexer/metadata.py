"""Document metadata: titles and years inferred from the text, and ``metadata.csv`` files.

``metadata.csv`` sits beside the materials it describes (UTF-8, with or without BOM, or GB18030 as
Excel writes it). Its ``file`` column names a file relative to the CSV's folder (or just its name);
the other recognised columns are ``title``, ``unit``, ``author``, ``role``, ``year``, ``meeting``
(Chinese headers 文件, 标题, 单位, 作者/姓名, 职务/角色, 年度/年份, 会议 work too).
"""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

from .store import META_FIELDS

CSV_NAME = "metadata.csv"
HEADER_ALIASES = {
    "file": "file", "文件": "file", "文件名": "file", "source": "file", "filename": "file",
    "title": "title", "标题": "title",
    "unit": "unit", "单位": "unit",
    "author": "author", "作者": "author", "姓名": "author",
    "role": "role", "职务": "role", "角色": "role",
    "year": "year", "年度": "year", "年份": "year",
    "meeting": "meeting", "会议": "meeting",
}

_HEADING_MARKUP = re.compile(r"^[#\s*＃]+|[*\s]+$")
_SENTENCE_END = "。；;！!？?，,：:"
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年")


def infer_title(text: str, fallback: str) -> str:
    """The first non-empty line if it looks like a heading (short, no sentence end), else ``fallback``."""
    for line in text.split("\n"):
        line = _HEADING_MARKUP.sub("", line.replace("\u00a0", " ")).strip()
        if not line:
            continue
        if 4 <= len(line) <= 60 and line[-1] not in _SENTENCE_END:
            return line
        break
    return fallback


def infer_year(text: str, title: str = "") -> str | None:
    """A year named in the title, else the most frequent plausible year in the text."""
    this_year = time.gmtime().tm_year
    for source in (title, text):
        years = [int(y) for y in _YEAR.findall(source) if 1990 <= int(y) <= this_year]
        if years:
            return str(max(set(years), key=lambda y: (years.count(y), y)))
    return None


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ValueError("metadata.csv is neither UTF-8 nor GB18030")


def read_metadata_csv(path: Path) -> dict[str, dict[str, str]]:
    """Rows of a metadata CSV keyed by the file path it names (as written, '/'-separated)."""
    reader = csv.DictReader(io.StringIO(_decode(Path(path).read_bytes())))
    if not reader.fieldnames:
        return {}
    names = {h: HEADER_ALIASES.get(h.strip().lower(), HEADER_ALIASES.get(h.strip()))
             for h in reader.fieldnames}
    if "file" not in names.values():
        raise ValueError(f"{path}: needs a 'file' column (文件)")
    out: dict[str, dict[str, str]] = {}
    for row in reader:
        rec = {names[k]: (v or "").strip() for k, v in row.items() if k in names and names[k]}
        key = rec.pop("file", "").replace("\\", "/").strip("/")
        if key:
            out[key] = {k: v for k, v in rec.items() if v and (k in META_FIELDS or k == "title")}
    return out
