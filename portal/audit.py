"""The audit log: who searched, viewed, uploaded, deleted what, and when (``audit`` table), and its page.

``audit(action, target, **detail)`` writes one row (user, IP, time, action, target, detail JSON) and
commits at once, so a row exists as soon as the answer is sent. ``/admin/audit`` lists them for
admins, newest first, filterable by user, action, text and date, paged.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    g,
    has_request_context,
    jsonify,
    render_template,
    request,
    stream_with_context,
)
from flask.typing import ResponseReturnValue

from indexer.errors import BadQuery

from .audit_text import audit_csv, describe
from .db import get_db
from .roles import requires
from .views import attachment, int_arg

bp = Blueprint("audit", __name__)
ACTIONS = {
    "search": "检索", "view": "查看材料", "report": "查看报告", "download": "下载报告", "compare": "比对",
    "duplicates": "重复总览", "list": "浏览材料", "upload": "上传", "delete": "删除", "login": "登录",
    "logout": "退出", "login_failed": "登录失败", "login_throttled": "登录受限", "user_add": "新建用户",
    "user_role": "修改角色", "user_password": "重设密码", "user_remove": "删除用户",
    "token_revoke": "吊销令牌", "replace": "上传新版本", "metadata": "修改元数据",
    "check": "查重检测", "stock_add": "新增套话", "stock_remove": "删除套话",
    "password_change": "修改本人密码", "password_change_failed": "修改本人密码失败",
    "audit_export": "导出审计日志", "compare_import": "导入 Spark 比对结果",
}
MAX_EXPORT = 200_000  # rows in one CSV export (the newest, when the filter matches more)
MAX_TARGET = 500
MAX_DETAIL = 20_000


def audit(action: str, target: str | None = None, **detail: object) -> None:
    """Record one action of the current user (or of ``user=`` given in ``detail``)."""
    user = detail.pop("user", None)
    ip = None
    if has_request_context():
        current = g.get("user")
        user = user or (current.name if current is not None else None)
        ip = request.remote_addr
        if g.get("auth") in ("token", "basic"):
            detail.setdefault("via", g.auth)
    text = json.dumps(detail, ensure_ascii=False, default=str)[:MAX_DETAIL] if detail else None
    get_db().execute("INSERT INTO audit (at, user, ip, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                     (time.time(), user, ip, action, (target or "")[:MAX_TARGET] or None, text))


def day_start(value: str, name: str) -> float | None:
    """A ``YYYY-MM-DD`` date as a local timestamp (None when empty)."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").timestamp()
    except ValueError:
        raise BadQuery(f"日期 {name} 须为 年-月-日，如 2024-05-01") from None


def where_clause(filters: dict[str, str]) -> tuple[str, list]:
    """The SQL condition of the audit filters (user, action, text, from/to dates)."""
    where, args = [], []
    if filters.get("user"):
        where.append("user = ?")
        args.append(filters["user"])
    if filters.get("action"):
        where.append("action = ?")
        args.append(filters["action"])
    if filters.get("q"):
        where.append("(instr(target, ?) > 0 OR instr(detail, ?) > 0)")
        args += [filters["q"], filters["q"]]
    start, end = day_start(filters.get("from", ""), "from"), day_start(filters.get("to", ""), "to")
    if start is not None:
        where.append("at >= ?")
        args.append(start)
    if end is not None:
        where.append("at < ?")
        args.append(end + 86400)
    return (" WHERE " + " AND ".join(where) if where else ""), args


def entry(r) -> dict:
    """One audit row as shown: its time in words, its details parsed and described."""
    row = dict(r)
    row["time"] = datetime.fromtimestamp(row["at"]).strftime("%Y-%m-%d %H:%M:%S")
    row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
    row["description"] = describe(row["detail"])
    return row


def audit_rows(filters: dict[str, str], limit: int, offset: int) -> tuple[int, list[dict]]:
    """Rows matching the filters, newest first, and how many match in all."""
    clause, args = where_clause(filters)
    db = get_db()
    total = db.execute(f"SELECT COUNT(*) FROM audit{clause}", args).fetchone()[0]
    rows = db.execute(f"SELECT * FROM audit{clause} ORDER BY id DESC LIMIT ? OFFSET ?",
                      [*args, limit, offset])
    return total, [entry(r) for r in rows]


def request_filters() -> dict[str, str]:
    filters = {k: request.args.get(k, "").strip()[:200] for k in ("user", "action", "q", "from", "to")}
    return {k: v for k, v in filters.items() if v}


def audit_context() -> dict:
    filters = request_filters()
    limit = int_arg("limit", 50, lo=1, hi=1000)
    offset = int_arg("offset", 0)
    total, rows = audit_rows(filters, limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "filters": filters, "entries": rows}


@bp.get("/admin/audit")
@requires("audit")
def page() -> str:
    """The audit log for admins."""
    ctx = audit_context()
    users = [r[0] for r in get_db().execute(
        "SELECT DISTINCT user FROM audit WHERE user IS NOT NULL ORDER BY 1")]
    return render_template("audit.html", log=ctx, actions=ACTIONS, users=users)


@bp.get("/admin/audit.csv")
@requires("audit")
def export() -> Response:
    """The filtered audit log as CSV (newest first, at most ``MAX_EXPORT`` rows), streamed."""
    filters = request_filters()
    clause, args = where_clause(filters)
    db = get_db()
    rows = (entry(r) for r in db.execute(f"SELECT * FROM audit{clause} ORDER BY id DESC LIMIT ?",
                                         [*args, MAX_EXPORT]).fetchall())
    audit("audit_export", None, filters=filters or None)
    resp = Response(stream_with_context(audit_csv(rows, ACTIONS)), mimetype="text/csv")
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    resp.headers["Content-Disposition"] = attachment(f"审计日志-{stamp}.csv", f"audit-{stamp}")
    return resp


@bp.get("/api/audit")
@requires("audit")
def api() -> ResponseReturnValue:
    """The same entries as JSON."""
    return jsonify(audit_context())
