"""Pictures of the corpus overview, drawn as SVG on the server (offline, no script, no library).

Three charts from the overview's data (the ``indexer compare --json`` shape): how 复制比 is spread
across the library, the materials most copied from, and the clusters of materials that copy from
each other as a graph. The functions here compute geometry only; ``templates/_charts.html`` draws
it (SVG presentation attributes, no inline style, so the CSP holds).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from .listing import ratios_of

PALETTE = 8  # cluster colours reuse the source colours src-0 … src-7 of style.css


@dataclass
class Bar:
    """One bar: its box, label, value and the link it opens (if any)."""

    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    note: str = ""
    href_id: str | None = None


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    baseline: float = 0.0


@dataclass
class Node:
    id: str
    title: str
    x: float
    y: float
    r: float
    cls: str
    shared: int


@dataclass
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    width: float
    shared: int
    title: str


@dataclass
class Graph:
    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]
    clusters: int
    hidden: int  # materials in clusters not drawn (beyond the limits)


def ratio_histogram(dup: dict, *, buckets: int = 10, width: int = 640, height: int = 220) -> Chart:
    """How many materials have no copied text, and how many fall in each tenth of 复制比."""
    chars = {d["id"]: int(d.get("chars") or 0) for d in dup.get("documents") or []}
    ratios = ratios_of(dup, chars)
    counts = [0] * (buckets + 1)
    for r in ratios.values():
        counts[0 if r <= 0 else min(buckets, math.ceil(r * buckets - 1e-9))] += 1
    labels = ["无"] + [f"{100 * i // buckets}–{100 * (i + 1) // buckets}%" for i in range(buckets)]
    left, top, bottom = 10, 22, 40
    inner_h = height - top - bottom
    step = (width - 2 * left) / len(counts)
    peak = max(counts) or 1
    chart = Chart(width, height, baseline=top + inner_h)
    for i, (n, label) in enumerate(zip(counts, labels)):
        h = inner_h * n / peak
        chart.bars.append(Bar(left + i * step + 3, top + inner_h - h, step - 6, h, label, n,
                              f"复制比{label}：{n} 份" if i else f"没有复制：{n} 份"))
    return chart


def top_sources(dup: dict, *, limit: int = 10, width: int = 640, row: int = 26) -> Chart:
    """The materials most copied from: how many materials share copied passages with each, counting
    only the earlier of a pair when it is known (the likely source)."""
    copied_by: dict[str, set[str]] = defaultdict(set)
    shared: dict[str, int] = defaultdict(int)
    for pair in dup.get("pairs") or []:
        side = (pair.get("earlier") or {}).get("source")
        sides = [side] if side in ("a", "b") else ["a", "b"]
        for s in sides:
            source, other = pair[s], pair["b" if s == "a" else "a"]
            copied_by[source].add(other)
            shared[source] += int(pair.get("shared_chars") or 0)
    titles = {d["id"]: d.get("title") or d["id"][:12] for d in dup.get("documents") or []}
    ranked = sorted(copied_by, key=lambda i: (-len(copied_by[i]), -shared[i], i))[:limit]
    label_w, left = 260, 4
    chart = Chart(width, row * len(ranked) + 8)
    peak = max((len(copied_by[i]) for i in ranked), default=1)
    for k, doc_id in enumerate(ranked):
        n = len(copied_by[doc_id])
        w = (width - label_w - 120) * n / peak
        title = titles.get(doc_id, doc_id[:12])
        chart.bars.append(Bar(left + label_w, 4 + k * row, max(w, 2), row - 8, title, n,
                              f"{n} 份材料与它重合，共 {shared[doc_id]} 字", doc_id))
    return chart


def cluster_graph(dup: dict, *, max_nodes: int = 80, max_clusters: int = 12, width: int = 760) -> Graph:
    """The clusters as a graph: each cluster's materials on a circle in its own cell, an edge per
    copying pair (width by shared characters), node size by the characters a material shares."""
    clusters = dup.get("clusters") or []
    titles = {d["id"]: d.get("title") or d["id"][:12] for d in dup.get("documents") or []}
    chosen: list[list[str]] = []
    used = 0
    for c in clusters[:max_clusters]:
        docs = list(c["documents"])
        if used + len(docs) > max_nodes:
            break
        chosen.append(docs)
        used += len(docs)
    hidden = sum(len(c["documents"]) for c in clusters) - used
    drawn = {d: i for i, docs in enumerate(chosen) for d in docs}
    pairs = [p for p in dup.get("pairs") or [] if p["a"] in drawn and drawn.get(p["b"]) == drawn[p["a"]]]
    node_shared: dict[str, int] = defaultdict(int)
    for p in pairs:
        node_shared[p["a"]] += int(p.get("shared_chars") or 0)
        node_shared[p["b"]] += int(p.get("shared_chars") or 0)
    top_node = max(node_shared.values(), default=1) or 1
    top_edge = max((int(p.get("shared_chars") or 0) for p in pairs), default=1) or 1

    pos: dict[str, tuple[float, float]] = {}
    nodes: list[Node] = []
    x = y = 0.0
    row_h = 0.0
    gap = 24
    for i, docs in enumerate(chosen):
        radius = min(20 + 9 * len(docs), width / 2 - gap - 14) if len(docs) > 2 else 36
        cell = 2 * radius + 2 * gap
        if x + cell > width and x > 0:
            x, y, row_h = 0.0, y + row_h, 0.0
        cx, cy = x + cell / 2, y + cell / 2
        for k, doc_id in enumerate(docs):
            angle = 2 * math.pi * k / len(docs) - (math.pi / 2 if len(docs) > 2 else 0)
            px, py = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
            pos[doc_id] = (px, py)
            nodes.append(Node(doc_id, titles.get(doc_id, doc_id[:12]), round(px, 1), round(py, 1),
                              round(4 + 8 * math.sqrt(node_shared[doc_id] / top_node), 1),
                              f"src-{i % PALETTE}", node_shared[doc_id]))
        x += cell
        row_h = max(row_h, cell)
    edges = []
    for p in pairs:
        (x1, y1), (x2, y2) = pos[p["a"]], pos[p["b"]]
        n = int(p.get("shared_chars") or 0)
        names = f"{titles.get(p['a'], p['a'][:12])} — {titles.get(p['b'], p['b'][:12])}"
        edges.append(Edge(round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1),
                          round(1 + 5 * n / top_edge, 1), n, f"{names}：重合 {n} 字"))
    return Graph(width, int(y + row_h) if nodes else 0, nodes, edges, len(chosen), hidden)


_drawn: dict[tuple[int, ...], tuple[tuple, dict]] = {}  # ids of the inputs -> (the inputs, the charts)
KEPT = 8  # the whole library's overview and a few unit/year filters per process


def overview_charts(dup: dict) -> dict:
    """The three charts of the overview page (empty ones when there is nothing to draw). The cached
    corpus compare hands out the same lists until the library changes, so a process draws its
    charts once per library state and filter (the inputs are held, so identity means equality)."""
    inputs = tuple(dup.get(k) for k in ("documents", "pairs", "minor_pairs", "clusters"))
    key = tuple(id(x) for x in inputs)
    found = _drawn.pop(key, None)
    if found is None or not all(a is b for a, b in zip(found[0], inputs)):
        charts = {"ratios": ratio_histogram(dup), "sources": top_sources(dup), "graph": cluster_graph(dup)}
        found = (inputs, charts)
    _drawn[key] = found  # most recent last
    while len(_drawn) > KEPT:
        del _drawn[next(iter(_drawn))]
    return found[1]
