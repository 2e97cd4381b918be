"""Login, logout and the gate in front of every route: who is asking, may they, and is the form ours.

Pages use the session cookie (set by ``/login``); ``/api/…`` also takes ``Authorization: Bearer
TOKEN`` or HTTP Basic (scripts). Everything except ``/login``, ``/healthz`` and the static assets
needs a user; anonymous pages are sent to the login page, anonymous API calls get 401 JSON. Every
state-changing request made with the session cookie must carry the session's CSRF token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
import unicodedata
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from . import accounts, policy
from .audit import audit
from .db import get_db
from .errors import error_response
from .roles import requires, role_required

bp = Blueprint("auth", __name__)
__all__ = ["bp", "csrf_token", "init_app", "requires", "role_required"]
PUBLIC = {"auth.login", "api.healthz", "static"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
THROTTLED = "登录失败次数过多，请 15 分钟后再试。"
CSRF_FAILED = "表单已过期或来源不明，安全校验没有通过。请刷新页面后重试。"
_basic_cache: dict[str, tuple[int, str, float]] = {}  # credentials' HMAC → (user id, stamp, until)
BASIC_TTL = 300


def client_ip() -> str:
    return request.remote_addr or "-"


def is_api() -> bool:
    return request.path.startswith("/api/")


def csrf_token() -> str:
    """The session's CSRF token (created on first use); every form carries it."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_ok() -> bool:
    sent = request.headers.get("X-CSRFToken") or request.form.get("csrf_token", "")
    want = session.get("csrf", "")
    return bool(want) and hmac.compare_digest(str(sent).encode(), str(want).encode())


def safe_next(target: str | None) -> str:
    """A path on this site to go to after login, else the search page.

    Browsers drop tabs and line breaks inside URLs and read a backslash as a slash, so ``/\t/evil``,
    ``/\\evil`` and ``//evil`` all lead to another host: anything with a control character or a
    backslash, anything not starting with exactly one slash, and anything that parses with a scheme
    or host is refused (a CR or LF would also be refused as a header value)."""
    home = url_for("search.index")
    if not target or len(target) > 2048 or not target.startswith("/") or target.startswith("//"):
        return home
    if "\\" in target or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return home
    return target


def _basic_user(db, cred: str) -> accounts.User | None:
    """HTTP Basic for scripts: checked like the login (throttled, audited), then cached briefly."""
    try:
        name, _, password = base64.b64decode(cred, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    secret = str(current_app.secret_key).encode()
    key = hmac.new(secret, f"{name}\0{password}".encode(), hashlib.sha256).hexdigest()
    hit = _basic_cache.get(key)
    if hit and hit[2] > time.time():
        user = accounts.get_user(db, hit[0])
        if user is not None and user.stamp == hit[1]:
            return user
    if accounts.throttled(db, name, client_ip()):
        abort(429)
    user = accounts.authenticate(db, name, password, method=current_app.config["PASSWORD_HASH"])
    if user is None:
        accounts.record_failure(db, name, client_ip())
        audit("login_failed", name[:64], via="basic")
        return None
    if len(_basic_cache) > 256:
        _basic_cache.clear()
    _basic_cache[key] = (user.id, user.stamp, time.time() + BASIC_TTL)
    return user


def load_user() -> None:
    """Set ``g.user`` and ``g.auth`` (session, token or basic) from the request."""
    g.user, g.auth = None, None
    header = request.headers.get("Authorization", "")
    if header and is_api():
        scheme, _, cred = header.partition(" ")
        db = get_db()
        if scheme.lower() == "bearer":
            g.user, g.auth = accounts.token_user(db, cred.strip()), "token"
        elif scheme.lower() == "basic":
            g.user, g.auth = _basic_user(db, cred.strip()), "basic"
        return
    sid = session.get("sid")
    if not isinstance(sid, str) or not sid:
        return
    user = accounts.session_user(get_db(), sid)  # server-side: logout and new passwords end it
    if user is None:
        session.pop("sid", None)
        return
    g.user, g.auth = user, "session"


def start_session(user: accounts.User) -> None:
    """Log ``user`` in on this browser: a new session row, a new cookie, a new CSRF token."""
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    sid = accounts.create_session(get_db(), user.id, client_ip(), lifetime=lifetime)
    session.clear()
    session.permanent = True
    session.update(sid=sid, csrf=secrets.token_urlsafe(32))
    g.user, g.auth = user, "session"


def gate() -> ResponseReturnValue | None:
    """Before every request: authenticate, refuse anonymous callers, check CSRF on writes."""
    limit = current_app.config["UPLOAD_MAX_REQUEST"]
    if request.endpoint in current_app.config["UPLOAD_ENDPOINTS"]:
        request.max_content_length = limit
        request.max_form_memory_size = 2 * 1024 * 1024
    load_user()
    if request.endpoint not in PUBLIC and g.user is None:
        if is_api():
            resp = jsonify({"error": "请先登录，或提供有效的 API 令牌。", "code": "unauthorized",
                            "status": 401})
            resp.headers["WWW-Authenticate"] = 'Bearer realm="duizhao"'
            return resp, 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if request.routing_exception is not None:
        return None  # 404/405: no view will run, so there is nothing to protect
    if request.method not in SAFE_METHODS and g.auth not in ("token", "basic") and not csrf_ok():
        return error_response(400, CSRF_FAILED)
    return None


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; on success back to where the user was going."""
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.user is not None:
            return redirect(target)
        return render_template("login.html", next=target, error=None)
    name = policy.normalize_name(request.form.get("username", ""))[:policy.NAME_MAX]
    password = request.form.get("password", "")
    db = get_db()
    if accounts.throttled(db, name, client_ip()):
        audit("login_throttled", name)
        resp = render_template("login.html", next=target, error=THROTTLED, username=name)
        return resp, 429, {"Retry-After": str(accounts.THROTTLE_WINDOW)}
    user = accounts.authenticate(db, name, password, method=current_app.config["PASSWORD_HASH"])
    if user is None:
        accounts.record_failure(db, name, client_ip())
        audit("login_failed", name)
        return render_template("login.html", next=target, error="用户名或密码不正确。", username=name), 401
    accounts.clear_failures(db, name, client_ip())
    start_session(user)
    audit("login", user.name)
    return redirect(target)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    audit("logout", g.user.name if g.user else None)
    sid = session.get("sid")
    if isinstance(sid, str):
        accounts.end_session(get_db(), sid)  # a copy of the cookie stops working too
    session.clear()
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Install the gate and the template helpers (``csrf_token()``, ``current_user``)."""
    app.before_request(gate)
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.errorhandler(429)
    def too_many(exc: Exception) -> ResponseReturnValue:
        return error_response(429, THROTTLED)

    @app.context_processor
    def user_context() -> dict:
        return {"current_user": g.get("user")}
