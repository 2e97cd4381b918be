"""Identity: every submitted file is its own material; the same material only at the same source.

Library, CLI and portal tests for each case of issue 8 (same name from two folders or uploads, many
folders of f0–f2, byte-identical files, explicit new versions, re-add is a no-op, roles for new
versions and removal), metadata edits and a late ``metadata.csv``, the migration of an index
written before identity existed, and a property test over random sequences of changes.
"""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
import uuid
from pathlib import Path

import pytest
from conftest import SAMPLES, TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_portal_support import INSPECTOR, add_user, csrf_of, login, portal_config

from indexer import ingest
from indexer.cli import main
from indexer.errors import InvalidMetadata
from indexer.library import Library
from portal import accounts, bootstrap, create_app, db

pytest_plugins = ["test_portal_support"]
SAMPLE = (SAMPLES / "001_9ec64d2555574bdf.txt").read_text(encoding="utf-8")
OTHER = ("other", "other-pass-12")


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- library and command line ---------------------------------------------------------------------

def test_same_name_in_two_folders_is_two_materials(tmp_path, capsys):
    index = tmp_path / "index"
    write(tmp_path / "2023", "张三.txt", "张三二〇二三年对照检查材料：学习不够深入。")
    write(tmp_path / "2024", "张三.txt", "张三二〇二四年对照检查材料：担当不够有力。")
    code, out, _ = run(capsys, "--index", index, "add", "-q", tmp_path / "2023")
    assert code == 0 and "新增 1" in out
    code, out, _ = run(capsys, "--index", index, "add", "-q", tmp_path / "2024")
    assert code == 0 and "新增 1" in out and "新版本 0" in out
    code, out, _ = run(capsys, "--index", index, "ls", "--json")
    docs = json.loads(out)["documents"]
    assert len(docs) == 2 and [d["name"] for d in docs] == ["张三.txt", "张三.txt"]
    assert len({d["source"] for d in docs}) == 2
    code, out, _ = run(capsys, "--index", index, "add", "-q", tmp_path / "2023", tmp_path / "2024")
    assert "新增 0" in out and "未变 2" in out  # re-adding is a no-op


def test_twelve_folders_of_three_files_are_36_materials(tmp_path):
    with Library(tmp_path / "index") as lib:
        for i in range(12):
            for j in range(3):
                write(tmp_path / f"d{i:02d}", f"f{j}.txt", f"第{i}组第{j}份材料，内容各不相同。")
            assert lib.add([tmp_path / f"d{i:02d}"]).count("added") == 3
        assert len(lib) == 36
        assert lib.add([tmp_path / f"d{i:02d}" for i in range(12)]).count("unchanged") == 36
        assert len(lib) == 36


def test_byte_identical_file_elsewhere_is_a_new_material_reported_as_a_full_copy(tmp_path):
    first = write(tmp_path / "甲单位", "对照检查材料.txt", SAMPLE)
    second = write(tmp_path / "乙单位", "对照检查材料.txt", SAMPLE)
    with Library(tmp_path / "index") as lib:
        a = lib.add([first]).results[0]
        b = lib.add([second]).results[0]
        assert (a.status, b.status) == ("added", "added") and a.id != b.id and len(lib) == 2
        rep = lib.report(b.id)
        assert rep["sources"][0]["id"] == a.id
        assert rep["max_single_ratio"] >= 0.99 and rep["sources"][0]["ratio"] >= 0.99


def test_changed_file_at_the_same_place_is_a_new_version(tmp_path, capsys):
    index = tmp_path / "index"
    path = write(tmp_path / "docs", "李四.txt", "李四对照检查材料：第一稿，学习不够深入。")
    run(capsys, "--index", index, "add", "-q", tmp_path / "docs")
    path.write_text("李四对照检查材料：第二稿，担当作为不够。", encoding="utf-8")
    code, out, _ = run(capsys, "--index", index, "add", "-q", tmp_path / "docs")
    assert code == 0 and "新版本（第 2 版，旧版本已保留）" in out and "新版本 1" in out and "新增 0" in out
    code, out, _ = run(capsys, "--index", index, "ls", "--json")
    (doc,) = json.loads(out)["documents"]
    assert doc["version"] == 2
    code, out, _ = run(capsys, "--index", index, "versions", doc["id"])
    assert "第 1 版" in out and "命令行" in out
    code, out, _ = run(capsys, "--index", index, "search", "--json", "--mode", "phrase", "第一稿")
    assert json.loads(out)["total"] == 0
    code, out, _ = run(capsys, "--index", index, "add", "-q", tmp_path / "docs")
    assert "未变 1" in out


def test_explicit_new_version_from_the_command_line(tmp_path, capsys):
    index = tmp_path / "index"
    write(tmp_path / "docs", "王五.txt", "王五对照检查材料：原稿。")
    new = write(tmp_path / "elsewhere", "王五修改稿.txt", "王五对照检查材料：修改稿，整改措施更具体。")
    run(capsys, "--index", index, "add", "-q", tmp_path / "docs")
    code, out, _ = run(capsys, "--index", index, "ls", "--json")
    doc_id = json.loads(out)["documents"][0]["id"]
    code, out, _ = run(capsys, "--index", index, "replace", doc_id, new)
    assert code == 0 and "第 2 版" in out
    code, out, _ = run(capsys, "--index", index, "replace", doc_id, new)
    assert "相同" in out
    with Library(index) as lib:
        doc = lib.get(doc_id)
        assert "修改稿" in doc.text and doc.name == "王五修改稿.txt" and len(lib) == 1
        assert "原稿" in lib.version(doc_id, 1).text
        # the old file at the material's source is an earlier version: re-adding changes nothing
        assert lib.add([tmp_path / "docs"]).results[0].status == "unchanged"
        assert lib.get(doc_id).version == 2


def test_same_file_given_twice_in_one_run(tmp_path):
    write(tmp_path / "docs", "a.txt", TINY["a.txt"])
    with Library(tmp_path / "index") as lib:
        report = lib.add([tmp_path / "docs", tmp_path / "docs" / "a.txt"])
        assert sorted(r.status for r in report.results) == ["added", "unchanged"] and len(lib) == 1
        assert len({r.id for r in report.results}) == 1


def test_meta_command_updates_facets_and_the_word_index(tmp_path, capsys, tiny_dir):
    index = tmp_path / "index"
    run(capsys, "--index", index, "add", "-q", tiny_dir)
    with Library(index) as lib:
        doc_id = next(d.id for d in lib.live.values() if d.name == "a.txt")
    code, out, _ = run(capsys, "--index", index, "meta", doc_id, "--unit", "新设单位", "--year", "2020",
                       "--title", "改过的标题")
    assert code == 0 and "元数据已更新" in out
    with Library(index) as lib:
        doc = lib.get(doc_id)
        assert (doc.unit, doc.year, doc.title) == ("新设单位", "2020", "改过的标题")
        assert lib.stats()["facets"]["unit"] == {"新设单位": 1}
        for mode in ("phrase", "words", "auto"):
            hits = lib.search("政治站位", mode=mode, filters={"unit": "新设单位"}).hits
            assert [(h.id, h.title) for h in hits] == [(doc_id, "改过的标题")], mode
        assert lib.search("unit:新设单位", mode="words").total == 1  # Whoosh's own field followed
        assert lib.search("year:2020 政治站位", mode="words").total == 1
    run(capsys, "--index", index, "meta", doc_id, "--unit", "")
    with Library(index) as lib:
        assert lib.get(doc_id).unit is None and lib.search("unit:新设单位", mode="words").total == 0
    code, _, err = run(capsys, "--index", index, "meta", doc_id, "--title", "")
    assert code == 2 and "标题不能为空" in err


def test_late_metadata_csv_updates_materials_already_in(tmp_path, capsys, tiny_dir):
    index = tmp_path / "index"
    run(capsys, "--index", index, "add", "-q", tiny_dir)
    (tiny_dir / "metadata.csv").write_text("文件,单位,年度,职务\na.txt,某县委,2022,书记\n", encoding="utf-8-sig")
    code, out, _ = run(capsys, "--index", index, "add", "-q", tiny_dir)
    assert code == 0 and "元数据已更新 1" in out and "未变 2" in out and "元数据已更新：" in out
    with Library(index) as lib:
        a = next(d for d in lib.live.values() if d.name == "a.txt")
        assert (a.unit, a.year, a.role, a.version) == ("某县委", "2022", "书记", 1)
        assert lib.search("政治站位", filters={"unit": "某县委"}).total == 1
        assert lib.search("unit:某县委", mode="words").total == 1
    code, out, _ = run(capsys, "--index", index, "add", "-q", tiny_dir)
    assert "元数据已更新 0" in out and "未变 3" in out


def test_metadata_values_are_checked(lib, tiny_dir):
    lib.add([tiny_dir])
    doc = next(iter(lib.live.values()))
    with pytest.raises(InvalidMetadata):
        lib.update_metadata(doc.id, unit="长" * 500)
    with pytest.raises(InvalidMetadata):
        lib.update_metadata(doc.id, unit="单\x00位")
    assert lib.get(doc.id).unit is None
    assert lib.update_metadata(doc.id, unit="  某  单位 ").unit == "某 单位"


def test_crash_between_metadata_commit_and_word_index_is_repaired(lib, tiny_dir, monkeypatch):
    """SQLite is the commit point: a writer killed before Whoosh has the new metadata leaves a
    ``words_todo`` row, and the next writer (or opening the library) rewrites the entry."""
    from indexer import writer as writer_module

    lib.add([tiny_dir])
    doc = next(d for d in lib.live.values() if d.name == "a.txt")

    def dying(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_module, "update_words", dying)
    with pytest.raises(KeyboardInterrupt):
        lib.update_metadata(doc.id, unit="崩溃前单位")
    monkeypatch.undo()
    assert lib.store.words_todo() == [doc.id] and (lib.path / "dirty").exists()
    with Library(lib.path) as again:
        assert again.get(doc.id).unit == "崩溃前单位"
        assert again.search("unit:崩溃前单位", mode="words").total == 1
        assert again.store.words_todo() == []


def test_crash_before_a_new_version_commits_keeps_the_old_one_searchable(lib, tiny_dir, monkeypatch):
    """The new version's segment and word entry are written, then the process dies before SQLite
    commits: the old version stays the live one and searchable, by phrase and by words."""
    lib.add([tiny_dir])
    doc = next(d for d in lib.live.values() if d.name == "a.txt")
    (tiny_dir / "a.txt").write_text("# 县委书记对照检查材料\n没有提交的新稿：作风建设不够扎实。", encoding="utf-8")

    def dying(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lib.store, "commit_batch", dying)
    with pytest.raises(KeyboardInterrupt):
        lib.add([tiny_dir / "a.txt"])
    monkeypatch.undo()
    with Library(lib.path) as again:
        assert again.get(doc.id).version == 1 and len(again) == 3
        assert again.search("往心里走", mode="phrase").total == 1
        assert again.search("往心里走", mode="words").total == 1
        assert again.search("作风建设不够扎实", mode="phrase").total == 0
        res = again.add([tiny_dir / "a.txt"]).results[0]
        assert (res.status, res.id) == ("replaced", doc.id)
        assert again.search("作风建设不够扎实", mode="words").total == 1
        assert again.search("往心里走", mode="words").total == 0


# -- migration of an index written before identity ---------------------------------------------------

OLD_SCHEMA = """
CREATE TABLE documents (
    docnum INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source TEXT NOT NULL, title TEXT NOT NULL,
    unit TEXT, author TEXT, role TEXT, year TEXT, meeting TEXT, chars INTEGER NOT NULL,
    added REAL NOT NULL, text TEXT NOT NULL
);
CREATE INDEX documents_source ON documents(source);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def old_index(folder: Path, tiny_dir: Path) -> dict[str, str]:
    """An index as the code before identity wrote it: content-derived ids, sources relative to the
    folder added, no derived data yet (a ``dirty`` marker makes the first open build it)."""
    import hashlib

    from indexer.text import clean_stored

    folder.mkdir()
    conn = sqlite3.connect(folder / "documents.sqlite")
    conn.executescript(OLD_SCHEMA)
    ids = {}
    for num, name in enumerate(sorted(TINY), start=1):
        text = clean_stored((tiny_dir / name).read_text(encoding="utf-8"))
        ids[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
        conn.execute("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     (num, ids[name], name, f"旧标题{num}", "旧单位", None, None, "2021", None, len(text),
                      1_600_000_000.0, text))
    conn.execute("INSERT INTO state VALUES ('generation', '3')")
    conn.commit()
    conn.close()
    (folder / "dirty").touch()
    return ids


def test_old_index_is_migrated_on_open_without_losing_anything(tmp_path, tiny_dir):
    ids = old_index(tmp_path / "index", tiny_dir)
    with Library(tmp_path / "index") as lib:
        assert len(lib) == 3
        for name, doc_id in ids.items():
            doc = lib.get(doc_id)  # old ids still resolve
            assert doc.source == f"legacy:{name}" and doc.name == name and doc.version == 1
            assert doc.unit == "旧单位" and doc.title.startswith("旧标题") and doc.digest
        assert lib.search("政治站位", mode="phrase").total == 2
        assert lib.search("政治站位", mode="words").total == 2
        # the same folder added again claims the migrated rows: no duplicates, same ids
        report = lib.add([tiny_dir])
        assert [r.status for r in report.results] == ["unchanged"] * 3
        assert {r.id for r in report.results} == set(ids.values()) and len(lib) == 3
        assert {d.source for d in lib.live.values()} == {(tiny_dir / n).resolve().as_posix() for n in TINY}
        (tiny_dir / "a.txt").write_text("# 县委书记对照检查材料\n改过的内容。", encoding="utf-8")
        assert [(r.status, r.id) for r in lib.add([tiny_dir / "a.txt"]).results] == [("replaced", ids["a.txt"])]
    with Library(tmp_path / "index") as lib:  # opening a migrated index again changes nothing
        assert len(lib) == 3 and lib.get(ids["a.txt"]).version == 2


def test_migrated_row_with_other_content_is_not_claimed(tmp_path, tiny_dir):
    ids = old_index(tmp_path / "index", tiny_dir)
    other = write(tmp_path / "other", "a.txt", "另一个单位的同名材料，内容完全不同。")
    with Library(tmp_path / "index") as lib:
        res = lib.add([tmp_path / "other"]).results[0]
        assert res.status == "added" and res.id not in ids.values() and len(lib) == 4
        assert lib.get(ids["a.txt"]).source == "legacy:a.txt"
        assert other.exists()
        # an upload is a new material even with the name and text of a migrated one
        job = ingest.FileJob(tiny_dir / "b.txt", f"upload:{uuid.uuid4().hex}/b.txt")
        with lib.writer(user="someone") as w:
            res = w.add_jobs([job]).results[0]
        assert res.status == "added" and lib.get(ids["b.txt"]).source == "legacy:b.txt" and len(lib) == 5


# -- property: nothing accepted is ever lost ---------------------------------------------------------

TEXTS = ["第一种材料：学习不够深入。", "第二种材料：担当不够有力。", "第三种材料：整改不够彻底。"]
OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 2), st.integers(0, 1), st.integers(0, 2)),
    st.tuples(st.just("upload"), st.integers(0, 1), st.integers(0, 2)),
    st.tuples(st.just("version"), st.integers(0, 20), st.integers(0, 2)),
    st.tuples(st.just("remove"), st.integers(0, 20)),
), min_size=1, max_size=7)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_every_accepted_file_is_live_or_explicitly_replaced_or_removed(ops):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        accepted: list[tuple[str, str]] = []  # (material id, text) of every accepted file
        current: dict[str, str] = {}  # the model: live material → its text
        removed: set[str] = set()
        with Library(root / "index") as lib:
            for op in ops:
                if op[0] == "add":  # indexer add of a file in one of three folders
                    _, folder, name, t = op
                    path = write(root / f"folder{folder}", f"n{name}.txt", f"{TEXTS[t]}{folder}{name}")
                    res = lib.add([path]).results[0]
                    text = path.read_text(encoding="utf-8")
                elif op[0] == "upload":  # each upload is its own source
                    _, name, t = op
                    path = write(root / uuid.uuid4().hex, f"n{name}.txt", TEXTS[t])
                    job = ingest.FileJob(path, f"upload:{uuid.uuid4().hex}/n{name}.txt")
                    with lib.writer(user="someone") as w:
                        res = w.add_jobs([job]).results[0]
                    text = TEXTS[t]
                    assert res.status == "added"
                elif op[0] == "version":
                    if not current:
                        continue
                    _, k, t = op
                    doc_id = sorted(current)[k % len(current)]
                    text = f"{TEXTS[t]}（修改稿{k}）"
                    res = lib.replace(doc_id, write(root / uuid.uuid4().hex, "new.txt", text))
                    assert res.id == doc_id
                else:
                    if not current:
                        continue
                    doc_id = sorted(current)[op[1] % len(current)]
                    lib.remove(doc_id)
                    removed.add(doc_id)
                    del current[doc_id]
                    continue
                assert res.status in ("added", "replaced", "unchanged"), res
                if res.status == "added":
                    assert res.id not in current and res.id not in removed
                else:
                    assert res.id in current
                if res.status != "unchanged":  # unchanged: the file is the live or an earlier version
                    current[res.id] = text
                accepted.append((res.id, text))
            live = {d.id: lib.get(d.id).text for d in lib.live.values()}
            assert live == current
            for doc_id, text in accepted:
                if doc_id in removed:
                    continue
                kept = [live[doc_id]] + [lib.version(doc_id, v.version).text for v in lib.versions(doc_id)]
                assert text in kept, (doc_id, text)


# -- portal ------------------------------------------------------------------------------------------

NEW = "关于巡察整改落实情况的报告\n独一无二的标记甲乙丙丁，本单位认真落实整改责任。"


@pytest.fixture
def id_app(tmp_path: Path):
    with Library(tmp_path / "index") as lib:
        lib.add([write(tmp_path / "docs", "cli.txt", TINY["a.txt"])])
    app = create_app(portal_config(tmp_path / "index", tmp_path / "data"))
    bootstrap(app.config)
    add_user(app, *INSPECTOR)
    add_user(app, *OTHER)
    return app


def token_client(app, user: str):
    _, token = accounts.create_token(db.connect(app.config["APP_DB"]), user)
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return c


def upload(client, name: str, text: str, **extra) -> dict:
    r = client.post("/api/documents", data={"files": [(io.BytesIO(text.encode()), name)], **extra})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()["results"][0]


def put(client, doc_id: str, name: str, text: str):
    return client.put(f"/api/documents/{doc_id}", data={"file": (io.BytesIO(text.encode()), name)})


def test_same_name_uploaded_twice_is_two_materials(id_app):
    api = token_client(id_app, INSPECTOR[0])
    first = upload(api, "对照检查材料.docx.txt", NEW)
    second = upload(api, "对照检查材料.docx.txt", NEW)  # byte-identical too
    assert first["status"] == second["status"] == "added" and first["id"] != second["id"]
    a, b = (api.get(f"/api/documents/{x['id']}").get_json() for x in (first, second))
    assert a["name"] == b["name"] == "对照检查材料.docx.txt" and a["source"] != b["source"]
    assert a["uploader"] == INSPECTOR[0]
    body = api.get("/api/search?q=独一无二的标记甲乙丙丁&mode=phrase").get_json()
    assert body["total"] == 2


def test_new_version_by_owner_other_inspector_and_admin(id_app):
    owner, other = token_client(id_app, INSPECTOR[0]), token_client(id_app, OTHER[0])
    mine = upload(owner, "整改报告.txt", NEW)["id"]
    cli_doc = next(d["id"] for d in owner.get("/api/documents").get_json()["documents"] if d["name"] == "cli.txt")
    assert put(other, mine, "x.txt", NEW + "他人的修改").status_code == 403
    assert put(owner, cli_doc, "x.txt", "命令行加入的材料不属于检查员").status_code == 403
    r = put(owner, mine, "整改报告第二稿.txt", NEW + "补充：第二稿。")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["result"]["status"] == "replaced" and body["document"]["version"] == 2
    assert body["document"]["id"] == mine and body["document"]["uploader"] == INSPECTOR[0]
    assert put(owner, mine, "same.txt", NEW + "补充：第二稿。").get_json()["result"]["status"] == "unchanged"
    bad = put(owner, mine, "坏.txt", "")
    assert bad.status_code == 422 and bad.get_json()["result"]["reason"]
    assert put(owner, mine, "病毒.exe", "x").status_code == 400
    doc = owner.get(f"/api/documents/{mine}").get_json()
    assert "第二稿" in doc["text"] and [v["version"] for v in doc["versions"]] == [1]
    admin = token_client(id_app, "admin")
    assert put(admin, cli_doc, "管理员.txt", "管理员替换命令行加入的材料。").get_json()["result"]["status"] == "replaced"
    assert owner.delete(f"/api/documents/{mine}").status_code == 403  # removing stays admin-only
    rows = db.connect(id_app.config["APP_DB"]).execute(
        "SELECT user, target, detail FROM audit WHERE action='replace' ORDER BY id").fetchall()
    assert [(r["user"], r["target"]) for r in rows] == [(INSPECTOR[0], mine), ("admin", cli_doc)]
    assert '"old_version": 1' in rows[0]["detail"]


def test_new_version_page_form_and_versions_list(id_app):
    c = id_app.test_client()
    login(c, *INSPECTOR)
    api = token_client(id_app, INSPECTOR[0])
    doc_id = upload(api, "页面.txt", NEW)["id"]
    page = c.get(f"/documents/{doc_id}").get_data(as_text=True)
    assert "上传新版本" in page and "修改元数据" in page
    r = c.post(f"/documents/{doc_id}/version", data={"file": (io.BytesIO("页面上的第二稿。".encode()), "第二稿.txt"),
                                                      "csrf_token": "forged"})
    assert r.status_code == 400
    r = c.post(f"/documents/{doc_id}/version", data={"file": (io.BytesIO("页面上的第二稿。".encode()), "第二稿.txt"),
                                                      "csrf_token": csrf_of(c)}, follow_redirects=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "已上传新版本" in html and "历史版本" in html and "第 1 版" in html
    old = c.get(f"/documents/{doc_id}/versions/1").get_data(as_text=True)
    assert "独一无二的标记甲乙丙丁" in old and "已被替换" in old
    assert c.get(f"/documents/{doc_id}/versions/9").status_code == 404
    o = id_app.test_client()
    login(o, *OTHER)
    assert "上传新版本" not in o.get(f"/documents/{doc_id}").get_data(as_text=True)


def test_metadata_edit_on_the_page_and_api(id_app):
    c = id_app.test_client()
    login(c, *OTHER)
    api = token_client(id_app, INSPECTOR[0])
    doc_id = upload(api, "元数据.txt", NEW)["id"]
    fields = {"title": "新标题", "unit": "某镇党委", "author": "赵六", "role": "书记", "year": "2023", "meeting": ""}
    assert c.post(f"/documents/{doc_id}/metadata", data=fields).status_code == 400  # no CSRF token
    r = c.post(f"/documents/{doc_id}/metadata", data={**fields, "csrf_token": csrf_of(c)}, follow_redirects=True)
    assert r.status_code == 200 and "元数据已更新" in r.get_data(as_text=True)
    doc = api.get(f"/api/documents/{doc_id}").get_json()
    assert (doc["title"], doc["unit"], doc["author"], doc["year"]) == ("新标题", "某镇党委", "赵六", "2023")
    body = api.get("/api/search", query_string={"q": "独一无二的标记", "unit": "某镇党委"}).get_json()
    assert [h["id"] for h in body["hits"]] == [doc_id] and body["facets"]["unit"] == {"某镇党委": 1}
    r = api.patch(f"/api/documents/{doc_id}", json={"year": "2024", "unit": None})
    assert r.status_code == 200 and r.get_json()["changed"] == ["unit", "year"]
    assert api.patch(f"/api/documents/{doc_id}", json={"title": ""}).status_code == 400
    assert api.patch(f"/api/documents/{doc_id}", json={"text": "x"}).status_code == 400
    rows = db.connect(id_app.config["APP_DB"]).execute(
        "SELECT user FROM audit WHERE action='metadata' ORDER BY id").fetchall()
    assert [r["user"] for r in rows] == [OTHER[0], INSPECTOR[0]]


def test_late_metadata_csv_upload_updates_materials_it_names(id_app):
    api = token_client(id_app, INSPECTOR[0])
    doc_id = upload(api, "迟到.txt", NEW)["id"]
    upload(api, "同名.txt", "同名材料一。")
    upload(api, "同名.txt", "同名材料二。")
    csv = f"文件,单位,年度\n迟到.txt,迟到的单位,2019\n同名.txt,x,2020\n{doc_id},迟到的单位,2018\n没有这个.txt,y,2020\n"
    r = api.post("/api/documents", data={"metadata": csv, "files": [(io.BytesIO(b""), "")]})
    body = r.get_json()
    by_name = {x["name"]: x for x in body["results"]}
    assert by_name["迟到.txt"]["status"] == "updated"
    assert by_name["同名.txt"]["status"] == "rejected" and "2 份" in by_name["同名.txt"]["reason"]
    assert by_name["没有这个.txt"]["status"] == "rejected"
    assert api.get(f"/api/documents/{doc_id}").get_json()["year"] == "2018"
