"""Reading untrusted files in a child process, so that nothing a file does can grow or keep our memory.

``read_text`` forks, and the child lowers its own limits before touching the file: address space
(``RLIMIT_AS``: what it inherited plus ``Limits.memory_bytes``) and CPU time (``RLIMIT_CPU``); the
parent also kills it after ``Limits.wall_seconds``. The child sends back the text or the reason it was
refused, then exits, returning every byte it allocated to the system — a zip bomb that slips past the
size checks in ``readers`` meets a ``MemoryError`` in the child, never in a web worker or the indexer.

Every file gets its own child in the portal and in ``indexer add``'s main process. ``indexer add``'s
worker processes exist only to read and prepare files, and forking a process that holds jieba's
dictionary costs 25–50 ms here (as much as a third of preparing a typical file), so they call
``confine_worker`` once instead: the same address-space limit on the whole worker, and a per-file
timer; ``read_text`` then reads in process. The readers use no threads, so forking from a process
that has some (OpenMP, BLAS) is safe for them.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import select
import signal
import time
from pathlib import Path

from . import readers
from .errors import UnreadableFile
from .limits import LIMITS, Limits, size_text

_TEXT, _REFUSED = b"T", b"E"
CRASHED = "读取此文件时读取进程意外退出，已跳过"
DEEP = "文件结构嵌套过深，已跳过"


def read_text(path: Path | str, *, limits: Limits = LIMITS) -> str:
    """The text of ``path``, read in a child process with memory and time limits; raises
    ``UnreadableFile`` saying why not (including: over the memory or time limit)."""
    path = Path(path)
    if path.suffix.lower() not in readers.PLAIN:  # plain text (``indexer check x.txt``) needs neither
        preload()
    wall = _wall(path, limits)
    if _confined:
        return _read_here(path, limits, wall)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(rfd)
        _child(path, limits, wfd)
    os.close(wfd)
    data, timed_out = b"", True
    try:
        data, timed_out = _collect(rfd, time.monotonic() + wall)
    finally:  # also on KeyboardInterrupt: never leave the child behind
        os.close(rfd)
        if timed_out:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)  # the pipe is closed: the child is exiting or killed
    if timed_out:
        raise UnreadableFile(f"读取超时：超过 {wall} 秒，已跳过")
    if data[:1] == _TEXT:
        return data[1:].decode("utf-8", "surrogatepass")
    if data[:1] == _REFUSED:
        raise UnreadableFile(data[1:].decode("utf-8"))
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
        raise UnreadableFile(f"读取超时：CPU 时间超过 {limits.cpu_seconds} 秒，已跳过")
    raise UnreadableFile(CRASHED)


_preloaded = False
_confined = False


class _Timeout(BaseException):
    """The per-file timer of a confined worker went off (a BaseException: readers catch Exception)."""


def _wall(path: Path, limits: Limits) -> int:
    """Seconds reading ``path`` may take; converters bring their own, longer timeout."""
    if path.suffix.lower() in (".doc", ".wps"):
        return max(limits.wall_seconds, limits.convert_seconds + 15)
    return limits.wall_seconds


def confine_worker(limits: Limits = LIMITS) -> None:
    """Make this process a confined reader: an address-space limit now, a timer per file later.
    For processes that only read and prepare files (``indexer add``'s worker pool)."""
    global _confined
    preload()
    _lower(resource.RLIMIT_AS, _address_space() + limits.memory_bytes)
    _confined = True


def _read_here(path: Path, limits: Limits, wall: int) -> str:
    """``readers.read_text`` in this (confined) process, stopped by a timer after ``wall`` seconds."""

    def expire(signum, frame):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, wall)
    try:
        return readers.read_text(path, limits=limits)
    except _Timeout:
        raise UnreadableFile(f"读取超时：超过 {wall} 秒，已跳过") from None
    except MemoryError:
        raise UnreadableFile(_memory_reason(limits)) from None
    except RecursionError:
        raise UnreadableFile(DEEP) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _memory_reason(limits: Limits) -> str:
    return f"读取此文件所需内存超过上限（{size_text(limits.memory_bytes)}），可能是压缩炸弹，已跳过"


def preload() -> None:
    """Import the readers' libraries once in this process, so each forked child finds them loaded
    (importing python-docx and pypdf costs a child ~0.2 s; forking them costs nothing)."""
    global _preloaded
    if not _preloaded:
        import docx  # noqa: F401
        import lxml.etree  # noqa: F401
        import pypdf  # noqa: F401

        _preloaded = True


def _collect(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Everything the child writes until it closes the pipe; (data, whether the deadline passed)."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"", True
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return b"", True
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)


def confine(limits: Limits = LIMITS) -> None:
    """Lower this process's address-space and CPU limits (soft limits: converters raise their own)."""
    grown = _address_space() + limits.memory_bytes
    _lower(resource.RLIMIT_AS, grown)
    used = resource.getrusage(resource.RUSAGE_SELF)
    _lower(resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime) + limits.cpu_seconds)


def _lower(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    if soft == resource.RLIM_INFINITY or value < soft:
        resource.setrlimit(which, (value, hard))


def _address_space() -> int:
    """This process's virtual size in bytes."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(path: Path, limits: Limits, wfd: int) -> None:
    """Read the file under limits, write the answer to ``wfd`` and exit without cleanup handlers."""
    code = 0
    gc.disable()  # a collection would walk (and so copy) every object inherited from the parent
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a web server's handlers are not ours
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        confine(limits)
        try:
            answer = _TEXT + readers.read_text(path, limits=limits).encode("utf-8", "surrogatepass")
        except UnreadableFile as exc:
            answer = _REFUSED + str(exc).encode("utf-8")
        except MemoryError:
            answer = _REFUSED + _memory_reason(limits).encode()
        except RecursionError:
            answer = _REFUSED + DEEP.encode()
        view = memoryview(answer)
        while view:
            view = view[os.write(wfd, view):]
    except BaseException:
        code = 1
    finally:
        os._exit(code)
