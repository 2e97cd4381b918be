"""Tables derived from the program and its data packages alone, built once and kept on disk.

Two tables cost a short command (``indexer check FILE``) a fifth of its time and depend on no index:
the copy-detection view of every BMP character (NFKC and OpenCC per character, ~0.2 s) and the
synonym lexicon (同义词词林 parsed and folded into lookup arrays, ~0.2 s). ``cached(name, build, ...)``
returns ``build()``, kept in the user's cache folder and keyed by everything the result depends
on: the source of the modules that build it, the Python, Unicode and numpy versions, and the
installed files of the packages it reads (size and modification time). A missing, stale, unreadable
or unwritable cache costs only the build; ``DUIZHAO_CACHE=off`` turns the cache off.

The folder is ``$DUIZHAO_CACHE``, else ``$XDG_CACHE_HOME/duizhao``, else ``~/.cache/duizhao``.
Files are pickles read by an unpickler that accepts only numpy arrays and the classes and functions
the caller names, so a planted file cannot run code.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import sys
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from importlib.util import find_spec
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
OFF = "off"
_NUMPY = {("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
          ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
          ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
          ("numpy", "ndarray"), ("numpy", "dtype"), ("copyreg", "_reconstructor"),
          ("builtins", "object")}


def folder() -> Path | None:
    """The cache folder, or None when the cache is off."""
    value = os.environ.get("DUIZHAO_CACHE")
    if value is not None:
        return None if value.strip().lower() in (OFF, "") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "duizhao"


def key(name: str, modules: Iterable[str], packages: Iterable[str] = ()) -> str:
    """What ``name`` built by ``modules`` from ``packages`` depends on, as a digest."""
    import numpy

    h = hashlib.sha256()
    for part in (name, sys.version, unicodedata.unidata_version, numpy.__version__):
        h.update(part.encode() + b"\0")
    for module in modules:
        h.update(Path(sys.modules[module].__file__).read_bytes())
    for package in packages:
        spec = find_spec(package)
        if spec is None or not spec.origin:
            h.update(f"{package} missing".encode())
            continue
        for path in (Path(spec.origin), Path(spec.origin).parent):
            st = path.stat()
            h.update(f"{package} {path} {st.st_size} {st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, allowed: set[tuple[str, str]]):
        super().__init__(io.BytesIO(data))
        self.allowed = allowed

    def find_class(self, module: str, name: str):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed here")
        return super().find_class(module, name)


def cached(name: str, build: Callable[[], T], *, modules: Iterable[str], packages: Iterable[str] = (),
           trusted: Iterable[object] = ()) -> T:
    """``build()``, from the cache folder when it holds it for the current key (see the module
    docstring); ``trusted``: the classes and functions the result is made of, besides numpy arrays."""
    where = folder()
    try:
        path = where / f"{name}-{key(name, modules, packages)}.pickle" if where else None
    except OSError:
        path = None
    if path is None:
        return build()
    allowed = _NUMPY | {(t.__module__, t.__qualname__) for t in trusted}
    with contextlib.suppress(OSError, Exception):  # missing, corrupt, or holding what is not allowed
        return _Unpickler(path.read_bytes(), allowed).load()
    result = build()
    tmp = where / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        where.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
        for old in where.glob(f"{name}-*.pickle"):  # tables of earlier program versions
            if old != path:
                old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, AttributeError, TypeError):
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return result
