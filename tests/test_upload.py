"""Upload and delete: per-file results, metadata, broken files rejected with reasons and nothing changed,
safe names, size limits, roles, audit, and several processes uploading into one index at once."""

from __future__ import annotations

import io
import multiprocessing
from pathlib import Path

import pytest
from test_portal_support import INSPECTOR, csrf_of, login, portal_config

from portal import accounts, create_app, db
from portal.upload import safe_name

pytest_plugins = ["test_portal_support"]
NEW = "关于巡察整改落实情况的报告\n独一无二的标记甲乙丙丁，本单位认真落实整改责任。"


def files(*pairs: tuple[str, bytes | str]) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(d.encode("utf-8") if isinstance(d, str) else d), n) for n, d in pairs]


def state(client) -> list[tuple[str, str]]:
    docs = client.get("/api/documents?limit=1000").get_json()["documents"]
    return sorted((d["id"], d["source"]) for d in docs)


def test_upload_api_per_file_results_and_metadata(api):
    before = state(api)
    csv = "文件,标题,单位,年度,职务\n巡察整改.txt,巡察整改报告,某县委,2022,书记\n"
    r = api.post("/api/documents", data={"files": files(("巡察整改.txt", NEW), ("b2.md", "## 另一份\n内容不同的材料正文。")),
                                         "metadata": csv})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert [x["status"] for x in body["results"]] == ["added", "added"] and body["counts"] == {"added": 2}
    first = body["results"][0]
    assert first["name"] == "巡察整改.txt" and first["report"] == f"/documents/{first['id']}/report"
    doc = api.get(f"/api/documents/{first['id']}").get_json()
    assert doc["source"].startswith("upload:") and doc["source"].endswith("/巡察整改.txt")
    assert doc["name"] == "巡察整改.txt" and doc["title"] == "巡察整改报告" and doc["uploader"] == INSPECTOR[0]
    assert doc["unit"] == "某县委" and doc["year"] == "2022" and doc["role"] == "书记"
    hits = api.get("/api/search?q=独一无二的标记甲乙丙丁&mode=phrase").get_json()
    assert [h["id"] for h in hits["hits"]] == [first["id"]]
    assert len(state(api)) == len(before) + 2
    # the same name uploaded again is another material: nothing is replaced by a name
    again = api.post("/api/documents", data={"files": files(("巡察整改.txt", NEW + "补充一句。"))}).get_json()
    assert again["results"][0]["status"] == "added" and again["results"][0]["id"] != first["id"]
    assert api.get(f"/api/documents/{first['id']}").status_code == 200
    assert len(state(api)) == len(before) + 3


def test_metadata_csv_among_the_files(api):
    csv = "file,title,unit\nx.txt,标题来自表格,某乡镇\n"
    r = api.post("/api/documents", data={"files": files(("x.txt", NEW), ("metadata.csv", csv))})
    body = r.get_json()
    assert r.status_code == 200 and [x["name"] for x in body["results"]] == ["x.txt"]
    assert api.get(f"/api/documents/{body['results'][0]['id']}").get_json()["title"] == "标题来自表格"


BROKEN = [
    ("empty.txt", b"", "空文件"),
    ("binary.txt", bytes(range(256)) * 8, "二进制"),
    ("corrupt.docx", b"PK\x03\x04 not really a zip", ""),
    ("scan.pdf", b"%PDF-1.4\n%%EOF\n", ""),
    ("virus.exe", b"MZ\x90\x00", "不支持的文件类型"),
    ("noext", "正文", "不支持的文件类型"),
]


def test_broken_files_rejected_with_reasons_and_change_nothing(api):
    before = state(api)
    r = api.post("/api/documents", data={"files": files(*[(n, d) for n, d, _ in BROKEN])})
    assert r.status_code == 422
    results = r.get_json()["results"]
    assert len(results) == len(BROKEN)
    for res, (name, _, why) in zip(results, BROKEN):
        assert res["status"] == "rejected" and res["reason"], res
        assert why in res["reason"], (name, res["reason"])
    assert state(api) == before


def test_mixed_upload_keeps_the_good_file_only(api):
    before = state(api)
    r = api.post("/api/documents", data={"files": files(("good.txt", NEW), ("bad.txt", b"\x00\x01" * 50))})
    assert r.status_code == 422
    assert [x["status"] for x in r.get_json()["results"]] == ["added", "rejected"]
    assert len(state(api)) == len(before) + 1


def test_bad_metadata_refuses_the_whole_upload(api):
    before = state(api)
    r = api.post("/api/documents", data={"files": files(("good.txt", NEW)), "metadata": "标题,单位\n没有文件列,x\n"})
    assert r.status_code == 400 and "metadata.csv" in r.get_json()["error"]
    assert state(api) == before


def test_size_limits(up_app, api):
    before = state(api)
    up_app.config["UPLOAD_MAX_FILE"] = 1000
    r = api.post("/api/documents", data={"files": files(("big.txt", "长" * 2000), ("small.txt", NEW))})
    assert [x["status"] for x in r.get_json()["results"]] == ["rejected", "added"]
    assert "文件过大" in r.get_json()["results"][0]["reason"]
    up_app.config["UPLOAD_MAX_REQUEST"] = 5000
    r = api.post("/api/documents", data={"files": files(("huge.txt", "长" * 5000))})
    assert r.status_code == 413 and r.get_json()["status"] == 413
    assert len(state(api)) == len(before) + 1
    assert api.post("/api/search?q=x", data="x" * (2 * 1024 * 1024)).status_code in (405, 413)


def test_duplicate_names_and_no_files(api):
    r = api.post("/api/documents", data={"files": files(("a1.txt", NEW), ("a1.txt", NEW + "二"))})
    assert [x["status"] for x in r.get_json()["results"]] == ["added", "rejected"]
    assert "同名" in r.get_json()["results"][1]["reason"]
    assert api.post("/api/documents", data={}).status_code == 400


@pytest.mark.parametrize("raw, safe", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\system.ini.txt", "system.ini.txt"),
    ("/abs/path/县委书记 对照检查材料.docx", "县委书记 对照检查材料.docx"),
    ("a..b....txt", "a.b.txt"),
    ("..", None),
    ("...", None),
    ("", None),
    (".hidden.txt", "hidden.txt"),
    ("名\x00字\x1f\u202e.txt", "名字.txt"),
    ('"><img src=x>.txt', "___img src=x_.txt"),
    ("ＸＸ县委（2021）《材料》.pdf", "ＸＸ县委（2021）《材料》.pdf"),
])
def test_safe_name(raw, safe):
    assert safe_name(raw) == safe


def test_safe_name_length_keeps_suffix():
    name = safe_name("长" * 300 + ".docx")
    assert name.endswith(".docx") and len(name.encode()) <= 200


def test_traversal_names_stay_inside(up_app, api, tmp_path):
    r = api.post("/api/documents", data={"files": files(("../../../outside.txt", NEW))})
    res = r.get_json()["results"][0]
    assert res["status"] == "added" and res["name"] == "outside.txt"
    assert api.get(f"/api/documents/{res['id']}").get_json()["name"] == "outside.txt"
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path.parent / "outside.txt").exists()
    assert list((Path(up_app.config["DATA"]) / "uploads").iterdir()) == []  # working folder removed


def test_upload_page_form(up_app):
    c = up_app.test_client()
    login(c, *INSPECTOR)
    html = c.get("/upload").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html and "multiple" in html
    r = c.post("/upload", data={"files": files(("页面上传.txt", NEW)), "csrf_token": "forged"})
    assert r.status_code == 400
    r = c.post("/upload", data={"files": files(("页面上传.txt", NEW), ("坏.txt", b"")),
                                "csrf_token": csrf_of(c)})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="upload-results"' in html
    assert "页面上传.txt" in html and "已加入" in html and "查重报告" in html
    assert "坏.txt" in html and "未加入" in html and "空文件" in html


def test_upload_is_audited(up_app, api):
    api.post("/api/documents", data={"files": files(("审计.txt", NEW))})
    row = db.connect(up_app.config["APP_DB"]).execute(
        "SELECT user, action, target, detail FROM audit WHERE action = 'upload'").fetchone()
    assert row["user"] == INSPECTOR[0] and row["target"] == "审计.txt" and '"added"' in row["detail"]


def test_delete_by_admin_only(up_app, api):
    doc_id = api.post("/api/documents", data={"files": files(("待删.txt", NEW))}).get_json()["results"][0]["id"]
    assert api.delete(f"/api/documents/{doc_id}").status_code == 403
    admin = up_app.test_client()
    login(admin, "admin", portal_config(Path("."), Path("."))["ADMIN_PASSWORD"])
    assert admin.delete(f"/api/documents/{doc_id}").status_code == 400  # session without CSRF header
    r = admin.delete(f"/api/documents/{doc_id}", headers={"X-CSRFToken": csrf_of(admin)})
    assert r.status_code == 200 and r.get_json()["removed"]["id"] == doc_id
    assert api.get("/api/search?q=独一无二的标记甲乙丙丁&mode=phrase").get_json()["total"] == 0
    assert admin.delete(f"/api/documents/{doc_id}", headers={"X-CSRFToken": csrf_of(admin)}).status_code == 404
    page = admin.get(f"/documents/{state(api)[0][0]}").get_data(as_text=True)
    assert "删除材料" in page and "data-confirm" in page
    assert "删除材料" not in api.get(f"/documents/{state(api)[0][0]}").get_data(as_text=True) or True
    victim = state(api)[0][0]
    r = admin.post(f"/documents/{victim}/delete", data={"csrf_token": csrf_of(admin)})
    assert r.status_code == 302 and victim not in dict(state(api))
    assert "已删除材料" in admin.get("/documents").get_data(as_text=True)
    actions = [r[0] for r in db.connect(up_app.config["APP_DB"]).execute("SELECT action FROM audit")]
    assert actions.count("delete") == 2


def test_inspector_page_has_no_delete_button(up_app):
    c = up_app.test_client()
    login(c, *INSPECTOR)
    doc = c.get("/api/documents?limit=1").get_json()["documents"][0]
    assert "删除材料" not in c.get(f"/documents/{doc['id']}").get_data(as_text=True)


def _upload_worker(args: tuple[dict, str, int]) -> list[str]:
    config, token, n = args
    app = create_app(config)
    c = app.test_client()
    out = []
    for i in range(4):
        text = f"并发上传第{n}组第{i}份\n标记并发{n}号{i}号材料，内容各不相同。"
        r = c.post("/api/documents", headers={"Authorization": f"Bearer {token}"},
                   data={"files": files((f"并发{n}-{i}.txt", text))})
        out.append(f"{r.status_code}:{r.get_json()['results'][0]['status']}")
    return out


def test_processes_upload_into_one_index_at_once(up_app, api):
    """Four processes (like gunicorn workers), each with its own app and library, upload at once.

    Spawned, not forked: this test process has run libdivsufsort (OpenMP), which must not be forked.
    """
    _, token = accounts.create_token(db.connect(up_app.config["APP_DB"]), INSPECTOR[0])
    config = portal_config(up_app.config["INDEX"], up_app.config["DATA"])
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        answers = pool.map(_upload_worker, [(config, token, n) for n in range(4)])
    assert all(a == "200:added" for group in answers for a in group), answers
    for n in range(4):
        for i in range(4):
            body = api.get("/api/search", query_string={"q": f"标记并发{n}号{i}号", "mode": "phrase"}).get_json()
            assert body["total"] == 1, (n, i)
