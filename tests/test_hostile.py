"""Hostile files and hostile users (issue 9): every finding, with the status, the Chinese reason, and
the library unchanged. Bombs are built by the tests themselves (see ``hostile_files``)."""

from __future__ import annotations

import dataclasses
import io
import json
import resource
import runpy
import socket
import time
from pathlib import Path

import pytest
from hostile_files import (
    BIG5_TEXT,
    LATIN1_TEXT,
    SENTENCE,
    docx_bomb,
    element_bomb,
    huge_field_csv,
    lying_docx_bomb,
    many_page_pdf,
    small_docx,
    write,
)
from test_portal_support import ADMIN_PASSWORD, INSPECTOR, csrf_of, login, portal_config

from indexer import readers, sandbox
from indexer.cli import main as indexer_main
from indexer.errors import UnreadableFile
from indexer.library import Library
from indexer.limits import LIMITS, MB
from portal import accounts, create_app, db

pytest_plugins = ["test_portal_support"]
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> Path:
    """The bomb files, built once: a zip bomb just over the unpacked limit (1 MB on disk), one that
    lies about its size, an element bomb, and a PDF with more pages than allowed."""
    folder = tmp_path_factory.mktemp("bombs")
    write(folder, "bomb.docx", docx_bomb(LIMITS.max_unzipped_bytes + 8 * MB))
    write(folder, "liar.docx", lying_docx_bomb(expanded=48 * MB, declared=MB))
    write(folder, "elements.docx", element_bomb(LIMITS.max_xml_elements + 100_000))
    write(folder, "pages.pdf", many_page_pdf(LIMITS.max_pdf_pages + 1))
    return folder


def state(client) -> list[tuple[str, str]]:
    docs = client.get("/api/documents?limit=1000").get_json()["documents"]
    return sorted((d["id"], d["source"]) for d in docs)


def upload(client, *pairs: tuple[str, bytes]):
    return client.post("/api/documents", data={"files": [(io.BytesIO(d), n) for n, d in pairs]})


# ---------------------------------------------------------------- bombs: readers, portal, CLI


@pytest.mark.parametrize("name, reason", [
    ("bomb.docx", "docx 解压后过大"),
    ("liar.docx", "docx 文件已损坏"),  # zipfile stops at the declared size; the CRC then fails
    ("elements.docx", "XML 元素超过"),
    ("pages.pdf", "PDF 页数过多"),
])
def test_bombs_are_refused_quickly_in_a_child(bombs, name, reason):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    with pytest.raises(UnreadableFile, match=reason):
        sandbox.read_text(bombs / name)
    assert time.monotonic() - start < 20
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50, f"the reading process grew by {grown_mb:.0f} MB"


def test_bombs_upload_rejected_and_library_unchanged(api, bombs):
    before = state(api)
    names = ["bomb.docx", "liar.docx", "elements.docx", "pages.pdf"]
    r = upload(api, *[(n, (bombs / n).read_bytes()) for n in names], ("good.txt", SENTENCE.encode() * 3))
    assert r.status_code == 422
    results = r.get_json()["results"]
    assert [x["status"] for x in results] == ["rejected"] * 4 + ["added"]
    assert "解压后过大" in results[0]["reason"] and "页数过多" in results[3]["reason"]
    assert all("(" not in x["reason"] and "Error" not in x["reason"] for x in results[:4])
    assert len(state(api)) == len(before) + 1


def test_indexer_add_skips_a_bomb_and_keeps_the_rest(tmp_path, bombs, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bomb.docx").write_bytes((bombs / "bomb.docx").read_bytes())
    (folder / "good.txt").write_text(SENTENCE * 3, encoding="utf-8")
    code = indexer_main(["--index", str(tmp_path / "ix"), "add", str(folder)])
    out = capsys.readouterr()
    assert code == 1 and "解压后过大" in out.out + out.err
    with Library(tmp_path / "ix") as lib:
        assert [d.name for d in lib.catalog.docs()] == ["good.txt"] if hasattr(lib.catalog, "docs") else True
        assert lib.search(SENTENCE[:6], mode="phrase").total == 1


def test_memory_limit_stops_a_reader_in_the_child(tmp_path, monkeypatch):
    path = write(tmp_path, "a.txt", SENTENCE)
    greedy = lambda p, limits: str(len(bytearray(300 * MB)))  # noqa: E731  what an unnoticed bomb does
    monkeypatch.setitem(readers._READERS, ".txt", greedy)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UnreadableFile, match="内存超过上限"):
        sandbox.read_text(path, limits=dataclasses.replace(LIMITS, memory_bytes=64 * MB))
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 50  # not in this process
    assert sandbox.read_text(path) == str(300 * MB)  # under the default limit the same reader succeeds


def test_time_limit_kills_a_stuck_reader(tmp_path, monkeypatch):
    path = write(tmp_path, "a.txt", SENTENCE)
    monkeypatch.setitem(readers._READERS, ".txt", lambda p, limits: time.sleep(60) or "")
    start = time.monotonic()
    with pytest.raises(UnreadableFile, match="读取超时"):
        sandbox.read_text(path, limits=dataclasses.replace(LIMITS, wall_seconds=1))
    assert time.monotonic() - start < 10


def test_confined_worker_reads_in_process_with_a_timer(tmp_path, monkeypatch):
    path = write(tmp_path, "a.txt", SENTENCE)
    monkeypatch.setattr(sandbox, "_confined", True)
    assert sandbox.read_text(path) == SENTENCE
    monkeypatch.setitem(readers._READERS, ".txt", lambda p, limits: time.sleep(60) or "")
    with pytest.raises(UnreadableFile, match="读取超时"):
        sandbox.read_text(path, limits=dataclasses.replace(LIMITS, wall_seconds=1))


def test_too_many_characters_refused_before_reading(tmp_path, monkeypatch):
    small = dataclasses.replace(LIMITS, max_chars=1000)
    path = write(tmp_path, "big.txt", "长" * 1300)
    with pytest.raises(UnreadableFile, match="文字过多：1,300 个字符，上限 1,000 个"):
        readers.read_text(path, limits=small)
    path = write(tmp_path, "huge.txt", b"x" * 4001)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a file over the limit"))
    with pytest.raises(UnreadableFile, match="文字过多"):
        readers.read_text(path, limits=small)


def test_a_file_just_over_the_size_limit_says_by_how_much(tmp_path):
    path = write(tmp_path, "a.txt", b"x" * (MB + 1))
    with pytest.raises(UnreadableFile) as info:
        readers.read_text(path, max_bytes=MB)
    assert str(info.value) == "文件过大：超过上限 1 MB（多出 1 字节）"


def test_upload_just_over_the_size_limit(up_app, api):
    before = state(api)
    up_app.config["UPLOAD_MAX_FILE"] = MB
    r = upload(api, ("big.txt", "长".encode() * (MB // 3 + 1)))
    res = r.get_json()["results"][0]
    assert r.status_code == 422 and res["status"] == "rejected" and res["reason"] == "文件过大，单个文件上限 1 MB"
    assert state(api) == before


# ---------------------------------------------------------------- encodings


def test_big5_is_decoded_not_stored_as_mojibake(tmp_path):
    assert readers.read_text(write(tmp_path, "a.txt", BIG5_TEXT.encode("big5"))) == BIG5_TEXT
    assert readers.read_text(write(tmp_path, "b.txt", BIG5_TEXT.encode("cp950"))) == BIG5_TEXT


def test_gbk_still_wins_over_big5(tmp_path):
    text = "坚持以人民为中心的发展思想，认真查摆问题，深入整改落实。"
    assert readers.read_text(write(tmp_path, "a.txt", text.encode("gbk"))) == text


def test_latin1_is_refused_naming_the_encoding(tmp_path, api):
    with pytest.raises(UnreadableFile, match="西欧文字.*不是中文文本"):
        readers.read_text(write(tmp_path, "a.txt", LATIN1_TEXT.encode("latin-1")))
    before = state(api)
    r = upload(api, ("latin.txt", LATIN1_TEXT.encode("latin-1")), ("big5.txt", BIG5_TEXT.encode("big5")))
    results = r.get_json()["results"]
    assert [x["status"] for x in results] == ["rejected", "added"] and "西欧文字" in results[0]["reason"]
    assert len(state(api)) == len(before) + 1
    assert api.get("/api/search?q=認真查擺問題&mode=phrase").get_json()["total"] == 1


# ---------------------------------------------------------------- queries


@pytest.mark.parametrize("q, reason", [
    ("words:[a TO 龥]", "范围"),
    ("{a TO 龥}", "范围"),
    ("*:*", "全部材料"),
    ("title:x", "不能按“title”字段检索"),
    ("id:0123", "不能按“id”字段检索"),
    (" OR ".join(f"词{i}" for i in range(70)), "词语过多"),
])
@pytest.mark.parametrize("mode", ["words", "auto"])
def test_expensive_or_internal_queries_get_a_chinese_400(api, q, reason, mode):
    r = api.get("/api/search", query_string={"q": q, "mode": mode})
    body = r.get_json()
    assert r.status_code == 400 and reason in body["error"], body
    assert "STORED" not in body["error"] and "format" not in body["error"]


def test_year_range_still_allowed(api):
    assert api.get("/api/search", query_string={"q": "year:[2000 TO 2030]", "mode": "words"}).status_code == 200


def test_query_time_budget(sample_lib, monkeypatch):
    from indexer import search
    from indexer.errors import BadQuery

    monkeypatch.setattr(search, "QUERY_SECONDS", 0.0)
    with pytest.raises(BadQuery, match="时间上限"):
        sample_lib.search("政治", mode="words")


# ---------------------------------------------------------------- metadata.csv


def test_huge_metadata_field_refuses_the_upload_cleanly(api):
    before = state(api)
    r = api.post("/api/documents", data={"files": [(io.BytesIO(SENTENCE.encode()), "a.txt")],
                                         "metadata": (io.BytesIO(huge_field_csv().encode()), "metadata.csv")})
    assert r.status_code == 400 and "字段过长" in r.get_json()["error"]
    assert state(api) == before


def test_huge_metadata_field_in_indexer_add(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(SENTENCE * 2, encoding="utf-8")
    (folder / "metadata.csv").write_text(huge_field_csv(), encoding="utf-8")
    code = indexer_main(["--index", str(tmp_path / "ix"), "add", "--json", str(folder)])
    out = capsys.readouterr()
    assert code == 1 and "Traceback" not in out.err
    skipped = [f for f in json.loads(out.out)["files"] if f["status"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["path"].endswith("metadata.csv") and "字段过长" in skipped[0]["reason"]
    with Library(tmp_path / "ix") as lib:  # the material itself is indexed
        assert lib.search(SENTENCE[:6], mode="phrase").total == 1


# ---------------------------------------------------------------- login: next, sessions


@pytest.mark.parametrize("target", ["/\t/evil.example/x", "/\\evil.example", "//evil.example", "/\r\nSet-Cookie: x=1",
                                    "/\n/evil.example", "https://evil.example", "/%0d%0a", "/\x00x", " //evil.example"])
def test_next_never_leaves_the_site(anon, target):
    r = login(anon, *INSPECTOR, next=target)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location, location
    assert "\r" not in location and "\n" not in location and "\t" not in location
    assert anon.get("/login", query_string={"next": target}).status_code in (200, 302)


def test_next_keeps_a_local_path(anon):
    assert login(anon, *INSPECTOR, next="/documents?page=2").headers["Location"] == "/documents?page=2"


def copy_of(app, client):
    """Another browser holding a copy of ``client``'s session cookie."""
    thief = app.test_client()
    cookie = client.get_cookie("duizhao_session")
    thief.set_cookie("duizhao_session", cookie.value)
    return thief


def test_logout_ends_copies_of_the_session_cookie(app, client):
    thief = copy_of(app, client)
    assert thief.get("/api/documents").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_of(client)}).status_code == 302
    assert thief.get("/api/documents").status_code == 401
    assert thief.get("/").status_code == 302


# ---------------------------------------------------------------- names and passwords


@pytest.mark.parametrize("name, reason", [
    ("ａｄｍｉｎ", "已存在"),  # full width: NFKC makes it admin
    ("аdmin", "看起来一样"),  # Cyrillic а
    ("ADMlN", "看起来一样"),  # l for I, upper case
    ("ɑdmin", "看起来一样"),  # Latin alpha
    ("a" * 65, "用户名过长：65 个字符，最多 64 个"),
])
def test_look_alike_and_long_names_refused(app, name, reason):
    conn = db.connect(app.config["APP_DB"])
    with pytest.raises(accounts.AccountError, match=reason):
        accounts.add_user(conn, name, "inspector", "a-good-password-7")
    assert [u.name for u in accounts.list_users(conn)] == ["admin", "inspector"]


def test_full_width_name_logs_in(anon):
    assert login(anon, "ｉｎｓｐｅｃｔｏｒ", INSPECTOR[1]).status_code == 302


@pytest.mark.parametrize("password, reason", [
    ("12345678", "太短"),
    (" " * 12, "只有空格"),
    ("1234567890123", "全是数字"),
    ("wangjianguo", "用户名"),
    ("wangjianguo1", "用户名"),
    ("qwertyuiop", "常见密码"),
    ("woaini1314", "常见密码"),
    ("aaaaaaaaaaaa", "重复的字符"),
])
def test_password_policy(app, password, reason):
    conn = db.connect(app.config["APP_DB"])
    with pytest.raises(accounts.AccountError, match=reason):
        accounts.add_user(conn, "wangjianguo", "inspector", password)
    assert accounts.get_user(conn, "wangjianguo") is None


def test_password_policy_on_the_users_page(app, admin):
    form = {"csrf_token": csrf_of(admin), "action": "add", "name": "李检查", "role": "inspector",
            "password": "1234567890"}
    r = admin.post("/admin/users", data=form)
    assert r.status_code == 400 and "全是数字" in r.get_data(as_text=True)


@pytest.mark.parametrize("weak", ["1", "12345678901", "admin12345", "password123"])
def test_weak_admin_password_refuses_to_start(portal_index, tmp_path, weak):
    with pytest.raises(accounts.WeakAdminPassword, match="DUIZHAO_ADMIN_PASSWORD 不符合密码要求"):
        create_app(portal_config(portal_index, tmp_path / "data") | {"ADMIN_PASSWORD": weak})


def test_weak_admin_password_stops_gunicorn_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DUIZHAO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("DUIZHAO_ADMIN_PASSWORD", "1")
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    with pytest.raises(SystemExit):
        conf["when_ready"](None)
    err = capsys.readouterr().err
    assert "无法启动" in err and "密码太短" in err and "Traceback" not in err
    assert not db.connect(tmp_path / "data" / "app.sqlite").execute("SELECT * FROM users").fetchall()


# ---------------------------------------------------------------- users change their own password


def change(client, current, new, again=None):
    return client.post("/account/password", data={"csrf_token": csrf_of(client), "current": current,
                                                  "password": new, "again": again or new})


def test_user_changes_own_password(app, client):
    thief = copy_of(app, client)
    assert client.get("/account/password").status_code == 200
    assert change(client, "wrong-password", "a-new-password-9").status_code == 400
    r = change(client, INSPECTOR[1], "1234567890")
    assert r.status_code == 400 and "全是数字" in r.get_data(as_text=True)
    assert change(client, INSPECTOR[1], "a-new-password-9", "another-one-9").status_code == 400
    assert client.post("/account/password", data={"current": INSPECTOR[1], "password": "a-new-password-9",
                                                   "again": "a-new-password-9"}).status_code == 400  # no CSRF
    assert change(client, INSPECTOR[1], "a-new-password-9").status_code == 302
    assert client.get("/api/documents").status_code == 200  # this browser stays logged in
    assert thief.get("/api/documents").status_code == 401  # every other session ended
    assert login(app.test_client(), INSPECTOR[0], INSPECTOR[1]).status_code == 401
    assert login(app.test_client(), INSPECTOR[0], "a-new-password-9").status_code == 302
    actions = [r["action"] for r in db.connect(app.config["APP_DB"]).execute(
        "SELECT action FROM audit WHERE user = ? ORDER BY id", (INSPECTOR[0],))]
    assert "password_change" in actions and "password_change_failed" in actions


def test_admin_resetting_a_password_ends_that_users_sessions(app, client, admin):
    form = {"csrf_token": csrf_of(admin), "action": "password", "name": INSPECTOR[0], "password": "reset-by-admin-5"}
    assert admin.post("/admin/users", data=form).status_code == 302
    assert client.get("/api/documents").status_code == 401
    assert login(app.test_client(), "admin", ADMIN_PASSWORD).status_code == 302


# ---------------------------------------------------------------- gunicorn's own answers, multipart names


@pytest.mark.parametrize("status, reason", [(414, "URI Too Long"), (500, "Internal Server Error")])
def test_gunicorns_own_answers_carry_the_security_headers(status, reason):
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    a, b = socket.socketpair()
    with a, b:
        conf["write_error"](a, status, reason, "internal detail")
        a.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: b.recv(65536), b"")).decode()
    head, body = answer.split("\r\n\r\n", 1)
    assert head.startswith(f"HTTP/1.1 {status} ")
    for header in ("Content-Security-Policy: default-src 'none'", "X-Content-Type-Options: nosniff",
                   "X-Frame-Options: DENY", "Referrer-Policy: no-referrer", "Cache-Control: no-store"):
        assert header in head
    assert "internal detail" not in body and ("过长" in body if status == 414 else "稍后再试" in body)


def test_gbk_file_name_in_multipart_is_decoded(api):
    before = state(api)
    name = "对照材料.txt".encode("gbk")
    body = (b"--XX\r\nContent-Disposition: form-data; name=\"files\"; filename=\"" + name + b"\"\r\n"
            b"Content-Type: text/plain\r\n\r\n" + (SENTENCE * 2).encode() + b"\r\n--XX--\r\n")
    r = api.post("/api/documents", data=body, content_type="multipart/form-data; boundary=XX")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["results"][0]["name"] == "对照材料.txt"
    assert len(state(api)) == len(before) + 1


def test_docx_under_the_limits_still_reads(tmp_path):
    assert sandbox.read_text(write(tmp_path, "a.docx", small_docx())) == SENTENCE
