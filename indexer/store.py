"""The document store: one SQLite database holding every accepted document and its metadata.

SQLite is the source of truth. A document is visible once its row is committed; the phrase segments
and the Whoosh word index are derived from these rows and may briefly hold more (never less) after a
crash, which the next writer reconciles.

Identity: a material's ``id`` is random and never reused; ``source`` says where it came from (an
absolute path for ``indexer add``, ``upload:<uuid>/<name>`` for an upload) and ``name`` is the file
name shown to people. A new version of a material keeps its id and gets a new docnum; the replaced
row moves to ``versions`` (kept, not searchable). ``words_todo`` lists materials whose word-index
entry must be rewritten (metadata edits): written in the same transaction as the edit, cleared once
Whoosh has it, so a crash in between is repaired by the next writer.

Indexes written before identity existed (content-derived ids, sources relative to the folder added)
are migrated when opened: columns are added, every row's digest is computed and its source is
marked ``legacy:<old source>``; the next ``indexer add`` that meets the same relative path with the
same content claims the row for its absolute source (see ``indexer.writer``).

``chars`` (字数) is the number of normalized characters (``detect.char_count``: 汉字, letters and
digits), the figure the report uses. Indexes that stored ``len(text)`` are recounted once when
opened, a few hundred rows per transaction (a crash part way just recounts again), and the
``state`` key ``chars`` then says ``normalized``.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

META_FIELDS = ("unit", "author", "role", "year", "meeting")
EDITABLE = ("title", *META_FIELDS)
LEGACY = "legacy:"
CHARS_KEY, CHARS_NORMALIZED = "chars", "normalized"  # state: 字数 stored as normalized characters

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
# The change log: which rows each generation added, changed or deleted, so that a reader brings its
# catalog up to date by reading those rows only (``Library.refresh``). Triggers write it, whatever
# code writes the rows; ``state`` key ``changes_since`` is the generation it starts after, and
# entries older than ``CHANGES_KEPT`` generations are dropped (a reader that far behind reads all).
_NEXT_GENERATION = "coalesce((SELECT CAST(value AS INTEGER) FROM state WHERE key='generation'), 0) + 1"
_CHANGES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS changes (generation INTEGER NOT NULL, docnum INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS changes_generation ON changes(generation)",
    *(f"CREATE TRIGGER IF NOT EXISTS documents_{name} AFTER {what} ON documents BEGIN"
      f" INSERT INTO changes VALUES ({_NEXT_GENERATION}, {row}.docnum); END"
      for name, what, row in (("inserted", "INSERT", "NEW"), ("updated", "UPDATE", "NEW"),
                              ("deleted", "DELETE", "OLD"))),
)
CHANGES_SINCE = "changes_since"
CHANGES_KEPT = 1000
_IDENTITY_COLUMNS = {"name": "TEXT", "uploader": "TEXT", "digest": "TEXT",
                     "version": "INTEGER NOT NULL DEFAULT 1"}
_IDENTITY_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    id TEXT NOT NULL, version INTEGER NOT NULL, docnum INTEGER NOT NULL,
    source TEXT NOT NULL, name TEXT, title TEXT NOT NULL,
    unit TEXT, author TEXT, role TEXT, year TEXT, meeting TEXT,
    chars INTEGER NOT NULL, added REAL NOT NULL, uploader TEXT, digest TEXT,
    replaced REAL NOT NULL, replaced_by TEXT, text TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE IF NOT EXISTS words_todo (id TEXT PRIMARY KEY);
"""


def digest(text: str) -> str:
    """The digest of a stored text: tells a changed file from an unchanged one at the same source."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_name(source: str | None) -> str:
    """The file name in a source (``/path/to/材料.docx``, ``upload:<uuid>/材料.docx``, ``legacy:…``):
    what people know a material by, where a record has no ``name`` of its own."""
    return (source or "").removeprefix(LEGACY).replace("\\", "/").rsplit("/", 1)[-1]


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
    name: str | None = None
    uploader: str | None = None
    digest: str | None = None
    version: int = 1
    text: str | None = field(default=None, repr=False)

    def to_dict(self, *, with_text: bool = False) -> dict:
        out = asdict(self)
        out.pop("docnum")
        out.pop("digest")
        out["name"] = self.display_name
        if not with_text:
            out.pop("text")
        return out

    @property
    def display_name(self) -> str:
        """The file name people know the material by."""
        return self.name or file_name(self.source)

    @property
    def metadata(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in META_FIELDS if getattr(self, k)}


_COLUMNS = ("docnum, id, source, title, unit, author, role, year, meeting, chars, added,"
            " name, uploader, digest, version")
_INSERT = ("INSERT INTO documents (docnum, id, source, title, unit, author, role, year, meeting, chars,"
           " added, name, uploader, digest, version, text) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


def _row_to_doc(row: sqlite3.Row, with_text: bool = False) -> Document:
    return Document(
        id=row["id"], docnum=row["docnum"], source=row["source"], title=row["title"],
        chars=row["chars"], added=row["added"], unit=row["unit"], author=row["author"],
        role=row["role"], year=row["year"], meeting=row["meeting"], name=row["name"],
        uploader=row["uploader"], digest=row["digest"], version=row["version"],
        text=row["text"] if with_text else None,
    )


@dataclass
class Version:
    """An earlier version of a material, kept when a new one replaced it (not searchable)."""

    id: str
    version: int
    name: str | None
    source: str
    title: str
    chars: int
    added: float
    uploader: str | None
    replaced: float
    replaced_by: str | None
    text: str | None = field(default=None, repr=False)

    def to_dict(self, *, with_text: bool = False) -> dict:
        out = asdict(self)
        if not with_text:
            out.pop("text")
        return out


class Store:
    """Thin access layer over the SQLite database of documents."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._migrate()
        self._recount_chars()
        self._log_changes()

    def _migrate(self) -> None:
        """Bring an index written before identity existed up to date (see the module docstring);
        idempotent, and safe when several processes open the same old index at once."""
        if self._has_identity():
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if not self._has_identity():
                have = {r[1] for r in db.execute("PRAGMA table_info(documents)")}
                for column, kind in _IDENTITY_COLUMNS.items():
                    if column not in have:
                        db.execute(f"ALTER TABLE documents ADD COLUMN {column} {kind}")
                last = -1
                while rows := db.execute(  # a few hundred texts in memory at a time
                        "SELECT docnum, source, text FROM documents WHERE docnum > ?"
                        " ORDER BY docnum LIMIT 200", (last,)).fetchall():
                    for num, source, text in rows:
                        name = file_name(source)
                        db.execute("UPDATE documents SET digest=?, name=?, source=? WHERE docnum=?",
                                   (digest(text), name, LEGACY + source, num))
                    last = rows[-1][0]
                for statement in _IDENTITY_SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _recount_chars(self) -> None:
        """Store 字数 as normalized characters in rows written when it was ``len(text)``: once,
        200 texts in memory and one transaction at a time; idempotent, so a crash or a second
        process opening the same index at once only repeats work."""
        if self.db.execute("SELECT 1 FROM state WHERE key=?", (CHARS_KEY,)).fetchone():
            return
        from .detect.normalize import char_count  # numpy: only for the one-off recount

        for table, key in (("documents", "docnum"), ("versions", "rowid")):
            last = -1
            while True:
                rows = self.db.execute(f"SELECT {key}, text, chars FROM {table} WHERE {key} > ?"
                                       f" ORDER BY {key} LIMIT 200", (last,)).fetchall()
                if not rows:
                    break
                changed = [(n, key_) for key_, text, old in rows if (n := char_count(text)) != old]
                if changed:
                    with self._transaction():
                        self.db.executemany(f"UPDATE {table} SET chars=? WHERE {key}=?", changed)
                last = rows[-1][0]
        with self._transaction():
            self.db.execute("INSERT OR IGNORE INTO state(key, value) VALUES(?, ?)",
                            (CHARS_KEY, CHARS_NORMALIZED))

    def _log_changes(self) -> None:
        """Start the change log (see ``_CHANGES_SCHEMA``) in an index that has none; idempotent."""
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE name='documents_deleted'").fetchone():
            return
        with self._transaction():
            for statement in _CHANGES_SCHEMA:
                self.db.execute(statement)
            self.db.execute("INSERT OR IGNORE INTO state(key, value) SELECT ?, coalesce("
                            "(SELECT value FROM state WHERE key='generation'), '0')", (CHANGES_SINCE,))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE``), rolled back on any error, its commit's included."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _has_identity(self) -> bool:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return "words_todo" in tables
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

    def docnums(self) -> list[int]:
        """The live docnums, ascending (read from an index: the rows and their texts stay on disk)."""
        return [r[0] for r in self.db.execute("SELECT docnum FROM documents ORDER BY docnum")]

    def documents(self, docnums: Iterable[int]) -> list[Document]:
        """The documents (metadata only) of these docnums that exist, by docnum."""
        nums = sorted(set(docnums))
        out: list[Document] = []
        for i in range(0, len(nums), 500):
            chunk = nums[i:i + 500]
            marks = ",".join("?" * len(chunk))
            out += [_row_to_doc(r) for r in self.db.execute(
                f"SELECT {_COLUMNS} FROM documents WHERE docnum IN ({marks}) ORDER BY docnum", chunk)]
        return sorted(out, key=lambda d: d.docnum)

    def changed_since(self, generation: int) -> set[int] | None:
        """The docnums added, changed or deleted after ``generation``; None when the change log does
        not reach back that far (the caller reads everything)."""
        row = self.db.execute("SELECT value FROM state WHERE key=?", (CHANGES_SINCE,)).fetchone()
        if row is None or generation < int(row[0]):
            return None
        rows = self.db.execute("SELECT docnum FROM changes WHERE generation > ?", (generation,))
        return {r[0] for r in rows}

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

    def by_digest(self, value: str) -> list[Document]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM documents WHERE digest=?", (value,)).fetchall()
        return [_row_to_doc(r) for r in rows]

    def versions(self, doc_id: str) -> list[Version]:
        """The earlier versions of a material, newest first (texts not loaded)."""
        rows = self.db.execute(
            "SELECT id, version, name, source, title, chars, added, uploader, replaced, replaced_by"
            " FROM versions WHERE id=? ORDER BY version DESC", (doc_id,)).fetchall()
        return [Version(**dict(r)) for r in rows]

    def version(self, doc_id: str, version: int) -> Version | None:
        row = self.db.execute(
            "SELECT id, version, name, source, title, chars, added, uploader, replaced, replaced_by, text"
            " FROM versions WHERE id=? AND version=?", (doc_id, version)).fetchone()
        return Version(**dict(row)) if row else None

    def version_digests(self, doc_id: str) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT digest FROM versions WHERE id=?", (doc_id,))}

    def words_todo(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM words_todo")]

    # -- writing (callers hold the library's write lock) ---------------------------------------

    def commit_batch(self, new: list[Document], remove_ids: Iterable[str] = (), *,
                     retire: Iterable[str] = (), by: str | None = None) -> None:
        """In one transaction: keep the current rows of ``retire`` as earlier versions (replaced by
        ``by``), delete ``remove_ids`` and those rows, insert ``new``. All of it becomes visible, or none."""
        db = self.db
        now = time.time()
        with self._transaction():
            for doc_id in retire:
                db.execute(
                    "INSERT INTO versions (id, version, docnum, source, name, title, unit, author, role,"
                    " year, meeting, chars, added, uploader, digest, replaced, replaced_by, text)"
                    " SELECT id, version, docnum, source, name, title, unit, author, role, year,"
                    " meeting, chars, added, uploader, digest, ?, ?, text FROM documents WHERE id=?",
                    (now, by, doc_id))
                db.execute("DELETE FROM documents WHERE id=?", (doc_id,))
            for doc_id in remove_ids:
                db.execute("DELETE FROM documents WHERE id=?", (doc_id,))
            db.executemany(_INSERT, [
                (d.docnum, d.id, d.source, d.title, d.unit, d.author, d.role, d.year, d.meeting, d.chars,
                 d.added or now, d.name, d.uploader, d.digest or digest(d.text or ""), d.version, d.text)
                for d in new])
            self._bump()

    def update_fields(self, doc_id: str, values: dict[str, str | None]) -> None:
        """Change a material's metadata (``EDITABLE`` fields) or ``source``; its word-index entry is
        queued for rewriting in the same transaction."""
        allowed = {*EDITABLE, "source"}
        if not values or not set(values) <= allowed:
            raise ValueError(f"not editable: {sorted(set(values) - allowed)}")
        db = self.db
        with self._transaction():
            sets = ", ".join(f"{k}=?" for k in values)
            db.execute(f"UPDATE documents SET {sets} WHERE id=?", (*values.values(), doc_id))
            if set(values) & set(EDITABLE):
                db.execute("INSERT OR IGNORE INTO words_todo(id) VALUES (?)", (doc_id,))
            self._bump()

    def clear_words_todo(self, ids: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM words_todo WHERE id=?", [(i,) for i in ids])

    def _bump(self) -> None:
        self.db.execute(
            "INSERT INTO state(key, value) VALUES('generation', '1') ON CONFLICT(key) DO UPDATE"
            " SET value = CAST(value AS INTEGER) + 1"
        )
        oldest = self.generation() - CHANGES_KEPT
        if oldest > 0 and oldest % 100 == 0:  # drop the oldest changes now and then
            self.db.execute("DELETE FROM changes WHERE generation <= ?", (oldest,))
            self.db.execute("UPDATE state SET value=? WHERE key=? AND CAST(value AS INTEGER) < ?",
                            (str(oldest), CHANGES_SINCE, oldest))
