"""User administration for admins (``/admin/users``): add, role, password, remove, revoke tokens."""

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
    name = request.form.get("name", "").strip()[:64]
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
