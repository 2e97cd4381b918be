"""Errors as answers: JSON ``{"error", "status"}`` under ``/api``, a Chinese page elsewhere."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from indexer.errors import BadQuery, DocumentNotFound, DuizhaoError
from indexer.jobs import JobNotFound

from .index import DetectionUnavailable

TITLES = {
    400: "请求有误", 401: "请先登录", 403: "没有权限", 404: "没有找到", 405: "不支持的请求方式",
    413: "请求过大", 429: "请稍后再试",
    500: "服务器内部错误", 503: "功能暂不可用",
}
HTTP_MESSAGES = {
    401: "请先登录。",
    403: "您的账号没有执行此操作的权限。如需要，请联系管理员。",
    404: "没有这个页面。请检查地址，或从首页重新检索。",
    405: "此地址不支持这种请求方式。",
    413: "请求内容过大（上传总量或单个文件超过上限）。",
    500: "处理请求时出现了意外错误，已记入服务器日志。请稍后再试。",
}


def wants_json() -> bool:
    """Whether the answer to this request is JSON (the API and the health check)."""
    return request.path.startswith("/api/") or request.path == "/healthz"


CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    413: "too_large", 429: "too_many_requests", 500: "internal_error", 503: "unavailable",
}


def error_response(status: int, message: str, code: str | None = None):
    """The error as JSON (the Chinese ``error`` beside a stable English ``code`` for scripts) or as
    the Chinese error page, with ``status``."""
    if wants_json():
        body = {"error": message, "code": code or CODES.get(status, "error"), "status": status}
        return jsonify(body), status
    return render_template("error.html", status=status, title=TITLES.get(status, "出错了"),
                           message=message), status


def status_of(exc: DuizhaoError) -> int:
    if isinstance(exc, (DocumentNotFound, JobNotFound)):
        return 404
    if isinstance(exc, DetectionUnavailable):
        return 503
    return 400  # BadQuery and any other error the user can be told about


def init_app(app: Flask) -> None:
    """Register the handlers; no traceback ever reaches the client."""

    @app.errorhandler(DuizhaoError)
    def library_error(exc: DuizhaoError):
        return error_response(status_of(exc), str(exc), getattr(exc, "code", None))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = HTTP_MESSAGES.get(exc.code or 500, "请求有误。")
        return error_response(exc.code or 500, message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        return error_response(500, HTTP_MESSAGES[500])


__all__ = ["BadQuery", "error_response", "init_app", "wants_json"]
