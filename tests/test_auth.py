"""Access control: login, roles, CSRF, cookies, tokens, HTTP Basic, throttling, the first admin, the CLI, audit."""

from __future__ import annotations

import multiprocessing
import re

import pytest
from test_portal_support import ADMIN_PASSWORD, FAST_HASH, INSPECTOR, add_user, csrf_of, login, portal_config

from portal import accounts, bootstrap, create_app, db

pytest_plugins = ["test_portal_support"]
PUBLIC = {"auth.login", "api.healthz", "static"}


def route_urls(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every route, with a made-up id for its arguments."""
    out = []
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<[^>]+>", "0123456789abcdef", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def test_every_route_refuses_anonymous(app, anon):
    checked = 0
    for endpoint, method, url in route_urls(app):
        if endpoint in PUBLIC:
            continue
        r = anon.open(url, method=method)
        checked += 1
        if url.startswith("/api/"):
            assert r.status_code == 401, (method, url)
            assert r.get_json()["status"] == 401 and "登录" in r.get_json()["error"]
        else:
            assert r.status_code == 302 and "/login?next=" in r.headers["Location"], (method, url)
    assert checked >= 20
    assert anon.get("/no/such/page").status_code == 302  # unknown pages do not reveal themselves either
    assert anon.get("/api/nothing").status_code == 401


def test_public_routes(anon):
    assert anon.get("/healthz").status_code == 200
    r = anon.get("/login")
    assert r.status_code == 200 and 'name="csrf_token"' in r.get_data(as_text=True)
    assert anon.get("/static/style.css").status_code == 200


def test_login_redirects_back_and_header_shows_user(anon):
    r = anon.get("/documents?limit=5")
    assert r.headers["Location"].endswith("/login?next=/documents?limit%3D5")
    r = login(anon, *INSPECTOR, next="/documents?limit=5")
    assert r.status_code == 302 and r.headers["Location"] == "/documents?limit=5"
    html = anon.get("/").get_data(as_text=True)
    assert 'id="current-user"' in html and INSPECTOR[0] in html and "退出" in html
    assert "用户</a>" not in html and "审计日志" not in html  # admin links only for admins


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_off_site(anon, target):
    r = login(anon, *INSPECTOR, next=target)
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_wrong_password_and_unknown_user(anon):
    for name, pw in ((INSPECTOR[0], "wrong-password"), ("nobody", "whatever-pw")):
        r = login(anon, name, pw)
        assert r.status_code == 401 and "用户名或密码不正确" in r.get_data(as_text=True)
    assert anon.get("/").status_code == 302


def test_logout_needs_csrf_and_ends_session(client):
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200
    r = client.post("/logout", data={"csrf_token": csrf_of(client)})
    assert r.status_code == 302 and client.get("/").status_code == 302


def test_session_cookie_flags(anon, portal_index, tmp_path, monkeypatch):
    r = login(anon, *INSPECTOR)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    monkeypatch.setenv("DUIZHAO_SECURE_COOKIES", "1")
    app = create_app({k: v for k, v in portal_config(portal_index, tmp_path).items()})
    bootstrap(app.config)
    c = app.test_client()
    r = c.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf_of(c)})
    assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]


def test_csrf_required_on_every_form(app, client, admin):
    """Every state-changing route refuses a session request without the token, and changes nothing."""
    before = admin.get("/api/documents?limit=1000").get_json()["total"]
    for endpoint, method, url in route_urls(app):
        if method in ("GET",):
            continue
        who = admin if endpoint != "auth.login" else app.test_client()
        r = who.open(url, method=method, data={"name": "x", "action": "add", "role": "admin"})
        assert r.status_code == 400, (method, url)
        assert "安全校验" in r.get_data(as_text=True)
        r = who.open(url, method=method, data={"csrf_token": "forged", "username": "admin"})
        assert r.status_code == 400, (method, url)
    assert admin.get("/api/documents?limit=1000").get_json()["total"] == before
    assert [u.name for u in accounts.list_users(db.connect(app.config["APP_DB"]))] == ["admin", "inspector"]
    assert client.get("/").status_code == 200 and admin.get("/").status_code == 200


def test_login_form_needs_csrf(anon):
    r = anon.post("/login", data={"username": INSPECTOR[0], "password": INSPECTOR[1]})
    assert r.status_code == 400 and anon.get("/").status_code == 302


@pytest.mark.parametrize("method, url", [
    ("GET", "/admin/users"), ("GET", "/admin/audit"), ("GET", "/api/audit"), ("POST", "/admin/users"),
    ("DELETE", "/api/documents/0123456789abcdef"), ("POST", "/documents/0123456789abcdef/delete"),
])
def test_inspector_cannot_do_admin_things(client, method, url):
    r = client.open(url, method=method, data={"csrf_token": csrf_of(client), "action": "add", "name": "x",
                                              "role": "admin", "password": "pw-pw-pw-pw"})
    assert r.status_code == 403, r.get_data(as_text=True)


def test_inspector_may_search_read_report_upload(client):
    for url in ("/", "/?q=政治站位", "/documents", "/upload", "/api/search?q=政治"):
        assert client.get(url).status_code == 200, url


def test_admin_pages(admin):
    html = admin.get("/admin/users").get_data(as_text=True)
    assert "inspector" in html and "检查人员" in html and "新建用户" in html
    assert admin.get("/admin/audit").status_code == 200
    nav = admin.get("/").get_data(as_text=True)
    assert "/admin/users" in nav and "/admin/audit" in nav


def test_admin_manages_users_through_the_page(app, admin):
    token = csrf_of(admin)
    form = {"csrf_token": token, "action": "add", "name": "王检查", "role": "inspector", "password": "short"}
    assert admin.post("/admin/users", data=form).status_code == 400  # weak password
    form["password"] = "long-enough-1"
    assert admin.post("/admin/users", data=form).status_code == 302
    c = app.test_client()
    assert login(c, "王检查", "long-enough-1").status_code == 302
    assert admin.post("/admin/users", data={"csrf_token": token, "action": "password", "name": "王检查",
                                            "password": "another-pass-2"}).status_code == 302
    assert c.get("/").status_code == 302  # a new password ends the user's open sessions
    r = admin.post("/admin/users", data={"csrf_token": token, "action": "remove", "name": "admin"})
    assert r.status_code == 400 and "最后一个管理员" in r.get_data(as_text=True)
    r = admin.post("/admin/users", data={"csrf_token": token, "action": "role", "name": "admin", "role": "inspector"})
    assert r.status_code == 400
    assert admin.post("/admin/users", data={"csrf_token": token, "action": "remove", "name": "王检查"}).status_code == 302
    assert login(app.test_client(), "王检查", "another-pass-2").status_code == 401
    actions = [e["action"] for e in admin.get("/api/audit?limit=20").get_json()["entries"]]
    assert {"user_add", "user_password", "user_remove"} <= set(actions)


def test_tokens_work_and_can_be_revoked(app, anon):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["token", "create", INSPECTOR[0], "--name", "score"])
    assert out.exit_code == 0, out.output
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("dz_") and len(token) > 40
    auth = {"Authorization": f"Bearer {token}"}
    r = anon.get("/api/search?q=政治站位&mode=phrase", headers=auth)
    assert r.status_code == 200 and r.get_json()["total"] == 7
    assert anon.get("/", headers=auth).status_code == 302  # tokens are for the API, not pages
    assert anon.get("/api/search?q=x", headers={"Authorization": "Bearer dz_wrong"}).status_code == 401
    listing = runner.invoke(args=["token", "list"]).output
    assert "score" in listing and "有效" in listing and token not in listing
    stored = db.connect(app.config["APP_DB"]).execute("SELECT hash FROM tokens").fetchone()[0]
    assert stored == accounts.token_hash(token) and token not in stored
    assert runner.invoke(args=["token", "revoke", INSPECTOR[0]]).exit_code == 0
    assert anon.get("/api/search?q=x", headers=auth).status_code == 401
    assert runner.invoke(args=["token", "revoke", "999"]).exit_code != 0


def test_api_write_with_token_needs_no_csrf(app, anon):
    _, token = accounts.create_token(db.connect(app.config["APP_DB"]), INSPECTOR[0])
    r = anon.post("/api/documents", headers={"Authorization": f"Bearer {token}"}, data={})
    assert r.status_code == 400 and "请选择要上传的文件" in r.get_json()["error"]  # reached the view


def test_http_basic_on_the_api(anon):
    import base64

    def basic(user, pw):
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}

    assert anon.get("/api/search?q=政治", headers=basic(*INSPECTOR)).status_code == 200
    assert anon.get("/api/search?q=政治", headers=basic(INSPECTOR[0], "nope")).status_code == 401
    assert anon.get("/api/search?q=政治", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert anon.get("/", headers=basic(*INSPECTOR)).status_code == 302
    for _ in range(5):
        anon.get("/api/search?q=政治", headers=basic("admin", "guess-guess"))
    r = anon.get("/api/search?q=政治", headers=basic("admin", ADMIN_PASSWORD))
    assert r.status_code == 429 and "15 分钟" in r.get_json()["error"]


def test_login_throttled_per_user_and_address(app, anon):
    for _ in range(accounts.THROTTLE_PER_USER_IP):
        assert login(anon, INSPECTOR[0], "wrong-password").status_code == 401
    r = login(anon, *INSPECTOR)  # even the right password waits now
    assert r.status_code == 429 and "登录失败次数过多" in r.get_data(as_text=True)
    assert r.headers["Retry-After"] == "900"
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert login(other, *INSPECTOR).status_code == 302  # another address is not locked out
    assert login(anon, "admin", ADMIN_PASSWORD).status_code == 302  # nor another user
    second = create_app(app.config)  # another worker sees the same failures (they are in the database)
    c = second.test_client()
    assert login(c, *INSPECTOR).status_code == 429


def test_throttle_per_address_across_names(anon):
    for i in range(accounts.THROTTLE_PER_IP):
        login(anon, f"user{i}", "wrong-password")
    assert login(anon, *INSPECTOR).status_code == 429


def test_cli_users(app):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["user", "add", "李四", "--role", "admin"], input="pass-word-9\npass-word-9\n")
    assert out.exit_code == 0, out.output
    assert "李四" in runner.invoke(args=["user", "list"]).output
    assert runner.invoke(args=["user", "add", "李四"], input="pass-word-9\npass-word-9\n").exit_code != 0
    assert runner.invoke(args=["user", "add", "bad name!"], input="pass-word-9\npass-word-9\n").exit_code != 0
    assert runner.invoke(args=["user", "add", "x", "--role", "boss"]).exit_code != 0
    out = runner.invoke(args=["user", "passwd", "李四", "--generate"])
    assert out.exit_code == 0
    new = out.output.strip().split("：")[-1]
    assert login(app.test_client(), "李四", new).status_code == 302
    assert runner.invoke(args=["user", "remove", "李四"]).exit_code == 0
    assert runner.invoke(args=["user", "remove", "admin"]).exit_code != 0  # the last admin stays
    row = db.connect(app.config["APP_DB"]).execute("SELECT password FROM users WHERE name='admin'").fetchone()
    assert row[0].startswith("scrypt:")


def test_portal_command_runs_user_cli(tmp_path, monkeypatch, capsys):
    from portal.cli import main

    monkeypatch.setenv("DUIZHAO_DATA", str(tmp_path))
    with pytest.raises(SystemExit) as done:
        main(["user", "add", "赵六", "--role", "inspector", "--generate"])
    assert done.value.code == 0
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "user", "list"])
    assert "赵六" in capsys.readouterr().out


def _bootstrap(args: tuple[str, multiprocessing.Queue]) -> None:
    data, queue = args
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        bootstrap({"APP_DB": f"{data}/app.sqlite", "ADMIN_PASSWORD": None, "PASSWORD_HASH": FAST_HASH})
    queue.put(err.getvalue())


def test_first_admin_created_exactly_once_across_processes(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_bootstrap, args=((str(tmp_path), queue),)) for _ in range(8)]
    for p in procs:
        p.start()
    outputs = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    printed = [o for o in outputs if "初始密码" in o]
    assert len(printed) == 1
    password = re.search(r"初始密码 (\S+)", printed[0]).group(1)
    conn = db.connect(tmp_path / "app.sqlite")
    assert [u.name for u in accounts.list_users(conn)] == ["admin"]
    assert accounts.authenticate(conn, "admin", password) is not None


def test_first_admin_from_environment_on_first_request(tmp_path, portal_index, monkeypatch, capsys):
    monkeypatch.setenv("DUIZHAO_ADMIN_PASSWORD", "from-env-password")
    app = create_app({"DATA": tmp_path, "INDEX": portal_index, "PASSWORD_HASH": FAST_HASH})
    c = app.test_client()
    assert login(c, "admin", "from-env-password").status_code == 302
    assert "from-env-password" not in capsys.readouterr().err  # a given password is never printed


def test_audit_records_who_did_what(app, client, admin):
    client.get("/?q=政治站位&mode=phrase&year=2021")
    docs = client.get("/api/documents?limit=1").get_json()["documents"]
    client.get(f"/documents/{docs[0]['id']}")
    login(app.test_client(), INSPECTOR[0], "wrong-password")
    log = admin.get(f"/api/audit?user={INSPECTOR[0]}").get_json()
    actions = [e["action"] for e in log["entries"]]
    assert actions[:4] == ["view", "list", "search", "login"]
    failed = admin.get("/api/audit?action=login_failed").get_json()["entries"][0]
    assert failed["target"] == INSPECTOR[0] and failed["user"] is None
    search = next(e for e in log["entries"] if e["action"] == "search")
    assert search["target"] == "政治站位" and search["ip"] == "127.0.0.1"
    assert search["detail"]["mode"] == "phrase" and search["detail"]["filters"] == {"year": "2021"}
    assert "total" in search["detail"]
    view = next(e for e in log["entries"] if e["action"] == "view")
    assert view["target"] == docs[0]["id"]
    only = admin.get("/api/audit?action=search&limit=1").get_json()
    assert only["total"] >= 1 and len(only["entries"]) == 1
    page = admin.get(f"/admin/audit?user={INSPECTOR[0]}&action=search").get_data(as_text=True)
    assert "政治站位" in page and "检索" in page
    assert admin.get("/admin/audit?from=2020-13-01").status_code == 400
    assert admin.get("/api/audit?from=2000-01-01&to=2999-01-01").get_json()["total"] >= 4


def test_security_headers_on_login_page(anon):
    r = anon.get("/login")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in r.get_data(as_text=True)


def test_user_can_be_added_by_helper_and_log_in(app):
    add_user(app, "周七", "zhou-qi-pass", role="admin")
    c = app.test_client()
    assert login(c, "周七", "zhou-qi-pass").status_code == 302
    assert c.get("/admin/users").status_code == 200
