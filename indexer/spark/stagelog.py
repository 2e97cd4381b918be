"""What each stage of the Spark job took: a log line as it ends, and the figures kept in the result.

Wall time, and the CPU time of this machine's process tree (the driver, the JVM and its Python
workers: all of a local-mode job; None off Linux), sampled every second while a stage runs. On a
shared machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger("duizhao.spark")


@dataclass
class StageLog:
    """Per-stage wall time, CPU time of this machine's process tree (the driver, the JVM and its
    Python workers: all of a local-mode job; None off Linux) and figures: logged as each stage ends,
    kept in ``_duizhao.json``. On a shared machine the CPU time is the steadier figure."""

    stages: list[dict] = field(default_factory=list)
    cpu: TreeCpu = field(default_factory=lambda: TreeCpu())

    @contextmanager
    def stage(self, sc, number: int, name: str) -> Iterator[dict]:
        sc.setJobDescription(f"阶段 {number}：{name}")
        figures: dict = {}
        start, cpu = time.perf_counter(), self.cpu.start()
        try:
            yield figures
        finally:
            used = self.cpu.stop(cpu)
        seconds = round(time.perf_counter() - start, 3)
        self.stages.append({"stage": number, "name": name, "seconds": seconds, "cpu_seconds": used,
                            **figures})
        shown = "，".join(f"{k} {v}" for k, v in figures.items())
        log.info("阶段 %d %s：%s，用时 %.1f 秒，本机 CPU %s 秒", number, name, shown or "完成", seconds, used)


class TreeCpu:
    """CPU seconds of this process and its descendants, sampled every second while a stage runs.
    Spark's Python daemon lets its exited workers go unaccounted (SIGCHLD ignored), so each process's
    last sampled own time is remembered; children waited for count through their parents."""

    def __init__(self, every: float = 1.0):
        self.every = every
        self.seen: dict[int, float] = {}  # own utime + stime of every process seen in the tree
        self.children = 0.0  # reaped children of live processes (cutime + cstime)
        self._stop = None

    def sample(self) -> float | None:
        root = os.getpid()
        parent: dict[int, list[int]] = {}
        own: dict[int, tuple[int, int]] = {}
        try:
            entries = [e for e in os.listdir("/proc") if e.isdigit()]
        except OSError:
            return None
        for entry in entries:
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            parent.setdefault(int(stat[1]), []).append(int(entry))
            own[int(entry)] = (int(stat[11]) + int(stat[12]), int(stat[13]) + int(stat[14]))
        if root not in own:
            return None
        tick, children, todo = os.sysconf("SC_CLK_TCK"), 0, [root]
        while todo:
            pid = todo.pop()
            self.seen[pid] = own[pid][0] / tick
            children += own[pid][1]
            todo.extend(c for c in parent.get(pid, []) if c in own)
        self.children = max(self.children, children / tick)
        return sum(self.seen.values()) + self.children

    def start(self) -> float | None:
        first = self.sample()
        self._stop = threading.Event()

        def run(stop=self._stop):
            while not stop.wait(self.every):
                self.sample()

        threading.Thread(target=run, daemon=True).start()
        return first

    def stop(self, first: float | None) -> float | None:
        if self._stop is not None:
            self._stop.set()
        last = self.sample()
        return round(last - first, 2) if first is not None and last is not None else None
