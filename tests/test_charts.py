"""The overview's SVG charts: geometry from a compare result, and the page drawing one mark each."""

from __future__ import annotations

import re

from portal.charts import cluster_graph, ratio_histogram, top_sources

pytest_plugins = ["test_portal_support"]


def dup_of(n_docs: int = 6) -> dict:
    docs = [{"id": f"d{i}", "title": f"材料{i}", "chars": 100} for i in range(n_docs)]
    pair = {"a": "d0", "b": "d1", "shared_chars": 50, "earlier": {"source": "a"},
            "passages": [{"a": [0, 50], "b": [0, 50]}]}
    pair2 = {"a": "d0", "b": "d2", "shared_chars": 10, "earlier": {"source": None},
             "passages": [{"a": [0, 10], "b": [90, 100]}]}
    pair3 = {"a": "d3", "b": "d4", "shared_chars": 95, "passages": [{"a": [0, 95], "b": [5, 100]}]}
    return {"documents": docs, "pairs": [pair, pair2, pair3], "minor_pairs": [], "boilerplate": [],
            "clusters": [{"documents": ["d0", "d1", "d2"], "shared_chars": 60},
                         {"documents": ["d3", "d4"], "shared_chars": 95}]}


def test_histogram_counts_every_material_once():
    chart = ratio_histogram(dup_of())
    assert [b.value for b in chart.bars] == [1, 1, 0, 0, 0, 2, 0, 0, 0, 0, 2]  # d5 none; d2 10 %; d0, d1 50 %
    assert sum(b.value for b in chart.bars) == 6
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.value == 2 and all(b.y + b.height == chart.baseline for b in chart.bars)


def test_top_sources_count_the_earlier_side():
    chart = top_sources(dup_of())
    by_id = {b.href_id: b.value for b in chart.bars}
    # d0 is the earlier side of one pair and one side of an undated pair; d3/d4 undated: both count
    assert by_id == {"d0": 2, "d2": 1, "d3": 1, "d4": 1}
    assert chart.bars[0].href_id == "d0" and chart.bars[0].width > chart.bars[1].width


def test_cluster_graph_draws_each_material_and_copying_pair():
    graph = cluster_graph(dup_of())
    assert sorted(n.id for n in graph.nodes) == ["d0", "d1", "d2", "d3", "d4"] and len(graph.edges) == 3
    assert graph.clusters == 2 and graph.hidden == 0
    assert {n.cls for n in graph.nodes if n.id in ("d3", "d4")} == {"src-1"}
    heavy = max(graph.edges, key=lambda e: e.shared)
    assert heavy.shared == 95 and heavy.width == max(e.width for e in graph.edges)
    assert all(0 <= n.x <= graph.width and 0 <= n.y <= graph.height for n in graph.nodes)
    assert cluster_graph(dup_of(), max_nodes=3).hidden == 2


def test_overview_page_draws_the_charts(detect_client):
    html = detect_client.get("/duplicates").get_data(as_text=True)
    assert 'id="chart-ratios"' in html and 'id="chart-graph"' in html and "<script>" not in html
    ratios = html[html.index('id="chart-ratios"'):html.index('id="chart-sources"')]
    assert len(re.findall(r"<rect class=\"bar", ratios)) == 11
    docs = detect_client.get("/api/duplicates").get_json()
    drawn = len(re.findall(r"<circle class=\"node", html))
    assert drawn == sum(len(c["documents"]) for c in docs["clusters"][:12])


def test_charts_drawn_once_per_library_state():
    from portal.charts import overview_charts

    dup = dup_of()
    first = overview_charts(dup)
    assert overview_charts({**dup, "filters": {}}) is first  # the same cached lists: not drawn again
    changed = {**dup, "pairs": dup["pairs"][:1]}
    again = overview_charts(changed)
    assert again is not first and len(again["graph"].edges) == 1


def test_a_large_cluster_stays_inside_the_picture():
    docs = [f"m{i}" for i in range(70)]
    dup = {"documents": [{"id": d, "title": d, "chars": 10} for d in docs],
           "pairs": [{"a": docs[i], "b": docs[i + 1], "shared_chars": 5} for i in range(69)],
           "clusters": [{"documents": docs, "shared_chars": 345}]}
    graph = cluster_graph(dup)
    assert len(graph.nodes) == 70 and graph.width == 760
    assert all(n.r <= n.x <= graph.width - n.r and n.r <= n.y <= graph.height - n.r for n in graph.nodes)
