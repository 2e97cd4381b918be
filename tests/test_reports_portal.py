"""Issue 10 through the portal: check before adding (nothing added, audited), the 套话 library page
(admins add and remove a phrase, audited, reports follow at once), report PDF/Word/zip downloads
named for the material, tiered and paginated overview, self-compare 100 %."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from test_portal_support import ADMIN_PASSWORD, INSPECTOR, add_user, csrf_of, login, portal_config

from indexer.library import Library
from portal import bootstrap, create_app

pytest_plugins = ["test_portal_support"]
PASSAGE_START = "一是理论学习不深不实不细"


@pytest.fixture
def rapp(tmp_path, samples_dir):
    """A portal over its own library: the samples and a material copying a passage of sample 000."""
    docs = tmp_path / "docs"
    shutil.copytree(samples_dir, docs)
    text = (samples_dir / "000_c5586a85bf0f57cc.txt").read_text(encoding="utf-8")
    i = text.index(PASSAGE_START)
    (docs / "copier.txt").write_text("某县纪委书记对照检查材料\n今年以来认真履职。\n" + text[i:i + 300].replace("省委", "州委")
                                     + "\n下一步，我将持续改进作风。", encoding="utf-8")
    with Library(tmp_path / "index") as lib:
        assert not lib.add([docs]).failed
    app = create_app(portal_config(tmp_path / "index", tmp_path / "data"))
    bootstrap(app.config)
    add_user(app, *INSPECTOR)
    return app


def _client(app, who=INSPECTOR):
    c = app.test_client()
    assert login(c, *who).status_code == 302
    return c


def _ids(client) -> dict[str, str]:
    docs = client.get("/api/documents?limit=100").get_json()["documents"]
    return {Path(d["source"]).name: d["id"] for d in docs}


def _audit(client, action: str) -> list[dict]:
    rows = client.get(f"/api/audit?action={action}").get_json()
    return rows.get("entries", rows.get("rows", []))


def test_check_adds_nothing_and_is_audited(rapp, samples_dir):
    c = _client(rapp)
    before = c.get("/healthz").get_json()["documents"]
    text = (samples_dir / "000_c5586a85bf0f57cc.txt").read_text(encoding="utf-8")
    draft = "草稿\n" + text[text.index(PASSAGE_START):][:400] + "\n其余为本人原创。"
    files = [(io.BytesIO(draft.encode("utf-8")), "草稿.txt"), (io.BytesIO(b"\x00\x01"), "bad.exe")]
    r = c.post("/api/check", data={"files": files}, headers={"X-CSRFToken": csrf_of(c)},
               content_type="multipart/form-data")
    assert r.status_code == 200
    body = r.get_json()
    ok, bad = body["files"]
    assert ok["status"] == "checked" and ok["report"]["copy_ratio"] > 0.5
    assert Path(ok["report"]["sources"][0]["source"]).name in {"000_c5586a85bf0f57cc.txt", "copier.txt"}
    assert bad["status"] == "rejected" and "不支持" in bad["reason"]
    assert body["documents"] == before == c.get("/healthz").get_json()["documents"]
    page = c.post("/check", data={"files": [(io.BytesIO(draft.encode("utf-8")), "草稿.txt")],
                                  "csrf_token": csrf_of(c)}, content_type="multipart/form-data")
    assert page.status_code == 200 and "去除套话复制比" in page.get_data(as_text=True)
    assert c.get("/healthz").get_json()["documents"] == before
    admin = _client(rapp, ("admin", ADMIN_PASSWORD))
    assert "草稿.txt" in admin.get("/admin/audit?action=check").get_data(as_text=True)


def test_stock_page_add_and_remove_a_phrase(rapp, samples_dir):
    c = _client(rapp)
    ids = _ids(c)
    copier = ids["copier.txt"]
    before = c.get(f"/api/documents/{copier}/report").get_json()
    assert before["copy_ratio"] > 0.3
    page = c.get("/stock").get_data(as_text=True)
    assert "套话库" in page and "深入学习贯彻习近平新时代中国特色社会主义思想" in page
    assert c.post("/stock/add", data={"phrase": "x", "csrf_token": csrf_of(c)}).status_code == 403
    admin = _client(rapp, ("admin", ADMIN_PASSWORD))
    text = (samples_dir / "000_c5586a85bf0f57cc.txt").read_text(encoding="utf-8")
    phrase = text[text.index(PASSAGE_START):][:150]  # a paragraph both materials carry
    assert "\n" not in phrase and "省委" not in phrase
    r = admin.post("/stock/add", data={"phrase": phrase, "csrf_token": csrf_of(admin)})
    assert r.status_code == 302
    rep = c.get(f"/api/documents/{copier}/report").get_json()  # at once: no stale cached report
    assert rep["copied_chars"] <= before["copied_chars"] - 120  # all of the phrase left the figures
    assert sum(p["counted_chars"] for p in rep["passages"]) == rep["copied_chars"]
    assert any(b["text"].startswith(phrase[:20]) for b in rep["boilerplate"])  # marked whole, as stock
    usage = c.get("/api/stock?kind=user").get_json()
    (mine,) = usage["phrases"]
    assert mine["phrase"] == phrase and set(mine["documents"]) == {copier, ids["000_c5586a85bf0f57cc.txt"]}
    assert admin.post("/stock/remove", data={"phrase": phrase, "csrf_token": csrf_of(admin)}).status_code == 302
    assert c.get(f"/api/documents/{copier}/report").get_json()["copy_ratio"] > 0.3
    log = admin.get("/admin/audit").get_data(as_text=True)
    assert "新增套话" in log and "删除套话" in log
    bad = admin.post("/stock/add", data={"phrase": "的", "csrf_token": csrf_of(admin)})
    assert bad.status_code == 400 and "至少" in bad.get_data(as_text=True)


def test_report_downloads_pdf_word_zip_named_for_the_material(rapp):
    from docx import Document
    from pypdf import PdfReader

    c = _client(rapp)
    copier = _ids(c)["copier.txt"]
    rep = c.get(f"/api/documents/{copier}/report").get_json()
    page = c.get(f"/documents/{copier}/report").get_data(as_text=True)
    assert rep["check"]["sha256"] in page and "检测人" in page and "inspector" in page
    assert 'class="side-label">本文' in page and "本文独有" in page
    docx = c.get(f"/documents/{copier}/report.docx")
    assert docx.status_code == 200 and "filename*=UTF-8''" in docx.headers["Content-Disposition"]
    name = unquote(docx.headers["Content-Disposition"].split("filename*=UTF-8''")[1])
    assert name.startswith("查重报告-") and copier not in name and name.endswith(".docx")
    cells = [cell.text for t in Document(io.BytesIO(docx.data)).tables for row in t.rows for cell in row.cells]
    assert f"{100 * rep['copy_ratio']:.1f}%" in cells
    pdf = c.get(f"/documents/{copier}/report.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert f"{100 * rep['copy_ratio']:.1f}%" in text and "去除套话复制比" in text
    z = c.get("/reports.zip?format=docx")
    assert z.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(z.data)).namelist()
    assert len(names) == len(_ids(c)) and all(n.startswith("查重报告-") for n in names)
    assert c.get("/reports.zip?format=exe").status_code == 400


def test_overview_tiers_pages_and_figures(rapp):
    c = _client(rapp)
    ids = _ids(c)
    dup = c.get("/api/duplicates").get_json()
    listing = dup["listing"]
    assert listing["tier"] == "copying" and listing["total"] == len(dup["pairs"])
    (pair,) = [p for p in dup["pairs"] if {p["a"], p["b"]} == {ids["copier.txt"], ids["000_c5586a85bf0f57cc.txt"]}]
    cmp = c.get(f"/api/compare?a={pair['a']}&b={pair['b']}").get_json()
    assert (cmp["similarity"], cmp["shared_chars"]) == (pair["similarity"], pair["shared_chars"])
    html = c.get(f"/compare?a={pair['a']}&b={pair['b']}").get_data(as_text=True)
    assert f"{100 * pair['similarity']:.1f}%" in html
    same = c.get(f"/api/compare?a={pair['a']}&b={pair['a']}").get_json()
    assert same["similarity"] == 1.0
    assert c.get("/api/duplicates?tier=nonsense").status_code == 400
    assert c.get("/api/duplicates?min_ratio=101").status_code == 400
    high = c.get("/api/duplicates?min_ratio=99").get_json()["listing"]
    assert all(p["similarity"] >= 0.99 for p in high["pairs"])


def test_overview_api_is_paged_and_the_complete_result_streams_from_the_cache(rapp):
    """Regression (page timings): ``/api/duplicates`` answered the whole compare (95 MB of JSON on
    10,000 materials, 3.8 s); it now answers pages with totals and links, and the complete result
    is a download streamed from the cached compare file."""
    c = _client(rapp)
    first = c.get("/api/duplicates?limit=2")
    assert first.status_code == 200
    dup = first.get_json()
    assert {"documents", "pairs", "boilerplate", "clusters", "listing", "filters", "page"} <= set(dup)
    page = dup["page"]
    assert (page["offset"], page["limit"], page["previous"]) == (0, 2, None)
    assert all(len(dup[k]) <= 2 for k in ("documents", "pairs", "minor_pairs", "boilerplate", "clusters"))
    assert all(len(b["occurrences"]) == min(2, b["occurrences_total"]) for b in dup["boilerplate"])
    complete = c.get(page["complete"])
    assert complete.status_code == 200 and complete.is_streamed
    assert "attachment" in complete.headers["Content-Disposition"]
    assert "%E9%87%8D%E5%A4%8D%E6%80%BB%E8%A7%88.json" in complete.headers["Content-Disposition"]  # 重复总览
    with Library(Path(rapp.config["INDEX"])) as lib:
        assert complete.data == (lib.path / "compare.json").read_bytes()
    whole = json.loads(complete.data)
    assert page["totals"]["documents"] == len(whole["documents"]) > 2
    seen: dict[str, list] = {k: [] for k in ("documents", "pairs", "boilerplate", "clusters")}
    url, pages = "/api/duplicates?limit=2", 0
    while url:  # following ``next`` reaches every item of every list exactly once
        body = c.get(url).get_json()
        for key in seen:
            seen[key] += body[key]
        url, pages = body["page"]["next"], pages + 1
    assert pages == -(-max(page["totals"].values()) // 2)
    for key in ("documents", "pairs", "clusters"):
        assert seen[key] == whole[key]
    assert [b["text"] for b in seen["boilerplate"]] == [b["text"] for b in whole["boilerplate"]]
    assert c.get("/api/duplicates").get_json()["page"]["limit"] == 50
    for bad in ("limit=0", "limit=1001", "offset=-1", "limit=x"):
        r = c.get(f"/api/duplicates?{bad}")
        assert r.status_code == 400 and r.get_json()["code"]
    filtered = c.get("/api/duplicates.json?year=2021")
    assert filtered.status_code == 200 and json.loads(filtered.data)["filters"] == {"year": "2021"}
