"""One 字数 everywhere (issue 10, item 3): the number of normalized characters (汉字, letters and
digits; punctuation, spaces, NBSP and Markdown marks not counted), the same on the document page,
the documents list (HTML and API), the report (page and API) and ``indexer ls --json``; indexes
that stored ``len(text)`` are recounted when opened."""

from __future__ import annotations

import json
import re
import sqlite3
import textwrap

import pytest
from test_portal_support import INSPECTOR, add_user, login, portal_config

from indexer.cli import main
from indexer.detect import char_count, normalize
from indexer.library import Library
from indexer.store import CHARS_KEY, Store
from portal import bootstrap, create_app

pytest_plugins = ["test_portal_support"]

# NBSP, Markdown headings/emphasis/list marks, Chinese and ASCII punctuation, spaces, digits, letters.
MATERIAL = textwrap.dedent("""\
    # 对照检查材料

    **一、存在的问题**：理论学习不够深入，\u00a0\u00a0联系实际不够紧密。

    - 学习 *2024* 年 PPT 材料；
    - 开展调研 3 次 ……（详见附件！）

    > 下一步，我将持续改进作风、提升 AI 素养。
    """)


def test_char_count_is_normalized_characters():
    n = char_count(MATERIAL)
    assert n == len(normalize(MATERIAL)) == char_count(normalize(MATERIAL))
    kept = re.sub(r"[^\w]|_", "", MATERIAL)  # 汉字, letters and digits only
    assert n == len(kept)
    assert n < len(MATERIAL.strip())


@pytest.fixture
def capp(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "material.md").write_text(MATERIAL, encoding="utf-8")
    (docs / "other.txt").write_text("某单位对照检查材料。\n理论学习不够深入，联系实际不够紧密。\n今后改进。",
                                    encoding="utf-8")
    with Library(tmp_path / "index") as lib:
        assert not lib.add([docs]).failed
    app = create_app(portal_config(tmp_path / "index", tmp_path / "data"))
    bootstrap(app.config)
    add_user(app, *INSPECTOR)
    return app, tmp_path / "index"


def test_same_figure_on_every_page_api_and_cli(capp, capsys):
    app, index = capp
    c = app.test_client()
    assert login(c, *INSPECTOR).status_code == 302
    docs = c.get("/api/documents?limit=100").get_json()["documents"]
    doc = next(d for d in docs if d["source"].endswith("material.md"))
    with Library(index) as lib:
        stored = lib.get(doc["id"]).text
    expected = char_count(stored)
    assert expected != len(stored)  # the material tells the two definitions apart
    assert doc["chars"] == expected

    listing = c.get("/documents").get_data(as_text=True)
    assert f'<td class="num">{expected}</td>' in listing
    page = c.get(f"/documents/{doc['id']}").get_data(as_text=True)
    assert f"{expected} 字" in page and f"{len(stored)} 字" not in page

    report = c.get(f"/api/documents/{doc['id']}/report").get_json()
    assert report["chars"] == expected and report["document"]["chars"] == expected
    html = c.get(f"/documents/{doc['id']}/report").get_data(as_text=True)
    assert re.search(r'id="chars">\s*' + str(expected) + r"\s*<", html)

    assert main(["--index", str(index), "ls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    rows = listed if isinstance(listed, list) else listed["documents"]
    assert next(d["chars"] for d in rows if d["id"] == doc["id"]) == expected


def test_old_index_is_recounted_on_open(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "material.md").write_text(MATERIAL, encoding="utf-8")
    with Library(tmp_path / "index") as lib:
        assert not lib.add([docs]).failed
        doc = lib.store.all()[0]
        assert lib.replace(doc.id, _file(tmp_path, "v2.md", MATERIAL + "\n第二版补充内容。")).status != "skipped"
    db_path = next((tmp_path / "index").glob("*.sqlite*"))
    db = sqlite3.connect(db_path)  # as an index written when 字数 was len(text)
    db.execute("UPDATE documents SET chars=length(text)")
    db.execute("UPDATE versions SET chars=length(text)")
    db.execute("DELETE FROM state WHERE key=?", (CHARS_KEY,))
    db.commit()
    old = dict(db.execute("SELECT id, chars FROM documents").fetchall())
    assert db.execute("SELECT count(*) FROM versions").fetchone()[0] == 1
    db.close()

    store = Store(db_path)
    try:
        texts = store.db.execute("SELECT id, text, chars FROM documents").fetchall()
        assert all(chars == char_count(text) for _, text, chars in texts)
        assert all(old[i] != chars for i, _, chars in texts)
        for text, chars in store.db.execute("SELECT text, chars FROM versions"):
            assert chars == char_count(text) != len(text)
        assert store.db.execute("SELECT value FROM state WHERE key=?", (CHARS_KEY,)).fetchone()[0] == "normalized"
    finally:
        store.close()
    with Library(tmp_path / "index") as lib:  # once marked, opening again changes nothing
        assert lib.get(doc.id).chars == char_count(lib.get(doc.id).text)


def _file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_documents_list_ratio_uses_the_compares_normalized_coverage():
    from portal.listing import ratios_of

    result = {"documents": [{"id": "x", "chars": 80, "covered_chars": 40}],
              "pairs": [{"a": "x", "b": "y", "passages": [{"a": [0, 90], "b": [0, 50]}]}]}
    # x: its recorded normalized coverage; y (no record, as in a Spark result): stored-text spans
    assert ratios_of(result, {"x": 80, "y": 100}) == {"x": 0.5, "y": 0.5}
