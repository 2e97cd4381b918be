"""gunicorn settings for the 对照 portal: ``gunicorn -c gunicorn.conf.py 'portal:create_app()'``.

Loopback by default: the portal holds confidential material, so exposing it on a network is an
explicit choice (``DUIZHAO_BIND=0.0.0.0:8000``, behind TLS, with ``DUIZHAO_SECURE_COOKIES=1``). Every
value can be overridden from the environment or the gunicorn command line.

Several workers may upload at once: ``Library.add`` serializes them on the index's file lock, and a
worker killed mid-upload leaves the index to be repaired by the next writer (nothing acknowledged
is lost: a document is acknowledged only after its SQLite commit).
"""

import multiprocessing
import os
import sys

bind = os.environ.get("DUIZHAO_BIND", "127.0.0.1:8000")
# Search is CPU-bound Python: about two workers per core. Each worker opens the index lazily on its
# first request (never in the master), and the phrase segments are memory-mapped, so workers share
# the page cache rather than each holding a copy.
workers = int(os.environ.get("DUIZHAO_WORKERS") or min(2 * multiprocessing.cpu_count(), 8))
worker_class = "sync"
threads = 1
timeout = int(os.environ.get("DUIZHAO_TIMEOUT") or 60)  # a whole-corpus overview or big upload takes time
graceful_timeout = 30
keepalive = 5
max_requests = 5000  # recycle workers now and then; jitter avoids restarting them all at once
max_requests_jitter = 500
# A 500-character Chinese query is 4.5 KB percent-encoded, over gunicorn's default 4094-byte request
# line; allow gunicorn's maximum so overlong queries reach the portal and get its clear 400 answer.
# Only a request line over 8190 bytes (or a worker killed at its timeout) is answered by gunicorn
# itself: ``write_error`` below makes those answers carry the portal's security headers too.
limit_request_line = 8190
limit_request_fields = 50
# Access logs would record every query (confidential); off unless asked for, e.g. "-" for stdout.
accesslog = os.environ.get("DUIZHAO_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("DUIZHAO_LOG_LEVEL", "info")
proc_name = "duizhao-portal"
wsgi_app = "portal:create_app()"


def when_ready(server):
    """Once, in the master before any worker: the app database and, with no users yet, the first admin.

    The admin's password comes from ``DUIZHAO_ADMIN_PASSWORD``, else one is generated and printed here,
    once. Workers check again on their first request (same single transaction), so ``flask run`` works too.
    """
    from portal import bootstrap, load_config
    from portal.accounts import WeakAdminPassword

    try:
        bootstrap(load_config())
    except WeakAdminPassword as exc:  # refuse to start, saying why, without a traceback
        print(f"对照：无法启动。{exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def post_worker_init(worker):
    """In each new worker, before its first request: load jieba's dictionary (about a second, which
    the first words query would otherwise pay) and open the index."""
    from indexer.words import words

    words("对照检查")
    try:
        from portal import get_index

        with worker.wsgi.app_context():
            get_index()
    except Exception as exc:  # the first request opens it and shows the error properly
        worker.log.warning("index not opened at worker start: %s", exc)


# gunicorn's control socket (~/.gunicorn/gunicorn.ctl) is one more local way in; the portal needs none.
control_socket_disable = True


# -- gunicorn's own answers ----------------------------------------------------------------------
# gunicorn writes some answers without the app: 414 for a request line over limit_request_line, 400/431
# for malformed requests, 500 when the arbiter kills a worker at its timeout. Its page has none of the
# portal's security headers and English text; this replaces it (gunicorn calls util.write_error at
# answer time, and workers are forked from the master that read this file).
ERROR_MESSAGES = {
    400: "请求格式有误。", 403: "请求被拒绝。", 414: "请求地址过长：检索词或参数太多，请缩短后再试。",
    417: "不支持这种请求。", 431: "请求头过大。", 500: "处理请求超时或出错，已记入服务器日志。请稍后再试。",
    501: "不支持这种请求。",
}


def write_error(sock, status_int, reason, mesg):
    """gunicorn's error answer, in Chinese and with the portal's security headers."""
    import html

    from gunicorn import util

    from portal import CSP

    message = ERROR_MESSAGES.get(status_int, "请求有误。")
    body = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{status_int}</title>'
            f"</head><body><h1>{status_int}</h1><p>{html.escape(message)}</p></body></html>").encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nContent-Security-Policy: {CSP}\r\n"
            "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
            "Cache-Control: no-store\r\n\r\n").encode("latin-1")
    util.write_nonblock(sock, head + body)


def _install_error_pages():
    from gunicorn import util

    util.write_error = write_error


_install_error_pages()
