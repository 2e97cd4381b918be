"""What a submitted file is to the library: the identity rules' records and checks.

A file is the same material only when it comes back at the same source (``indexer.store``); then
unchanged content is a no-op and changed content is a new version, which keeps the material's
metadata (``version_metadata``). Anything else is a new material with a fresh random id
(``new_id``), even with the same name or byte-identical content; uploads (``UPLOAD`` sources) never
match anything before. Metadata is stored as ``check_metadata`` says. ``IndexWriter`` applies these
rules and reports one ``FileResult`` per file.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import InvalidMetadata
from .store import EDITABLE, META_FIELDS, Document

if TYPE_CHECKING:
    from . import ingest

MAX_TITLE = 300
MAX_FIELD = 200
FIELD_NAMES = {"title": "标题", "unit": "单位", "author": "作者", "role": "职务", "year": "年度",
               "meeting": "会议"}
UPLOAD = "upload:"  # sources of uploaded files: never the same material as anything before


@dataclass
class FileResult:
    """What happened to one input file: ``added`` (a new material), ``replaced`` (a new version of
    the material at the same source), ``updated`` (already in; its metadata changed), ``unchanged``
    or ``skipped`` (with the reason)."""

    path: str
    source: str
    status: str
    id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class AddReport:
    results: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> bool:
        return any(r.status == "skipped" for r in self.results)


def new_id() -> str:
    """A fresh material id (random: two submissions of the same text are two materials)."""
    return secrets.token_hex(8)


def check_metadata(values: dict[str, str | None]) -> dict[str, str | None]:
    """Metadata as stored: known fields only, trimmed, bounded, no control characters; an empty
    value clears a field (the title cannot be cleared)."""
    out: dict[str, str | None] = {}
    for key, value in values.items():
        if key not in EDITABLE:
            raise InvalidMetadata(f"不能修改的字段：{key}")
        value = " ".join((value or "").split())
        if any(unicodedata.category(c).startswith("C") for c in value):
            raise InvalidMetadata(f"{FIELD_NAMES[key]}含有控制字符")
        limit = MAX_TITLE if key == "title" else MAX_FIELD
        if len(value) > limit:
            raise InvalidMetadata(f"{FIELD_NAMES[key]}过长：最多 {limit} 个字")
        if key == "title" and not value:
            raise InvalidMetadata("标题不能为空")
        out[key] = value or None
    return out


def version_metadata(old: Document, prep: ingest.Prepared) -> dict[str, str]:
    """A new version keeps the material's metadata; ``metadata.csv`` values win, and the year
    found in the new text fills a year never set."""
    meta = dict(old.metadata)
    meta.update({k: v for k, v in prep.job.meta.items() if k in META_FIELDS})
    for key, value in prep.meta.items():
        meta.setdefault(key, value)
    return meta
