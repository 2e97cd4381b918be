"""Portal routes through the Flask test client on a real library: pages, JSON API, bad input, escaping."""

from __future__ import annotations

import os
import re
import stat

import pytest
from test_portal_support import XSS_TITLE, XSS_UNIT, doc_ids

from portal import create_app

pytest_plugins = ["test_portal_support"]  # fixtures: app, client, runner, portal_index
HOSTILE = ("<script>", "<img", "<b>")


def assert_inert(html: str) -> None:
    """No markup from the data or the query survived unescaped."""
    for bad in HOSTILE:
        assert bad not in html, bad


def test_home_shows_box_and_counts(client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'lang="zh-CN"' in html and 'name="q"' in html
    assert "库中共 <strong>10</strong> 份材料" in html


def test_security_headers(client):
    r = client.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/api/search?q=政治").headers["X-Content-Type-Options"] == "nosniff"


def test_no_inline_script_and_local_assets(client):
    html = client.get("/?q=政治站位").get_data(as_text=True)
    assert "<script>" not in html and "http://" not in html and "https://" not in html
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200


def test_search_page_highlights_and_keeps_query_in_url(client):
    r = client.get("/?q=政治站位&mode=phrase")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert '<mark class="hit">政治站位</mark>' in html
    assert 'value="政治站位"' in html
    assert 'value="phrase" checked' in html
    assert "?q=%E6%94%BF%E6%B2%BB%E7%AB%99%E4%BD%8D&amp;mode=phrase" in html  # links carry the query


def test_search_facets_filter_and_count(client):
    everything = client.get("/api/search?q=政治站位&mode=phrase").get_json()
    assert everything["facets"]["year"]
    year, n = next(iter(everything["facets"]["year"].items()))
    html = client.get("/?q=政治站位&mode=phrase").get_data(as_text=True)
    assert f'<span class="count">{n}</span>' in html
    filtered = client.get(f"/api/search?q=政治站位&mode=phrase&year={year}").get_json()
    assert filtered["total"] == n and all(h["year"] == year for h in filtered["hits"])
    assert filtered["filters"] == {"year": year}
    page = client.get(f"/?q=政治站位&mode=phrase&year={year}").get_data(as_text=True)
    assert "取消筛选" in page


def test_search_pagination(client):
    full = client.get("/api/search?q=的&mode=phrase&limit=100").get_json()
    assert full["total"] >= 3
    first = client.get("/api/search?q=的&mode=phrase&limit=2").get_json()
    second = client.get("/api/search?q=的&mode=phrase&limit=2&offset=2").get_json()
    assert [h["id"] for h in first["hits"] + second["hits"]] == [h["id"] for h in full["hits"][:4]]
    html = client.get("/?q=的&mode=phrase&limit=2").get_data(as_text=True)
    assert 'rel="next"' in html and "offset=2" in html


def test_api_search_shape(client):
    body = client.get("/api/search?q=政治站位&mode=phrase&limit=20").get_json()
    assert set(body) >= {"query", "mode", "total", "hits", "limit", "offset", "facets"}
    assert body["query"] == "政治站位" and body["mode"] == "phrase" and body["total"] == 7
    hit = body["hits"][0]
    assert set(hit) >= {"id", "source", "title", "matches", "snippet", "snippet_matches"}
    text = client.get(f"/api/documents/{hit['id']}").get_json()["text"]
    for s, e in hit["matches"]:
        assert text[s:e].replace("\n", "") == "政治站位"


def test_api_search_phrase_across_line_break(client):
    ids = doc_ids(client)
    body = client.get("/api/search?q=政治站位不够高&mode=phrase&limit=10000").get_json()
    assert ids["b.txt"] in {h["id"] for h in body["hits"]}


def test_words_and_auto_modes(client):
    assert client.get("/api/search?q=巡视 AND 整改&mode=words").status_code == 200
    auto = client.get("/api/search?q=理论学习").get_json()
    assert auto["mode"] == "auto" and auto["total"] >= 2


@pytest.mark.parametrize("url, status", [
    ("/api/search?q=", 400),
    ("/api/search", 400),
    ("/api/search?q=%20%20%20", 400),
    ("/api/search?q=" + "长" * 501, 400),
    ("/api/search?q=a%00b", 400),
    ("/api/search?q=政治&mode=fuzzy", 400),
    ("/api/search?q=政治&limit=abc", 400),
    ("/api/search?q=政治&limit=-1", 400),
    ("/api/search?q=政治&limit=10001", 400),
    ("/api/search?q=政治&offset=-5", 400),
    ("/api/search?q=政治&offset=99999999999999999999", 400),
    ("/api/search?q=政治&year=2021&unit=", 200),
    ("/api/search?q=(((&mode=words", 400),  # malformed word syntax: a message, not zero hits
    ("/api/search?q=NOT&mode=words", 400),
    ("/api/search?q=year:[2000 TO&mode=words", 400),
    ("/api/search?q=AND (&mode=words", 400),
    ("/api/documents?limit=x", 400),
    ("/api/documents/nonexistent", 404),
    ("/api/documents/" + "f" * 500, 404),
    ("/api/documents/%3Cscript%3E", 404),
    ("/api/nothing-here", 404),
])
def test_api_bad_input_is_json_4xx(client, url, status):
    r = client.get(url)
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.is_json
    if status >= 400:
        body = r.get_json()
        assert body["status"] == status and body["error"]
        assert "Traceback" not in body["error"]


def test_api_wrong_method(client):
    r = client.post("/api/search?q=政治")
    assert r.status_code == 405 and r.get_json()["status"] == 405


@pytest.mark.parametrize("url, status, words", [
    ("/?q=" + "长" * 501, 400, "查询过长"),
    ("/?q=政治&mode=fuzzy", 400, "未知的检索方式"),
    ("/?q=政治&offset=x", 400, "须为整数"),
    ("/documents/nonexistent", 404, "没有这份材料"),
    ("/no/such/page", 404, "没有这个页面"),
])
def test_html_errors_are_chinese_pages(client, url, status, words):
    r = client.get(url)
    assert r.status_code == status
    html = r.get_data(as_text=True)
    assert r.mimetype == "text/html" and words in html and "Traceback" not in html


def test_unexpected_error_is_500_page_without_traceback(app, client, monkeypatch):
    import portal.search

    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(portal.search, "get_index", lambda: type("X", (), {"search": boom})())
    app.config["PROPAGATE_EXCEPTIONS"] = False
    for url in ("/?q=x", "/api/search?q=x"):
        r = client.get(url)
        assert r.status_code == 500
        assert "secret internals" not in r.get_data(as_text=True)


def test_documents_list_and_api(client):
    html = client.get("/documents").get_data(as_text=True)
    assert "全部材料" in html and "10 份" in html
    body = client.get("/api/documents?limit=3&offset=1").get_json()
    assert body["total"] == 10 and len(body["documents"]) == 3
    assert {"id", "source", "title"} <= set(body["documents"][0])
    assert "text" not in body["documents"][0]


def test_document_page_marks_query(client):
    ids = doc_ids(client)
    r = client.get(f"/documents/{ids['b.txt']}?q=政治站位不够高&mode=phrase")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    # the match straddles a line break: one mark, the break kept inside it
    assert re.search(r'<mark class="[^"]*\bhit\b[^"]*"[^>]*>政治站\n位不够高</mark>', html)  # boilerplate may mark it too
    body = client.get(f"/api/documents/{ids['b.txt']}?q=政治站位不够高&mode=phrase").get_json()
    assert body["text"][slice(*body["matches"][0])] == "政治站\n位不够高"


def test_document_words_matches_and_prefix_id(client):
    ids = doc_ids(client)
    body = client.get(f"/api/documents/{ids['a.txt'][:8]}?q=理论 学习&mode=words").get_json()
    assert body["id"] == ids["a.txt"]
    assert {body["text"][s:e] for s, e in body["matches"]} >= {"理论学习"}


def test_hostile_material_is_escaped_everywhere(client):
    ids = doc_ids(client)
    evil = ids["evil.txt"]
    pages = [
        "/?q=理论学习不深不实", "/?q=以干代学&mode=words", "/documents", f"/documents/{evil}",
        f"/documents/{evil}?q=<script>", "/?q=alert",
    ]
    for url in pages:
        r = client.get(url)
        assert r.status_code == 200, url
        html = r.get_data(as_text=True)
        assert_inert(html)
    html = client.get(f"/documents/{evil}").get_data(as_text=True)
    assert "&lt;script&gt;alert(" in html
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;标题" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;县委" in html
    body = client.get(f"/api/documents/{evil}").get_json()
    assert body["title"] == XSS_TITLE and body["unit"] == XSS_UNIT  # JSON keeps the data as it is


@pytest.mark.parametrize("q", ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>',
                               "'-alert(1)-'", "{{7*7}}", "javascript:alert(1)"])
def test_hostile_query_is_escaped(client, q):
    for url in ("/", "/api/search"):
        r = client.get(url, query_string={"q": q, "mode": "phrase"})
        assert r.status_code == 200
    html = client.get("/", query_string={"q": q}).get_data(as_text=True)
    assert_inert(html)
    main = re.sub(r"/[^\s\"<>]*", " ", html.split("<main>")[1].split("</main>")[0])  # links, paths: random ids
    assert "49" not in main
    r = client.get("/", query_string={"q": q, "_scheme": "javascript", "_external": "1", "mode": "phrase"})
    assert "javascript://" not in r.get_data(as_text=True)


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok", "documents": 10}


def test_detection_missing_is_503(client, monkeypatch):
    import portal.index

    class Bare:
        def resolve(self, doc_id):
            raise AssertionError("not reached")

    monkeypatch.setattr(portal.index, "get_index", lambda: Bare())
    assert client.get("/api/duplicates").status_code == 503
    assert "查重功能尚未启用" in client.get("/duplicates").get_data(as_text=True)


def test_secret_key_generated_private_and_stable(tmp_path, portal_index):
    a = create_app({"DATA": tmp_path, "INDEX": portal_index})
    key = tmp_path / "secret_key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert a.config["SECRET_KEY"] == key.read_text().strip() and len(a.config["SECRET_KEY"]) == 64
    assert create_app({"DATA": tmp_path, "INDEX": portal_index}).config["SECRET_KEY"] == a.config["SECRET_KEY"]


def test_config_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DUIZHAO_DATA", str(tmp_path))
    monkeypatch.setenv("DUIZHAO_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("DUIZHAO_PAGE_SIZE", "7")
    monkeypatch.delenv("DUIZHAO_INDEX", raising=False)
    a = create_app()
    assert a.config["INDEX"] == tmp_path / "index"
    assert a.config["SECRET_KEY"] == "k" * 40 and a.config["PAGE_SIZE"] == 7
    assert not (tmp_path / "secret_key").exists()


def test_routes_registered(app):
    rules = {r.rule for r in app.url_map.iter_rules()}
    for rule in ("/api/search", "/api/documents/<doc_id>/report", "/api/compare", "/api/duplicates",
                 "/healthz", "/documents/<doc_id>/report.csv", "/compare", "/duplicates"):
        assert rule in rules


def test_first_start_block_names_the_password_command(tmp_path, portal_index, capsys):
    from portal import bootstrap

    app = create_app({"DATA": tmp_path, "INDEX": portal_index, "PASSWORD_HASH": "scrypt:1024:8:1"})
    bootstrap(app.config)
    err = capsys.readouterr().err
    assert "═" * 20 in err and "portal user passwd admin" in err and "初始密码 " in err
    bootstrap(app.config)  # users exist now: nothing more is printed
    assert capsys.readouterr().err == ""


def test_words_search_twice_on_an_empty_library(tmp_path):
    from test_portal_support import ADMIN_PASSWORD, login, portal_config

    from portal import bootstrap

    app = create_app(portal_config(tmp_path / "index", tmp_path / "data"))
    bootstrap(app.config)
    c = app.test_client()
    login(c, "admin", ADMIN_PASSWORD)
    for _ in range(2):  # the second query used to raise TypeError in Whoosh's refresh of an empty index
        r = c.get("/api/search?q=整改&mode=words")
        assert r.status_code == 200 and r.get_json()["total"] == 0


def test_documents_sorted_filtered_and_paged(client):
    full = client.get("/api/documents?sort=chars&order=desc").get_json()
    chars = [d["chars"] for d in full["documents"]]
    assert chars == sorted(chars, reverse=True) and full["total"] == len(chars)
    assert full["facets"]["year"]
    year, n = next(iter(full["facets"]["year"].items()))
    only = client.get(f"/api/documents?year={year}&sort=unit").get_json()
    assert only["total"] == n and {d["year"] for d in only["documents"]} == {year}
    html = client.get("/documents?sort=chars&order=desc").get_data(as_text=True)
    assert 'aria-sort="descending"' in html and "字数<span class=\"arrow\">▼</span>" in html
    assert "order=asc" in html  # the sorted column's link reverses it
    r = client.get("/api/documents?sort=zzzz")
    assert r.status_code == 400 and "未知的排序方式" in r.get_json()["error"] and "'" not in r.get_json()["error"]


def test_documents_copy_ratio_from_cached_compare_only(app, client):
    from portal.index import get_index

    for name in ("compare.key", "compare.json"):  # another test may have cached it in the shared index
        (app.config["INDEX"] / name).unlink(missing_ok=True)
    before = client.get("/api/documents").get_json()
    assert before["ratios_ready"] is False and all(d["copy_ratio"] is None for d in before["documents"])
    with app.app_context():
        get_index().compare()
    after = client.get("/api/documents?sort=ratio&order=desc").get_json()
    ratios = [d["copy_ratio"] for d in after["documents"]]
    assert after["ratios_ready"] and all(0 <= r <= 1 for r in ratios) and ratios == sorted(ratios, reverse=True)
    assert ratios[0] > 0  # the copied materials of the fixtures come first


def test_ratios_of_unions_passages_per_material():
    from portal.listing import ratios_of

    result = {"pairs": [{"a": "x", "b": "y", "passages": [{"a": [0, 10], "b": [5, 15]}, {"a": [5, 20], "b": [30, 40]}]}],
              "minor_pairs": [{"a": "x", "b": "z", "passages": [{"a": [30, 40], "b": [0, 50]}]}],
              "own_pairs": [{"a": "y", "b": "z", "passages": [{"a": [0, 100], "b": [0, 100]}]}]}
    assert ratios_of(result, {"x": 100, "y": 100, "z": 40, "w": 10}) == {"x": 0.3, "y": 0.2, "z": 1.0, "w": 0.0}


def test_compare_picker_finds_by_title_unit_author(client):
    docs = client.get("/api/documents?limit=1000").get_json()["documents"]
    with_unit = next(d for d in docs if d.get("unit"))
    found = client.get("/api/documents/find", query_string={"q": with_unit["unit"]}).get_json()["documents"]
    assert with_unit["id"] in [d["id"] for d in found]
    title_word = docs[0]["title"][:4]
    found = client.get("/api/documents/find", query_string={"q": title_word, "limit": 3}).get_json()["documents"]
    assert found and len(found) <= 3 and title_word in found[0]["title"]
    assert client.get("/api/documents/find?q=").get_json()["documents"] == []


def test_report_downloads_are_named_for_the_material(client):
    from urllib.parse import unquote

    doc = client.get("/api/documents?limit=1").get_json()["documents"][0]
    for ext in ("csv", "html"):
        r = client.get(f"/documents/{doc['id']}/report.{ext}")
        disposition = r.headers["Content-Disposition"]
        assert f'filename="duizhao-{doc["id"][:16]}.{ext}"' in disposition
        name = unquote(disposition.split("filename*=UTF-8''")[1])
        assert name.startswith("查重报告-") and name.endswith(f"{doc['title']}.{ext}")


def test_compare_page_without_ids_offers_the_picker(client):
    html = client.get("/compare").get_data(as_text=True)
    assert 'class="picker-form"' in html and 'data-find="/api/documents/find"' in html


@pytest.mark.parametrize("query, reason", [
    ("AND (", "括号"), ("巡视 AND", "AND 的两边"), ("NOT", "NOT 后面"), ("巡视 unit:", "unit: 后面"),
    ("()", "括号里没有"), ("year:[2000 TO", "括号"),
])
def test_malformed_word_query_gets_a_message(client, query, reason):
    r = client.get("/api/search", query_string={"q": query, "mode": "words"})
    body = r.get_json()
    assert r.status_code == 400 and reason in body["error"]
    page = client.get("/", query_string={"q": query, "mode": "words"})
    assert page.status_code == 400 and reason in page.get_data(as_text=True)
    assert client.get("/api/search", query_string={"q": "巡视 AND (整改 OR 学习) NOT 形式主义 year:2021",
                                                   "mode": "words"}).status_code == 200


def test_auto_search_says_when_no_material_has_the_whole_phrase(client):
    body = client.get("/api/search?q=政治站位 整改落实不到位").get_json()
    assert body["phrase_total"] == 0 and body["total"] > 0
    html = client.get("/?q=政治站位 整改落实不到位").get_data(as_text=True)
    assert "没有材料含有完整的短语“政治站位 整改落实不到位”，下面是同时含有其中各个词语的材料" in html
    whole = client.get("/?q=政治站位").get_data(as_text=True)
    assert "没有材料含有完整的短语" not in whole



def test_markdown_marks_shown_as_headings_and_bold_with_exact_spans(client):
    from portal.highlight import markdown_marks

    text = "# 标题\n\n**一、存在的主要问题**\n正文"
    marks = {(text[m.start:m.end], m.cls) for m in markdown_marks(text)}
    assert marks == {("# ", "md-mark"), ("标题", "md-h1"), ("**", "md-mark"), ("一、存在的主要问题", "md-strong")}
    hits = client.get("/api/search?q=存在的主要问题&mode=phrase&limit=50").get_json()["hits"]
    doc = next(h for h in hits if "**" in h["snippet"])
    page = client.get("/?q=存在的主要问题&mode=phrase&limit=50").get_data(as_text=True)
    assert '<mark class="md-mark">**</mark>' in page and 'class="md-strong' in page
    html = client.get(f"/documents/{doc['id']}").get_data(as_text=True)
    assert '<mark class="md-mark"># </mark>' in html and 'class="md-h1"' in html
    body = client.get(f"/api/documents/{doc['id']}?q=存在的主要问题&mode=phrase").get_json()
    s, e = body["matches"][0]
    assert body["text"][s:e] == "存在的主要问题" and body["text"].startswith("# ")  # stored text unchanged


def test_audit_details_in_words_and_csv_export(app, client, admin):
    import csv as csv_module
    import io

    from portal.audit_text import describe

    client.get("/?q=政治站位&mode=phrase&year=2021")
    page = admin.get("/admin/audit?action=search").get_data(as_text=True)
    assert "检索方式：短语；筛选：年度 2021；结果：" in page
    assert "filters:" not in page and "{&#34;year" not in page
    assert 'href="/admin/audit.csv?action=search"' in page
    r = admin.get("/admin/audit.csv?action=search")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "filename*=UTF-8''%E5%AE%A1%E8%AE%A1%E6%97%A5%E5%BF%97" in r.headers["Content-Disposition"]
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv_module.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["时间", "用户", "地址", "操作", "对象", "详情"]
    assert rows[1][1:5] == ["inspector", "127.0.0.1", "检索", "政治站位"] and "年度 2021" in rows[1][5]
    assert all(row[3] == "检索" for row in rows[1:])
    assert client.get("/admin/audit.csv").status_code == 403  # inspectors may not read the log
    assert describe({"files": [{"name": "a.txt", "status": "rejected", "reason": "空文件"}], "via": "token"}) \
        == "文件：a.txt（未加入：空文件）；方式：API 令牌"
    assert describe({"formula": "=1+1"}) == "formula：=1+1"  # unknown keys still shown


def test_audit_csv_cells_never_start_a_formula():
    from portal.audit_text import audit_csv

    entries = [{"time": "2026-01-01 00:00:00", "user": "=cmd", "ip": "", "action": "search", "target": "+1",
                "detail": {}}]
    lines = "".join(audit_csv(entries, {"search": "检索"})).splitlines()
    assert lines[1] == "2026-01-01 00:00:00,'=cmd,,检索,'+1,"
