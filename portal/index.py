"""``get_index()``: the process's ``Library``, opened lazily from ``app.config["INDEX"]``.

Like flaskr's ``get_db()``, but one per process rather than per request: the library keeps its
document table and segment maps in memory and ``lib.live`` refreshes them cheaply when another
process committed. Opened after the fork (never in a gunicorn master), and reopened if it was.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from flask import current_app

from indexer.errors import DuizhaoError
from indexer.library import Library

EXTENSION = "duizhao.library"
_lock = threading.Lock()


class DetectionUnavailable(DuizhaoError):
    """The library has no copy detection yet (``report``/``compare_pair``/``duplicates``)."""


def get_index() -> Any:
    """The ``indexer.library.Library`` of this app (or the object a test put in its place)."""
    ext = current_app.extensions
    entry = ext.get(EXTENSION)
    if entry is not None and (entry[0] == os.getpid() or entry[0] is None):
        return entry[1]
    with _lock:
        entry = ext.get(EXTENSION)
        if entry is None or entry[0] not in (os.getpid(), None):
            entry = (os.getpid(), Library(current_app.config["INDEX"]))
            ext[EXTENSION] = entry
    return entry[1]


def set_index(app, lib: Any) -> None:
    """Use ``lib`` as the app's library (tests, or a caller that opened it already)."""
    app.extensions[EXTENSION] = (None, lib)


def detection(name: str):
    """The library's copy-detection method ``name``, or ``DetectionUnavailable`` (503)."""
    method = getattr(get_index(), name, None)
    if method is None:
        raise DetectionUnavailable("查重功能尚未启用：当前索引库不支持相似性检测")
    return method
