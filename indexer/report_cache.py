"""Copy reports of library materials, computed once per library state.

A material's report depends on every other material and on the detection options, so it is keyed
like the corpus compare (``Library.cache_key``: the store's generation and a digest of the options).
Reports live in ``cache/reports.sqlite`` in the index folder, shared by every process (gunicorn
workers, jobs, the CLI), compressed. A report is computed at most once per key and process race;
storing a report of a new key drops the reports of older keys, so the cache never outgrows one
report per live material and one comparison per pair of materials viewed in the current state.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Callable
from pathlib import Path

FOLDER = "cache"
SCHEMA = "CREATE TABLE IF NOT EXISTS reports (doc_id TEXT PRIMARY KEY, key TEXT NOT NULL, body BLOB NOT NULL)"


class ReportCache:
    """The report table of one index folder."""

    def __init__(self, index: Path | str):
        folder = Path(index) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(folder / "reports.sqlite", timeout=30, isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def get(self, doc_id: str, key: str) -> dict | None:
        row = self.db.execute("SELECT body FROM reports WHERE doc_id=? AND key=?", (doc_id, key)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(zlib.decompress(row[0]))
        except (zlib.error, ValueError):
            return None

    def put(self, doc_id: str, key: str, report: dict) -> None:
        body = zlib.compress(json.dumps(report, ensure_ascii=False).encode("utf-8"), 1)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM reports WHERE key != ?", (key,))
            self.db.execute("INSERT OR REPLACE INTO reports (doc_id, key, body) VALUES (?, ?, ?)",
                            (doc_id, key, body))

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM reports").fetchone()[0]


def report(lib, doc_id: str, compute: Callable[[object, str], dict]) -> dict:
    """``compute(lib, doc_id)`` for the library's current state, from the cache when it has it."""
    doc_id = lib.resolve(doc_id).id
    return cached(lib, doc_id, lambda: compute(lib, doc_id))


def pair(lib, a_id: str, b_id: str, compute: Callable[[object, str, str], dict]) -> dict:
    """``compute(lib, a, b)`` (two materials compared) for the current state, cached like reports."""
    a, b = lib.resolve(a_id).id, lib.resolve(b_id).id
    return cached(lib, f"pair:{a}:{b}", lambda: compute(lib, a, b))


def cached(lib, item: str, compute: Callable[[], dict]) -> dict:
    """``compute()`` once per library state (``Library.cache_key``) and ``item``, shared by processes."""
    key = lib.cache_key()
    cache = getattr(lib, "_report_cache", None)
    if cache is None:
        cache = lib._report_cache = ReportCache(lib.path)
    found = cache.get(item, key)
    if found is not None:
        return found
    result = compute()
    if lib.cache_key() == key:  # the library did not change meanwhile
        try:
            cache.put(item, key, result)
        except (sqlite3.Error, TypeError, ValueError):
            pass  # a cache that cannot be written only costs the next view a recompute
    return result
