"""Report, compare and overview pages and their API, against the detection stand-in and the real library.

Each test runs twice through ``detect_client``: with ``FakeDetection`` (the agreed dict shapes from
difflib) and with the real ``Library`` once copy detection lands (skipped until then).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from markupsafe import escape
from test_portal_support import XSS_FILE, doc_ids

pytest_plugins = ["test_portal_support"]


def test_report_api_shape(detect_client):
    ids = doc_ids(detect_client)
    rep = detect_client.get(f"/api/documents/{ids['evil.txt']}/report").get_json()
    assert {"document", "chars", "copy_ratio", "copy_ratio_with_boilerplate", "max_single_ratio", "copied_chars",
            "boilerplate_chars", "sources", "passages", "boilerplate"} <= set(rep)
    assert rep["document"]["id"] == ids["evil.txt"]
    assert 0 < rep["copy_ratio"] <= rep["copy_ratio_with_boilerplate"] <= 1
    assert rep["sources"] and rep["passages"]


def test_report_page_figures_sources_and_edits(detect_client):
    ids = doc_ids(detect_client)
    evil = ids["evil.txt"]
    rep = detect_client.get(f"/api/documents/{evil}/report").get_json()
    r = detect_client.get(f"/documents/{evil}/report")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    for label in ("总文字复制比", "单篇最大复制比", "复制字数", "相似来源", "复制片段"):
        assert label in html
    assert f'id="copy-ratio">{100 * rep["copy_ratio"]:.1f}%<' in html
    assert html.count('class="passage ') == len(rep["passages"])
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    top = rep["sources"][0]
    assert html.index(top["title"].replace('"', "&#34;")) < html.index("复制片段")


def test_report_edits_marked_when_versions_differ(detect_client):
    ids = doc_ids(detect_client)
    rep = detect_client.get(f"/api/documents/{ids['evil.txt']}/report").get_json()
    edited = [p for p in rep["passages"] if any(e[0] != "equal" for e in p["edits"])]
    assert edited, "the hostile pair differs by an edit (往深里走、)"
    html = detect_client.get(f"/documents/{ids['evil.txt']}/report").get_data(as_text=True)
    assert '<mark class="del">' in html or '<mark class="chg">' in html


def test_report_downloads(detect_client):
    ids = doc_ids(detect_client)
    evil = ids["evil.txt"]
    r = detect_client.get(f"/documents/{evil}/report.html")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    html = r.get_data(as_text=True)
    assert "<style>" in html and "@media print" in html  # self-contained, printable
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert "/static/" not in html
    r = detect_client.get(f"/documents/{evil}/report.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "材料编号" and rows[1][0] == evil
    n = len(detect_client.get(f"/api/documents/{evil}/report").get_json()["passages"])
    assert len(rows) == 4 + n


def test_csv_cells_cannot_be_formulas(detect_client):
    from portal.reports import csv_cell

    assert csv_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert csv_cell("-1+2") == "'-1+2" and csv_cell("正常") == "正常" and csv_cell(None) == ""


def test_document_page_marks_copied_passages_and_boilerplate(detect_client):
    ids = doc_ids(detect_client)
    evil = ids["evil.txt"]
    rep = detect_client.get(f"/api/documents/{evil}/report").get_json()
    html = detect_client.get(f"/documents/{evil}").get_data(as_text=True)
    assert 'class="mark copy src-0' in html
    assert f'/compare?a={evil}&amp;b={rep["sources"][0]["id"]}' in html  # each passage links to its source
    if rep["boilerplate"]:
        assert 'class="mark boiler copy' in html or 'class="boiler"' in html
    assert "<script>" not in html and "<img" not in html


def test_compare_page_and_api(detect_client):
    ids = doc_ids(detect_client)
    a, b = ids["evil.txt"], next(i for name, i in ids.items() if name == XSS_FILE)
    pair = detect_client.get(f"/api/compare?a={a}&b={b}").get_json()
    assert pair["a"]["id"] == a and pair["b"]["id"] == b and pair["passages"]
    for p in pair["passages"]:
        assert {"a", "b", "similarity", "shared_chars", "text_a", "text_b", "edits"} <= set(p)
    html = detect_client.get(f"/compare?a={a}&b={b}").get_data(as_text=True)
    assert "两份材料比对" in html and html.count('class="passage ') == len(pair["passages"])
    assert "<script>" not in html and "<img" not in html


@pytest.mark.parametrize("query, status", [("", 400), ("?a=abc", 400), ("?a=nonexistent&b=alsonot", 404)])
def test_compare_bad_input(detect_client, query, status):
    assert detect_client.get(f"/api/compare{query}").status_code == status
    r = detect_client.get(f"/compare{query}")
    if status == 400:  # the page without both materials offers the picker instead
        assert r.status_code == 200 and 'class="picker-form"' in r.get_data(as_text=True)
    else:
        assert r.status_code == status and r.mimetype == "text/html"


def test_report_unknown_document(detect_client):
    r = detect_client.get("/api/documents/nonexistent/report")
    assert r.status_code == 404 and r.get_json()["status"] == 404
    assert "没有这份材料" in detect_client.get("/documents/nonexistent/report").get_data(as_text=True)
    assert detect_client.get("/documents/nonexistent/report.csv").status_code == 404


def test_duplicates_api_and_page(detect_client):
    dup = detect_client.get("/api/duplicates").get_json()
    assert {"documents", "pairs", "boilerplate", "clusters"} <= set(dup)
    everything = []
    for key in ("pairs", "minor_pairs", "own_pairs"):  # the real library tiers its pairs; each sorted
        shared = [p["shared_chars"] for p in dup.get(key, [])]
        assert shared == sorted(shared, reverse=True)
        everything += shared
    assert everything
    tier = "copying" if dup["pairs"] else "minor"
    html = detect_client.get(f"/duplicates?tier={tier}").get_data(as_text=True)
    for label in ("材料对", "少量雷同", "互相抄录的材料群", "反复出现的段落"):
        assert label in html
    assert "并排比对" in html and "<script>" not in html and "<img" not in html


def test_duplicates_filter_by_year(detect_client):
    dup = detect_client.get("/api/duplicates?year=2021").get_json()
    assert dup["filters"] == {"year": "2021"}
    assert all(d.get("year") == "2021" for d in dup["documents"])
    assert 'selected>2021<' in detect_client.get("/duplicates?year=2021").get_data(as_text=True)


def test_overview_links_every_material_it_names_without_walking_the_index(detect_client, app, monkeypatch):
    """Regression (page timings): the overview built a title map of every material in its template
    and called ``Library.stats`` (a walk of the index folder) for its unit/year choices."""
    from indexer.library import Library

    def no_stats(self):
        raise AssertionError("the overview page must not call Library.stats")

    monkeypatch.setattr(Library, "stats", no_stats)
    dup = detect_client.get("/api/duplicates").get_json()
    tier = "copying" if dup["pairs"] else "minor"
    html = detect_client.get(f"/duplicates?tier={tier}").get_data(as_text=True)
    titles = {d["id"]: d["title"] for d in detect_client.get("/api/documents?limit=1000").get_json()["documents"]}
    named = {i for p in dup["pairs" if tier == "copying" else "minor_pairs"] for i in (p["a"], p["b"])}
    named |= {i for c in dup["clusters"] for i in c["documents"]}
    assert named
    for i in named:
        assert f'href="/documents/{i}"' in html
    assert "<script>" not in html
    for i in named:
        if "<script>" in titles[i]:
            assert titles[i].replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;") in html
    for unit in detect_client.get("/api/documents?limit=1").get_json()["facets"].get("unit", {}):
        assert ">" + unit.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;") + "<" in html


def test_pages_name_materials_by_file_name_not_source_path(detect_client):
    """Regression: search hits, the report, the compare page and the report's CSV showed a
    material's ``source`` (an absolute path on the server, or ``upload:<uuid>/…``) where people
    know it by its file name."""
    docs = detect_client.get("/api/documents?limit=1000").get_json()["documents"]
    folder = str(Path(docs[0]["source"]).parent.parent)  # the test corpus folder on this machine
    ids = doc_ids(detect_client)
    evil = ids["evil.txt"]
    rep = detect_client.get(f"/api/documents/{evil}/report").get_json()
    other = rep["sources"][0]
    other_name = Path(other["source"]).name  # (the stand-in's sources have no ``name``)
    hits = detect_client.get("/api/search?q=政治站位&limit=100").get_json()["hits"]
    assert hits and all(h["name"] == Path(h["source"]).name for h in hits)
    pages = {"/?q=政治站位&limit=100": [h["name"] for h in hits],
             f"/documents/{evil}/report": ["evil.txt", other_name],
             f"/compare?a={evil}&b={other['id']}": ["evil.txt", other_name],
             f"/documents/{evil}/report.csv": [other_name]}
    for url, names in pages.items():
        r = detect_client.get(url)
        text = r.get_data(as_text=True)
        assert r.status_code == 200 and folder not in text, url
        for name in names:
            assert escape(name) in text or name in text, (url, name)
