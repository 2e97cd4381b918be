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

from .limits import size_text
from .store import META_FIELDS

CSV_NAME = "metadata.csv"
MAX_CSV_BYTES = 5 * 1024 * 1024
MAX_ROWS = 100_000
MAX_FIELD_CHARS = 2_000  # a title, a unit's name: far less; one cell pasted with a whole material: more
HEADER_ALIASES = {
    "file": "file", "文件": "file", "文件名": "file", "source": "file", "filename": "file",
    "title": "title", "标题": "title",
    "unit": "unit", "单位": "unit",
    "author": "author", "作者": "author", "姓名": "author",
    "role": "role", "职务": "role", "角色": "role",
    "year": "year", "年度": "year", "年份": "year",
    "meeting": "meeting", "会议": "meeting",
}

LABELS = {"file": "文件", "title": "标题", "unit": "单位", "author": "作者", "role": "职务", "year": "年度",
          "meeting": "会议"}
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
    raise ValueError("metadata.csv 的编码既不是 UTF-8 也不是 GB18030，请用 Excel 另存为“CSV UTF-8”")


def read_metadata_csv(path: Path) -> dict[str, dict[str, str]]:
    """Rows of a metadata CSV keyed by the file path it names (as written, '/'-separated).

    Raises ``ValueError`` with a Chinese reason (naming the line) for a file that is too large, a field
    over ``MAX_FIELD_CHARS`` characters, more than ``MAX_ROWS`` rows, or malformed CSV."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise ValueError(f"metadata.csv 过大：{size_text(size)}，上限 {size_text(MAX_CSV_BYTES)}")
    reader = csv.DictReader(io.StringIO(_decode(path.read_bytes())))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise ValueError(_csv_reason(reader.line_num or 1, exc)) from None
    if not fieldnames:
        return {}
    names = {h: HEADER_ALIASES.get(h.strip().lower(), HEADER_ALIASES.get(h.strip())) for h in fieldnames}
    if "file" not in names.values():
        raise ValueError("metadata.csv 缺少“文件”列，列名应为“文件”或 file")
    out: dict[str, dict[str, str]] = {}
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ValueError(_csv_reason(reader.line_num + 1, exc)) from None
        if len(out) >= MAX_ROWS:
            raise ValueError(f"metadata.csv 行数过多：上限 {MAX_ROWS:,} 行")
        rec = {names[k]: (v or "").strip() for k, v in row.items() if k in names and names[k]}
        for key, value in rec.items():
            if len(value) > MAX_FIELD_CHARS:
                raise ValueError(f"metadata.csv 第 {reader.line_num} 行的“{LABELS.get(key, key)}”过长："
                                 f"{len(value):,} 个字符，上限 {MAX_FIELD_CHARS:,} 个")
        key = rec.pop("file", "").replace("\\", "/").strip("/")
        if key:
            out[key] = {k: v for k, v in rec.items() if v and (k in META_FIELDS or k == "title")}
    return out


def _csv_reason(line: int, exc: csv.Error) -> str:
    """Python's csv errors in Chinese; a field over its 128 KiB limit is the one users meet."""
    if "field larger than field limit" in str(exc):
        return f"metadata.csv 第 {line} 行的字段过长：超过 {csv.field_size_limit():,} 个字符"
    return f"metadata.csv 第 {line} 行不是有效的 CSV（例如引号没有配对）"
