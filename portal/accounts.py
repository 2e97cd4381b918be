"""Users, roles, API tokens and login throttling, on the app database (no Flask request needed).

Passwords are hashed with werkzeug's scrypt; tokens are random (``secrets.token_urlsafe``) and only
their SHA-256 is stored. Every function takes a connection, so the CLI, the gunicorn master hook and
the views share them.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import sqlite3
import sys
import time
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from . import policy

ROLES = {"admin": "管理员", "inspector": "检查人员"}
# What each role may do; admin may do everything an inspector may, and more.
PERMISSIONS = {
    "inspector": {"search", "read", "report", "upload"},
    "admin": {"search", "read", "report", "upload", "delete", "users", "audit"},
}
MIN_PASSWORD = policy.MIN_PASSWORD
HASH_METHOD = "scrypt"
TOKEN_PREFIX = "dz_"
THROTTLE_WINDOW = 15 * 60
THROTTLE_PER_USER_IP = 5
THROTTLE_PER_IP = 30


class AccountError(ValueError):
    """A user-facing refusal (bad name, weak password, unknown user, last admin)."""


class WeakAdminPassword(AccountError):
    """``DUIZHAO_ADMIN_PASSWORD`` breaks the password policy: the portal refuses to start."""


@dataclass
class User:
    id: int
    name: str
    role: str
    password: str
    created: float

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, set())

    @property
    def stamp(self) -> str:
        """Changes when the password does: sessions carry it, so a new password logs everyone out."""
        return hashlib.sha256(self.password.encode()).hexdigest()[:16]

    @property
    def role_name(self) -> str:
        return ROLES.get(self.role, self.role)


def _user(row: sqlite3.Row | None) -> User | None:
    return User(**dict(row)) if row is not None else None


def check_name(name: str) -> str:
    """The name as stored (NFKC), or ``AccountError`` saying what is wrong with it (``policy``)."""
    try:
        return policy.check_name(name)
    except policy.PolicyError as exc:
        raise AccountError(str(exc)) from None


def check_password(password: str, name: str = "") -> str:
    """``password`` if the password policy allows it for user ``name`` (``policy``)."""
    try:
        return policy.check_password(password, name)
    except policy.PolicyError as exc:
        raise AccountError(str(exc)) from None


def look_alike(db: sqlite3.Connection, name: str) -> str | None:
    """An existing user name that looks like ``name`` on screen (same TR39 skeleton), if any."""
    keys = policy.skeletons(name)
    for (other,) in db.execute("SELECT name FROM users"):
        if keys & policy.skeletons(other):
            return other
    return None


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"未知角色“{role}”，可用：{'、'.join(ROLES)}")
    return role


def hash_password(password: str, method: str = HASH_METHOD) -> str:
    return generate_password_hash(password, method=method)


def get_user(db: sqlite3.Connection, name_or_id: str | int) -> User | None:
    if isinstance(name_or_id, int):
        return _user(db.execute("SELECT * FROM users WHERE id = ?", (name_or_id,)).fetchone())
    name = policy.normalize_name(name_or_id)
    return _user(db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone())


def list_users(db: sqlite3.Connection) -> list[User]:
    return [User(**dict(r)) for r in db.execute("SELECT * FROM users ORDER BY name")]


def add_user(db: sqlite3.Connection, name: str, role: str, password: str, *,
             method: str = HASH_METHOD) -> User:
    name, role = check_name(name), check_role(role)
    check_password(password, name)
    clash = look_alike(db, name)
    if clash is not None:
        raise AccountError(f"用户 {clash} 已存在" if clash.casefold() == name.casefold()
                           else f"用户名“{name}”与已有用户“{clash}”看起来一样，请换一个")
    try:
        db.execute("INSERT INTO users (name, role, password, created) VALUES (?, ?, ?, ?)",
                   (name, role, hash_password(password, method), time.time()))
    except sqlite3.IntegrityError:
        raise AccountError(f"用户 {name} 已存在") from None
    return get_user(db, name)  # type: ignore[return-value]


def set_password(db: sqlite3.Connection, name: str, password: str, *, method: str = HASH_METHOD) -> None:
    """A new password for ``name``; every session of theirs ends (also the one that asked)."""
    user = get_user(db, name)
    if user is None:
        raise AccountError(f"没有用户 {name}")
    check_password(password, user.name)
    db.execute("UPDATE users SET password = ? WHERE id = ?", (hash_password(password, method), user.id))
    end_sessions(db, user.id)


def _admins_left_after(db: sqlite3.Connection, name: str) -> int:
    return db.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' AND name != ?", (name,)).fetchone()[0]


def set_role(db: sqlite3.Connection, name: str, role: str) -> None:
    check_role(role)
    db.execute("BEGIN IMMEDIATE")
    try:
        user = get_user(db, name)
        if user is None:
            raise AccountError(f"没有用户 {name}")
        if user.role == "admin" and role != "admin" and not _admins_left_after(db, name):
            raise AccountError("不能取消最后一个管理员")
        db.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def remove_user(db: sqlite3.Connection, name: str) -> None:
    """Delete a user and their tokens; the last admin cannot be removed."""
    db.execute("BEGIN IMMEDIATE")
    try:
        user = get_user(db, name)
        if user is None:
            raise AccountError(f"没有用户 {name}")
        if user.role == "admin" and not _admins_left_after(db, name):
            raise AccountError("不能删除最后一个管理员")
        db.execute("DELETE FROM tokens WHERE user_id = ?", (user.id,))
        db.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
        db.execute("DELETE FROM users WHERE id = ?", (user.id,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


@functools.lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    """A real hash to check against when the user does not exist, so both answers take as long."""
    return generate_password_hash(secrets.token_hex(16), method=method)


def authenticate(db: sqlite3.Connection, name: str, password: str, *,
                 method: str = HASH_METHOD) -> User | None:
    """The user if the password is right, else None (the same scrypt work either way)."""
    user = get_user(db, policy.normalize_name(name)[:policy.NAME_MAX])
    if user is None:
        check_password_hash(_dummy_hash(method), password or "")
        return None
    return user if check_password_hash(user.password, password or "") else None


def check_admin_password(password: str) -> None:
    """Raise ``WeakAdminPassword`` (the portal refuses to start) if ``DUIZHAO_ADMIN_PASSWORD`` is weak."""
    try:
        policy.check_password(password, "admin")
    except policy.PolicyError as exc:
        raise WeakAdminPassword(f"DUIZHAO_ADMIN_PASSWORD 不符合密码要求：{exc}。"
                                "请换一个密码后再启动。") from None


def bootstrap_admin(db: sqlite3.Connection, password: str | None, *, method: str = HASH_METHOD) -> str | None:
    """With no users at all, create ``admin`` (one transaction: exactly once across workers).

    Returns the password when this call created the account with a generated one, else None.
    """
    if password:  # checked even when unused, so a weak one is never left waiting in the environment
        check_admin_password(password)
    if db.execute("SELECT 1 FROM users LIMIT 1").fetchone():
        return None
    generated = not password
    password = password or secrets.token_urlsafe(12)
    db.execute("BEGIN IMMEDIATE")
    try:
        cur = db.execute(
            "INSERT INTO users (name, role, password, created) SELECT 'admin', 'admin', ?, ? "
            "WHERE NOT EXISTS (SELECT 1 FROM users)", (hash_password(password, method), time.time()))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    if cur.rowcount != 1:
        return None
    if generated:
        return password  # the caller shows it once, framed (portal.first_start_notice)
    print("对照：已创建管理员 admin，密码取自环境变量 DUIZHAO_ADMIN_PASSWORD。", file=sys.stderr, flush=True)
    return None


# -- sessions ------------------------------------------------------------------------------------
# A login is a row in ``sessions``; the cookie carries only its random id (stored hashed). Logging out,
# a new password or removing the user deletes the rows, so a copied cookie stops working at once.

def create_session(db: sqlite3.Connection, user_id: int, ip: str, *, lifetime: float) -> str:
    """A new session of ``user_id``: its id, for the cookie (only its hash is stored)."""
    sid = secrets.token_urlsafe(32)
    now = time.time()
    db.execute("INSERT INTO sessions (hash, user_id, created, expires, ip) VALUES (?, ?, ?, ?, ?)",
               (token_hash(sid), user_id, now, now + lifetime, ip[:64]))
    db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
    return sid


def session_user(db: sqlite3.Connection, sid: str) -> User | None:
    """The user of a live session id, else None."""
    row = db.execute("SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id "
                     "WHERE s.hash = ? AND s.expires > ?", (token_hash(sid), time.time())).fetchone()
    return _user(row)


def end_session(db: sqlite3.Connection, sid: str) -> None:
    db.execute("DELETE FROM sessions WHERE hash = ?", (token_hash(sid),))


def end_sessions(db: sqlite3.Connection, user_id: int) -> int:
    """End every session of a user (new password, removal); how many there were."""
    return db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,)).rowcount


# -- API tokens -------------------------------------------------------------------------------

def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create_token(db: sqlite3.Connection, name: str, label: str = "") -> tuple[int, str]:
    """A new token for user ``name``: (id, the token — shown once, stored only as its hash)."""
    user = get_user(db, name)
    if user is None:
        raise AccountError(f"没有用户 {name}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    cur = db.execute("INSERT INTO tokens (user_id, hash, name, created) VALUES (?, ?, ?, ?)",
                     (user.id, token_hash(token), label[:100], time.time()))
    return int(cur.lastrowid or 0), token


def token_user(db: sqlite3.Connection, token: str) -> User | None:
    """The user of a live token, else None; records when it was last used (at most once a minute)."""
    row = db.execute("SELECT t.id AS tid, t.last_used, u.* FROM tokens t JOIN users u ON u.id = t.user_id "
                     "WHERE t.hash = ? AND t.revoked IS NULL", (token_hash(token),)).fetchone()
    if row is None:
        return None
    now = time.time()
    if not row["last_used"] or now - row["last_used"] > 60:
        db.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now, row["tid"]))
    return User(row["id"], row["name"], row["role"], row["password"], row["created"])


def list_tokens(db: sqlite3.Connection) -> list[sqlite3.Row]:
    return db.execute("SELECT t.id, u.name AS user, t.name, t.created, t.last_used, t.revoked FROM tokens t "
                      "JOIN users u ON u.id = t.user_id ORDER BY t.id").fetchall()


def revoke_tokens(db: sqlite3.Connection, which: str) -> int:
    """Revoke token ``which`` (its id) or every token of user ``which``; how many were revoked."""
    now = time.time()
    if which.isdigit():
        cur = db.execute("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", (now, int(which)))
    else:
        cur = db.execute("UPDATE tokens SET revoked = ? WHERE revoked IS NULL AND user_id = "
                         "(SELECT id FROM users WHERE name = ?)", (now, which))
    return cur.rowcount


# -- login throttling ---------------------------------------------------------------------------

def _key(name: str) -> str:
    return (name or "").strip().lower()[:64]


def throttled(db: sqlite3.Connection, name: str, ip: str) -> bool:
    """Too many failures lately for this name from this address (or from this address at all)."""
    since = time.time() - THROTTLE_WINDOW
    n = db.execute("SELECT COUNT(*) FROM login_failures WHERE name = ? AND ip = ? AND at > ?",
                   (_key(name), ip, since)).fetchone()[0]
    if n >= THROTTLE_PER_USER_IP:
        return True
    return db.execute("SELECT COUNT(*) FROM login_failures WHERE ip = ? AND at > ?",
                      (ip, since)).fetchone()[0] >= THROTTLE_PER_IP


def record_failure(db: sqlite3.Connection, name: str, ip: str) -> None:
    now = time.time()
    db.execute("INSERT INTO login_failures (name, ip, at) VALUES (?, ?, ?)", (_key(name), ip, now))
    db.execute("DELETE FROM login_failures WHERE at < ?", (now - 2 * THROTTLE_WINDOW,))


def clear_failures(db: sqlite3.Connection, name: str, ip: str) -> None:
    db.execute("DELETE FROM login_failures WHERE name = ? AND ip = ?", (_key(name), ip))
