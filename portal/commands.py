"""``flask --app portal user …`` / ``token …`` (also ``portal user …``): accounts from the command line."""

from __future__ import annotations

import secrets
from datetime import datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import accounts
from .db import get_db


def _db():
    return get_db()


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc))


def _password(generate: bool) -> tuple[str, bool]:
    if generate:
        return secrets.token_urlsafe(12), True
    return click.prompt("密码", hide_input=True, confirmation_prompt="再输一次"), False


user_cli = AppGroup("user", help="Portal users: add, list, passwd, remove.")
token_cli = AppGroup("token", help="API tokens: create, list, revoke.")


@user_cli.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(sorted(accounts.ROLES)), default="inspector", show_default=True)
@click.option("--generate", is_flag=True, help="generate a password and print it once")
def user_add(name: str, role: str, generate: bool) -> None:
    """Create user NAME (asks for the password unless --generate)."""
    password, show = _password(generate)
    try:
        user = accounts.add_user(_db(), name, role, password, method=current_app.config["PASSWORD_HASH"])
    except accounts.AccountError as exc:
        _fail(exc)
    click.echo(f"已新建用户 {user.name}（{user.role}）" + (f"，密码 {password}" if show else ""))


@user_cli.command("list")
def user_list() -> None:
    """Every user and role."""
    for u in accounts.list_users(_db()):
        click.echo(f"{u.name}\t{u.role}\t{_when(u.created)}")


@user_cli.command("passwd")
@click.argument("name")
@click.option("--generate", is_flag=True, help="generate a password and print it once")
def user_passwd(name: str, generate: bool) -> None:
    """Set NAME's password (their open sessions end)."""
    password, show = _password(generate)
    try:
        accounts.set_password(_db(), name, password, method=current_app.config["PASSWORD_HASH"])
    except accounts.AccountError as exc:
        _fail(exc)
    click.echo(f"已设置 {name} 的密码" + (f"：{password}" if show else ""))


@user_cli.command("remove")
@click.argument("name")
def user_remove(name: str) -> None:
    """Delete NAME and their tokens (not the last admin)."""
    try:
        accounts.remove_user(_db(), name)
    except accounts.AccountError as exc:
        _fail(exc)
    click.echo(f"已删除用户 {name}")


@token_cli.command("create")
@click.argument("user")
@click.option("--name", "label", default="", help="what the token is for")
def token_create(user: str, label: str) -> None:
    """A new API token for USER, printed once (use it as ``Authorization: Bearer TOKEN``)."""
    try:
        tid, token = accounts.create_token(_db(), user, label)
    except accounts.AccountError as exc:
        _fail(exc)
    click.echo(f"令牌 {tid}（{user}），只显示这一次：", err=True)
    click.echo(token)


@token_cli.command("list")
def token_list() -> None:
    """Every token: id, user, label, created, last used, revoked."""
    for t in accounts.list_tokens(_db()):
        state = f"已吊销 {_when(t['revoked'])}" if t["revoked"] else "有效"
        click.echo(f"{t['id']}\t{t['user']}\t{t['name'] or '-'}\t{_when(t['created'])}\t"
                   f"{_when(t['last_used'])}\t{state}")


@token_cli.command("revoke")
@click.argument("which")
def token_revoke(which: str) -> None:
    """Revoke token ID, or every token of user USER."""
    n = accounts.revoke_tokens(_db(), which)
    if not n:
        _fail(click.ClickException(f"没有可吊销的令牌: {which}"))
    click.echo(f"已吊销 {n} 个令牌")


def init_app(app: Flask) -> None:
    app.cli.add_command(user_cli)
    app.cli.add_command(token_cli)
