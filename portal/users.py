"""User administration for admins (``/admin/users``: add, role, password, remove, revoke tokens), and
every user's own password (``/account/password``)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from . import accounts
from .audit import audit
from .db import get_db
from .roles import requires

bp = Blueprint("users", __name__)


def hash_method() -> str:
    return current_app.config["PASSWORD_HASH"]


@bp.get("/admin/users")
@requires("users")
def listing() -> str:
    """Every user with their role and tokens."""
    db = get_db()
    tokens = [dict(t) for t in accounts.list_tokens(db)]
    return render_template("users.html", users=accounts.list_users(db), tokens=tokens, roles=accounts.ROLES)


@bp.post("/admin/users")
@requires("users")
def act() -> ResponseReturnValue:
    """One form action: add, role, password, remove or revoke (each audited)."""
    db = get_db()
    action = request.form.get("action", "")
    name = request.form.get("name", "")  # checked, never cut: a long name is refused with the reason
    role = request.form.get("role", "")
    password = request.form.get("password", "")
    try:
        if action == "add":
            user = accounts.add_user(db, name, role, password, method=hash_method())
            audit("user_add", user.name, role=user.role)
            flash(f"已新建用户 {user.name}（{user.role_name}）")
        elif action == "role":
            accounts.set_role(db, name, role)
            audit("user_role", name, role=role)
            flash(f"已将 {name} 设为{accounts.ROLES[role]}")
        elif action == "password":
            accounts.set_password(db, name, password, method=hash_method())
            audit("user_password", name)
            flash(f"已重设 {name} 的密码" + ("，请重新登录" if g.user.name == name else ""))
        elif action == "remove":
            accounts.remove_user(db, name)
            audit("user_remove", name)
            flash(f"已删除用户 {name}")
        elif action == "revoke":
            n = accounts.revoke_tokens(db, request.form.get("token", ""))
            audit("token_revoke", request.form.get("token", ""), revoked=n)
            flash(f"已吊销 {n} 个令牌")
        else:
            raise accounts.AccountError("未知操作")
    except accounts.AccountError as exc:
        flash(str(exc), "error")
        return render_template("users.html", users=accounts.list_users(db),
                               tokens=[dict(t) for t in accounts.list_tokens(db)], roles=accounts.ROLES), 400
    return redirect(url_for("users.listing"))


@bp.route("/account/password", methods=["GET", "POST"])
def own_password() -> ResponseReturnValue:
    """Any logged-in user changes their own password: the current one, then the new one twice.
    Every session of theirs ends, except this browser's, which gets a new one (audited)."""
    from .auth import start_session  # auth imports nothing from here; no cycle at import time

    if request.method == "GET":
        return render_template("password.html", error=None, min_password=accounts.MIN_PASSWORD)
    db = get_db()
    user = g.user
    current, new, again = (request.form.get(k, "") for k in ("current", "password", "again"))
    error = None
    if accounts.authenticate(db, user.name, current, method=hash_method()) is None:
        error = "当前密码不正确。"
    elif new != again:
        error = "两次输入的新密码不一致。"
    elif new == current:
        error = "新密码不能与当前密码相同。"
    else:
        try:
            accounts.set_password(db, user.name, new, method=hash_method())
        except accounts.AccountError as exc:
            error = f"{exc}。"
    if error:
        audit("password_change_failed", user.name)
        return render_template("password.html", error=error, min_password=accounts.MIN_PASSWORD), 400
    audit("password_change", user.name)
    start_session(accounts.get_user(db, user.id))  # type: ignore[arg-type]
    flash("密码已修改。其他设备上的登录都已退出。")
    return redirect(url_for("users.own_password"))
