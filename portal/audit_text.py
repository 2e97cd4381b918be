"""The audit log in words: each entry's details as a short Chinese phrase, and the CSV export.

The ``audit`` table keeps details as JSON (what the code recorded, for scripts via ``/api/audit``);
people read ``describe(entry)``: ``检索方式：短语；筛选：年度 2021；共 3 份`` instead of
``filters: {"year": "2021"}``. Unknown keys still show, under their own name, so nothing recorded
is hidden from the admin.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FIELD_NAMES = {"unit": "单位", "year": "年度", "role": "职务", "meeting": "会议", "author": "作者",
               "title": "标题"}
MODE_NAMES = {"auto": "智能", "phrase": "短语", "words": "词语"}
SORT_NAMES = {"added": "加入时间", "ratio": "复制比", "year": "年度", "unit": "单位", "chars": "字数",
              "title": "标题"}
STATUS_NAMES = {"added": "已加入", "replaced": "已替换旧版本", "unchanged": "库中已有", "rejected": "未加入",
                "queued": "排队中", "reading": "读取中", "updated": "已更新"}
ROLE_NAMES = {"admin": "管理员", "inspector": "检查人员"}
VIA_NAMES = {"token": "API 令牌", "basic": "用户名密码", "metadata.csv": "元数据表"}
LABELS = {
    "mode": "检索方式", "filters": "筛选", "total": "结果", "offset": "从第几条起", "limit": "每页",
    "title": "标题", "source": "文件", "query": "检索词", "format": "格式", "unit": "单位", "year": "年度",
    "count": "份数", "sort": "排序", "role": "角色", "revoked": "吊销数", "via": "方式", "job": "任务",
    "files": "文件", "metadata": "附元数据表", "accepted": "已受理", "finished": "已完成", "error": "错误",
    "copy_ratio": "复制比", "sources": "来源数", "version": "版本", "old_version": "原版本", "name": "文件名",
    "changes": "修改",
}
SKIP = {"accepted", "finished"}


def _filters(value: dict) -> str:
    return "，".join(f"{FIELD_NAMES.get(k, k)} {v}" for k, v in value.items() if v)


def _files(value: list) -> str:
    parts = []
    for f in value[:20]:
        if isinstance(f, dict):
            status = STATUS_NAMES.get(str(f.get("status")), f.get("status") or "")
            reason = f"：{f['reason']}" if f.get("reason") else ""
            parts.append(f"{f.get('name') or f.get('file') or '?'}（{status}{reason}）" if status
                         else str(f.get("name") or f.get("file") or "?"))
        else:
            parts.append(str(f))
    more = f" 等 {len(value)} 个" if len(value) > 20 else ""
    return "、".join(parts) + more


def _changes(value: Any) -> str:
    if isinstance(value, dict):
        return "，".join(f"{FIELD_NAMES.get(k, k)}改为“{v}”" for k, v in value.items())
    if isinstance(value, list):
        return "、".join(FIELD_NAMES.get(str(k), str(k)) for k in value)
    return str(value)


def _value(key: str, value: Any) -> str:
    if key == "filters" and isinstance(value, dict):
        return _filters(value)
    if key == "files" and isinstance(value, list):
        return _files(value)
    if key == "changes":
        return _changes(value)
    if key == "mode":
        return MODE_NAMES.get(str(value), str(value))
    if key == "sort":
        return SORT_NAMES.get(str(value), str(value))
    if key == "role":
        return ROLE_NAMES.get(str(value), str(value))
    if key == "via":
        return VIA_NAMES.get(str(value), str(value))
    if key == "total":
        return f"{value} 份"
    if key == "copy_ratio" and isinstance(value, int | float):
        return f"{100 * value:.1f}%"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict):
        return "，".join(f"{FIELD_NAMES.get(k, k)} {v}" for k, v in value.items())
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def describe(detail: dict) -> str:
    """An entry's details as one Chinese phrase: ``检索方式：短语；筛选：年度 2021；结果：3 份``."""
    parts = []
    for key, value in detail.items():
        if key in SKIP or value in (None, "", [], {}) or (key == "offset" and not value):
            continue
        text = _value(key, value)
        if text:
            parts.append(f"{LABELS.get(key, key)}：{text}")
    return "；".join(parts)


CSV_COLUMNS = ("时间", "用户", "地址", "操作", "对象", "详情")


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text (no formulas from ``= + - @``)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def audit_csv(entries: Iterable[dict], actions: dict[str, str]) -> Iterable[str]:
    """The entries as CSV (UTF-8 with BOM, so Excel reads the Chinese), streamed line by line."""
    buf = io.StringIO()
    out = csv.writer(buf)

    def flush() -> str:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text

    out.writerow(CSV_COLUMNS)
    yield "\ufeff" + flush()
    for e in entries:
        out.writerow([_cell(v) for v in (e["time"], e.get("user") or "", e.get("ip") or "",
                                          actions.get(e["action"], e["action"]), e.get("target") or "",
                                          describe(e.get("detail") or {}))])
        yield flush()
