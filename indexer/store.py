"""The document store: one SQLite database holding every accepted document and its metadata.

SQLite is the source of truth. A document is visible once its row is committed; the phrase segments
and the Whoosh word index are derived from these rows and may briefly hold more (never less) after a
crash, which the next writer reconciles.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

META_FIELDS = ("unit", "author", "role", "year", "meeting")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    docnum  INTEGER PRIMARY KEY,
    id      TEXT NOT NULL UNIQUE,
    source  TEXT NOT NULL,
    title   TEXT NOT NULL,
    unit    TEXT, author TEXT, role TEXT, year TEXT, meeting TEXT,
    chars   INTEGER NOT NULL,
    added   REAL NOT NULL,
    text    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Document:
    """A stored document's identity and metadata; ``text`` is filled only when asked for."""

    id: str
    docnum: int
    source: str
    title: str
    chars: int
    added: float
    unit: str | None = None
    author: str | None = None
    role: str | None = None
    year: str | None = None
    meeting: str | None = None
    text: str | None = field(default=None, repr=False)

    def to_dict(self, *, with_text: bool = False) -> dict:
        out = asdict(self)
        out.pop("docnum")
        if not with_text:
            out.pop("text")
        return out

    @property
    def metadata(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in META_FIELDS if getattr(self, k)}


_COLUMNS = "docnum, id, source, title, unit, author, role, year, meeting, chars, added"


def _row_to_doc(row: sqlite3.Row, with_text: bool = False) -> Document:
    return Document(
        id=row["id"], docnum=row["docnum"], source=row["source"], title=row["title"],
        chars=row["chars"], added=row["added"], unit=row["unit"], author=row["author"],
        role=row["role"], year=row["year"], meeting=row["meeting"],
        text=row["text"] if with_text else None,
    )


class Store:
    """Thin access layer over the SQLite database of documents."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- reading -----------------------------------------------------------------------------

    def generation(self) -> int:
        row = self.db.execute("SELECT value FROM state WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM documents").fetchone()[0]

    def all(self) -> list[Document]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM documents ORDER BY docnum").fetchall()
        return [_row_to_doc(r) for r in rows]

    def page(self, limit: int, offset: int) -> list[Document]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM documents ORDER BY docnum LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
        return [_row_to_doc(r) for r in rows]

    def get(self, doc_id: str, *, with_text: bool = True) -> Document | None:
        cols = _COLUMNS + (", text" if with_text else "")
        row = self.db.execute(f"SELECT {cols} FROM documents WHERE id=?", (doc_id,)).fetchone()
        return _row_to_doc(row, with_text) if row else None

    def find_prefix(self, prefix: str) -> list[str]:
        """Ids starting with ``prefix``, so users may type a short unambiguous id."""
        rows = self.db.execute(
            "SELECT id FROM documents WHERE id >= ? AND id < ? LIMIT 2", (prefix, prefix + "\uffff")
        ).fetchall()
        return [r[0] for r in rows]

    def by_source(self, source: str) -> Document | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM documents WHERE source=?", (source,)).fetchone()
        return _row_to_doc(row) if row else None

    def texts(self, docnums: Iterable[int]) -> dict[int, str]:
        nums = list(docnums)
        out: dict[int, str] = {}
        for i in range(0, len(nums), 500):
            chunk = nums[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for num, text in self.db.execute(
                f"SELECT docnum, text FROM documents WHERE docnum IN ({marks})", chunk
            ):
                out[num] = text
        return out

    def iter_texts(self) -> Iterator[tuple[int, str]]:
        yield from self.db.execute("SELECT docnum, text FROM documents ORDER BY docnum")

    def max_docnum(self) -> int:
        return self.db.execute("SELECT coalesce(max(docnum), 0) FROM documents").fetchone()[0]

    # -- writing (callers hold the library's write lock) ---------------------------------------

    def commit_batch(self, new: list[Document], remove_ids: Iterable[str] = ()) -> None:
        """Insert ``new`` and delete ``remove_ids`` in one transaction: all of it becomes visible, or none."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for doc_id in remove_ids:
                db.execute("DELETE FROM documents WHERE id=?", (doc_id,))
            db.executemany(
                "INSERT INTO documents (docnum, id, source, title, unit, author, role, year, meeting,"
                " chars, added, text) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(d.docnum, d.id, d.source, d.title, d.unit, d.author, d.role, d.year, d.meeting,
                  d.chars, d.added or time.time(), d.text) for d in new],
            )
            db.execute(
                "INSERT INTO state(key, value) VALUES('generation', '1') ON CONFLICT(key) DO UPDATE"
                " SET value = CAST(value AS INTEGER) + 1"
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
