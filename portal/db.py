"""The portal's own SQLite database (``$DUIZHAO_DATA/app.sqlite``): users, sessions, tokens, audit, login
attempts.

Like flaskr's ``get_db()``: one connection per request, closed on teardown. WAL mode so the audit
writes of several gunicorn workers never block readers; autocommit, with explicit ``BEGIN IMMEDIATE``
where a check and a write must be one step (the first admin, the last admin).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Flask, current_app, g

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'inspector')),
    password TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    last_used REAL,
    revoked REAL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    user TEXT,
    ip TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE INDEX IF NOT EXISTS audit_user ON audit(user, at);
CREATE TABLE IF NOT EXISTS login_failures (
    name TEXT NOT NULL,
    ip TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures(name, ip, at);
CREATE INDEX IF NOT EXISTS login_failures_ip ON login_failures(ip, at);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    ip TEXT
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
"""


def db_path(data: Path | str) -> Path:
    return Path(data) / "app.sqlite"


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode with WAL, foreign keys and a generous busy timeout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout = 30000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    return db


def init_schema(path: Path | str) -> None:
    """Create the tables if missing (idempotent; safe when several workers start at once)."""
    db = connect(path)
    try:
        db.executescript(SCHEMA)
        path = Path(path)
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if p.exists():
                p.chmod(0o600)
    finally:
        db.close()


def get_db() -> sqlite3.Connection:
    """This request's connection to the app database."""
    if "db" not in g:
        g.db = connect(current_app.config["APP_DB"])
    return g.db


def close_db(exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app: Flask) -> None:
    """Create the schema and close each request's connection when it ends."""
    app.config.setdefault("APP_DB", db_path(app.config["DATA"]))
    init_schema(app.config["APP_DB"])
    app.teardown_appcontext(close_db)
