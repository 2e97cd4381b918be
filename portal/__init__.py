"""对照 portal: the inspectors' web app over ``indexer`` (search, documents, reports, overview, JSON API).

``create_app()`` is the app factory, so ``gunicorn 'portal:create_app()'`` and ``flask --app portal run``
serve it. Views only parse the request, call the library (``get_index()``) and render; each page and
its ``/api`` twin are fed by one context function.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response

from .index import get_index

__all__ = ["create_app", "get_index"]

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent


def shipped(name: str) -> Path:
    """``name`` from the installed wheel (``portal/<name>``, copied by setup.py), else the checkout's."""
    installed = PACKAGE / name
    return installed if installed.exists() else ROOT / name


TEMPLATES = shipped("templates")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def load_config(test_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Settings from ``DUIZHAO_*`` environment variables, overridden by ``test_config``."""
    env = os.environ
    overrides = dict(test_config or {})
    data = Path(overrides.get("DATA") or env.get("DUIZHAO_DATA") or "data")
    config: dict[str, Any] = {
        "DATA": data,
        "INDEX": Path(env.get("DUIZHAO_INDEX") or data / "index"),
        "PAGE_SIZE": int(env.get("DUIZHAO_PAGE_SIZE") or 20),
        "SECRET_KEY": env.get("DUIZHAO_SECRET_KEY") or None,
        "JSON_AS_ASCII": False,
        "MAX_CONTENT_LENGTH": 1 * 1024 * 1024,  # uploads raise it for their own requests
        "ADMIN_PASSWORD": env.get("DUIZHAO_ADMIN_PASSWORD") or None,
        "PASSWORD_HASH": "scrypt",
        "SESSION_COOKIE_NAME": "duizhao_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get("DUIZHAO_SECURE_COOKIES", "") not in ("", "0", "false", "no"),
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=float(env.get("DUIZHAO_SESSION_HOURS") or 8)),
        "UPLOAD_MAX_REQUEST": int(float(env.get("DUIZHAO_MAX_UPLOAD_MB") or 200) * 1024 * 1024),
        "UPLOAD_MAX_FILE": int(float(env.get("DUIZHAO_MAX_FILE_MB") or 50) * 1024 * 1024),
        "UPLOAD_MAX_FILES": 200,
        "JOBS_INLINE": env.get("DUIZHAO_JOBS_INLINE", "").lower() not in ("", "0", "false", "no"),
    }
    config.update(overrides)
    config["DATA"], config["INDEX"] = Path(config["DATA"]), Path(config["INDEX"])
    config.setdefault("APP_DB", config["DATA"] / "app.sqlite")
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = stored_secret(config["DATA"] / "secret_key")
    return config


def stored_secret(path: Path) -> str:
    """The secret in ``path``, created (mode 0600, atomically, once across workers) if missing."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)  # fails if another worker won the race; then read the winner's key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="ascii").strip()


def security_headers(resp: Response) -> Response:
    """Headers on every answer: no inline script, no framing, no sniffing, no referrer."""
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def bootstrap(config: dict[str, Any]) -> None:
    """Create the app database and, if it has no users, the first admin (exactly once across workers)."""
    from . import accounts, db

    db.init_schema(config["APP_DB"])
    conn = db.connect(config["APP_DB"])
    try:
        password = accounts.bootstrap_admin(conn, config.get("ADMIN_PASSWORD"),
                                            method=config["PASSWORD_HASH"])
    finally:
        conn.close()
    if password:
        print(first_start_notice(password), file=sys.stderr, flush=True)


def first_start_notice(password: str) -> str:
    """The framed block announcing the generated admin password, impossible to miss among log lines."""
    rule = "═" * 60
    lines = ["", rule, "  对照：首次启动，已创建管理员账号", "",
             "    用户名    admin", f"    初始密码 {password}", "",
             "  这个密码只显示这一次，请现在记下。登录后请立即修改：",
             "    portal user passwd admin", "  也可以登录后在“用户”页修改。", rule, ""]
    return "\n".join(lines)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the portal; ``test_config`` overrides the environment (``INDEX``, ``DATA``, …)."""
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder="static")
    app.config.from_mapping(load_config(test_config))
    if app.config.get("ADMIN_PASSWORD"):  # a weak one refuses to start (accounts.WeakAdminPassword)
        from .accounts import check_admin_password

        check_admin_password(app.config["ADMIN_PASSWORD"])
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.after_request(security_headers)

    from . import (
        api,
        audit,
        auth,
        check,
        commands,
        db,
        documents,
        duplicates,
        errors,
        jobs,
        reports,
        search,
        stock,
        upload,
        users,
        views,
    )

    db.init_app(app)
    upload.init_app(app)
    check.init_app(app)
    jobs.init_app(app)

    @app.before_request
    def first_admin() -> None:
        """On the first request of a process, make sure someone can log in (``bootstrap``)."""
        if not app.extensions.get("duizhao.bootstrapped"):
            bootstrap(app.config)
            app.extensions["duizhao.bootstrapped"] = True

    auth.init_app(app)
    views.init_app(app)
    errors.init_app(app)
    commands.init_app(app)
    for bp in (auth.bp, search.bp, documents.bp, reports.bp, duplicates.bp, upload.bp, users.bp, audit.bp,
               api.bp, jobs.bp, check.bp, stock.bp):
        app.register_blueprint(bp)
    return app
