"""A real browser (headless Debian chromium + chromedriver via selenium) against a running portal.

Logs in through the form, searches, opens a 查重 report and checks the highlighted passage is shown, that the hostile
material ran no script, and that the CSP blocked nothing of ours. Skips only when chromium is
absent outside CI; under CI (``CI`` set) a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from test_portal_support import INSPECTOR, FakeDetection, add_user, portal_config

from indexer.library import Library
from portal import bootstrap, create_app
from portal.index import get_index, set_index

pytest_plugins = ["test_portal_support"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _require_browser() -> None:
    if CHROMIUM and DRIVER:
        return
    message = "chromium and chromium-driver are needed (apt-get install -y chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def server(portal_index, tmp_path):
    """The portal on a free loopback port, with copy detection (real, else the stand-in)."""
    from werkzeug.serving import make_server

    app = create_app({**portal_config(portal_index, tmp_path), "TESTING": False})
    bootstrap(app.config)
    add_user(app, *INSPECTOR)
    if not hasattr(Library, "report"):
        with app.app_context():
            set_index(app, FakeDetection(get_index()))
    srv = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


@pytest.fixture
def browser():
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--lang=zh-CN"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _no_alert(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 -- raises unless a script opened an alert


def _csp_violations(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_search_then_report_in_a_real_browser(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.get(server + "/")
    assert "/login" in browser.current_url  # nobody gets in without an account
    browser.find_element(By.NAME, "username").send_keys(INSPECTOR[0])
    browser.find_element(By.NAME, "password").send_keys(INSPECTOR[1])
    browser.find_element(By.CSS_SELECTOR, "form.stacked button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "current-user")))
    assert browser.find_element(By.ID, "current-user").text == INSPECTOR[0]
    # the mode first: changing it with a query typed re-runs the search (app.js), and a click on the
    # button racing that reload met a stale element
    browser.find_element(By.CSS_SELECTOR, "form.search input[value=phrase]").click()
    box = browser.find_element(By.NAME, "q")
    box.send_keys("理论学习不深不实")
    browser.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "li.hit")))
    assert "q=" in browser.current_url and "mode=phrase" in browser.current_url  # shareable URL
    marks = browser.find_elements(By.CSS_SELECTOR, ".snippet mark.hit")
    assert marks and all(m.is_displayed() and m.text == "理论学习不深不实" for m in marks)
    _no_alert(browser)

    evil = next(h for h in browser.find_elements(By.CSS_SELECTOR, "li.hit") if "<script>" in h.text)
    evil.find_element(By.LINK_TEXT, "查重报告").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".passage")))
    assert browser.find_element(By.ID, "copy-ratio").text.endswith("%")
    sides = browser.find_elements(By.CSS_SELECTOR, ".passage .side.a")
    side = next(s for s in sides if "理论学习不深不实" in s.text)
    assert side.is_displayed() and side.size["height"] > 0
    edits = browser.find_elements(By.CSS_SELECTOR, ".passage mark.del, .passage mark.chg, .passage mark.ins")
    assert edits and edits[0].is_displayed()
    assert 'onerror=alert(3)>.txt' in browser.find_element(By.TAG_NAME, "main").text  # hostile name shown as text
    _no_alert(browser)

    browser.find_element(By.PARTIAL_LINK_TEXT, "查看原文").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".fulltext a.mark.copy")))
    copied = browser.find_element(By.CSS_SELECTOR, ".fulltext a.mark.copy")
    assert copied.is_displayed() and copied.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    _no_alert(browser)
    assert _csp_violations(browser) == []


@pytest.fixture
def fake_server(portal_index, tmp_path):
    """The portal with the difflib stand-in for copy detection: pairs and clusters in any case."""
    from werkzeug.serving import make_server

    app = create_app({**portal_config(portal_index, tmp_path), "TESTING": False})
    bootstrap(app.config)
    add_user(app, *INSPECTOR)
    with app.app_context():
        set_index(app, FakeDetection(get_index()))
    srv = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


def _login(browser, server: str, user=INSPECTOR) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/login")
    browser.find_element(By.NAME, "username").send_keys(user[0])
    browser.find_element(By.NAME, "password").send_keys(user[1])
    browser.find_element(By.CSS_SELECTOR, "form.stacked button[type=submit]").click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "current-user")))


def test_documents_list_sorts_by_clicked_column(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _login(browser, server)
    browser.get(server + "/documents")

    def chars() -> list[int]:
        return [int(td.text) for td in browser.find_elements(By.CSS_SELECTOR, "table.documents tbody td:nth-child(4)")]

    header = browser.find_element(By.CSS_SELECTOR, "a[data-sort=chars]")
    assert header.value_of_css_property("white-space") == "nowrap" or \
        header.find_element(By.XPATH, "..").value_of_css_property("white-space") == "nowrap"
    header.click()
    WebDriverWait(browser, 20).until(ec.url_contains("sort=chars"))
    assert "order=desc" in browser.current_url
    first = chars()
    assert len(first) >= 5 and first == sorted(first, reverse=True)
    assert browser.find_element(By.CSS_SELECTOR, "th.sorted").get_attribute("aria-sort") == "descending"
    browser.find_element(By.CSS_SELECTOR, "a[data-sort=chars]").click()
    WebDriverWait(browser, 20).until(ec.url_contains("order=asc"))
    assert chars() == sorted(first)
    browser.find_element(By.CSS_SELECTOR, "a[data-sort=unit]").click()
    WebDriverWait(browser, 20).until(ec.url_contains("sort=unit"))
    units = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table.documents tbody td:nth-child(2)")]
    named = [u for u in units if u]
    assert named == sorted(named) and units[:len(named)] == named  # materials without a unit come last
    year = browser.find_element(By.CSS_SELECTOR, ".facets section a")  # a filter, as on the search page
    year.click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".facets li.active")))
    assert "sort=unit" in browser.current_url
    assert _csp_violations(browser) == []


def test_compare_picker_finds_materials_by_title_and_unit(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    _login(browser, server)
    browser.get(server + "/compare")
    box = browser.find_element(By.ID, "pick-a-box")
    box.send_keys("区委书记")
    first = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".pick[data-side=a] button.pick-item")))
    assert "区委书记" in first.text
    chosen = first.get_attribute("data-id")
    first.click()
    assert browser.find_element(By.ID, "pick-a").get_attribute("value") == chosen
    assert not browser.find_element(By.CSS_SELECTOR, ".pick[data-side=a] ul.picks").is_displayed()
    browser.find_element(By.ID, "pick-b-box").send_keys("某市")  # a unit of the shipped samples
    other = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".pick[data-side=b] button.pick-item")))
    assert "某市" in other.text
    other.click()
    browser.find_element(By.ID, "pick-b-box").send_keys("不存在的单位名称")
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".pick[data-side=b] ul.picks"), "没有找到"))
    browser.find_element(By.CSS_SELECTOR, "form.picker-form button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".sides.heads")))
    assert f"a={chosen}" in browser.current_url
    assert _csp_violations(browser) == []


def test_overview_charts_draw_one_mark_per_bucket_and_node(fake_server, browser):
    import json

    from selenium.webdriver.common.by import By

    _login(browser, fake_server)
    browser.get(fake_server + "/api/duplicates")
    dup = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    browser.get(fake_server + "/duplicates")
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart-ratios rect.bar")
    assert len(bars) == 11 and all(b.is_displayed() for b in bars)
    counts = [int(t.text) for t in browser.find_elements(By.CSS_SELECTOR, "#chart-ratios text.count")]
    assert sum(counts) == len(dup["documents"])
    tallest = max(range(11), key=lambda i: counts[i])
    assert bars[tallest].size["height"] == max(b.size["height"] for b in bars) > 0
    nodes = browser.find_elements(By.CSS_SELECTOR, "#chart-graph circle.node")
    expected = sum(len(c["documents"]) for c in dup["clusters"][:12])
    assert expected > 0 and len(nodes) == expected
    assert all(n.is_displayed() and n.size["width"] > 0 for n in nodes)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-graph line.edge")) >= expected - len(dup["clusters"][:12])
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-sources rect.bar")
    assert nodes[0].value_of_css_property("fill") not in ("none", "rgb(0, 0, 0)")  # the style sheet colours it
    _no_alert(browser)
    assert _csp_violations(browser) == []


def _serve(app):
    """``app`` on a free loopback port (one thread, like a sync worker); yields its base URL."""
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    return srv, thread, f"http://127.0.0.1:{srv.server_port}"


@pytest.fixture
def own_server(tmp_path):
    """A portal over its own small index (uploads and password changes must not touch the shared one),
    with upload jobs in their own processes as in production."""
    from conftest import TINY

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in TINY.items():
        (docs / name).write_text(text, encoding="utf-8")
    with Library(tmp_path / "index") as lib:
        assert not lib.add([docs]).failed
    app = create_app({**portal_config(tmp_path / "index", tmp_path / "data"), "TESTING": False,
                      "JOBS_INLINE": False})
    bootstrap(app.config)
    add_user(app, *INSPECTOR)
    srv, thread, url = _serve(app)
    yield url
    srv.shutdown()
    thread.join(5)


def test_upload_shows_progress_per_file_then_a_full_width_results_table(own_server, browser, tmp_path):
    import time

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    folder = tmp_path / "upload"
    folder.mkdir()
    paths = []
    for i, unit in enumerate(["甲县", "乙县", "丙县", "丁县", "戊县", "己县"]):
        path = folder / f"{unit}材料.txt"
        path.write_text(f"{unit}委员会对照检查材料\n第{i}份：{unit}在整改落实中发现的问题各不相同，编号{i * 7919}。\n",
                        encoding="utf-8")
        paths.append(path)
    empty = folder / "空白.txt"
    empty.write_bytes(b"")
    paths.append(empty)

    _login(browser, own_server)
    browser.get(own_server + "/upload")
    browser.find_element(By.CSS_SELECTOR, "input[name=files]").send_keys("\n".join(str(p) for p in paths))
    browser.find_element(By.CSS_SELECTOR, "form.upload button[type=submit]").click()
    wait = WebDriverWait(browser, 120)
    wait.until(ec.presence_of_element_located((By.ID, "upload-results")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#upload-results tbody tr")
    assert len(rows) == len(paths)  # one line per file at once, before the job has finished
    seen = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            seen.update(td.text for td in browser.find_elements(By.CSS_SELECTOR, "#upload-results td.status"))
            bar = browser.find_elements(By.CSS_SELECTOR, "#upload-progress progress")
            if bar:
                seen.add(f"progress {bar[0].get_attribute('value')}/{bar[0].get_attribute('max')}")
            if "处理完毕" in browser.find_element(By.ID, "upload-progress").text:
                break
        except Exception:  # the page is being replaced by the finished one
            pass
        time.sleep(0.1)
    assert any(s.startswith("progress") for s in seen), seen  # the page followed the job
    results = {tr.find_element(By.CSS_SELECTOR, "td.source").text.split(" ")[0]:
               (tr.find_element(By.CSS_SELECTOR, "td.status").text, tr.find_element(By.CSS_SELECTOR, "td.reason").text)
               for tr in browser.find_elements(By.CSS_SELECTOR, "#upload-results tbody tr")}
    assert {name for name, (status, _) in results.items() if status == "已加入"} == {p.name for p in paths[:-1]}
    status, reason = results["空白.txt"]
    assert status == "未加入" and reason and not any(c.isascii() and c.isalpha() for c in reason)
    table = browser.find_element(By.ID, "upload-results")
    assert table.size["width"] > 0.8 * browser.find_element(By.TAG_NAME, "main").size["width"] - 60
    assert browser.find_elements(By.CSS_SELECTOR, "#upload-results a[href$='/report']")
    _no_alert(browser)
    assert _csp_violations(browser) == []


def test_user_changes_own_password(own_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    _login(browser, own_server)
    browser.find_element(By.ID, "change-password").click()
    wait.until(ec.presence_of_element_located((By.ID, "password-form")))

    def submit(current: str, new: str, again: str) -> None:
        for name, value in (("current", current), ("password", new), ("again", again)):
            field = browser.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        browser.find_element(By.CSS_SELECTOR, "#password-form button[type=submit]").click()

    submit(INSPECTOR[1], "1234567890123", "1234567890123")  # all digits: refused, reason in Chinese
    error = wait.until(ec.presence_of_element_located((By.ID, "password-error"))).text
    assert error and "数字" in error
    new = "新的口令-Correct-7"
    submit(INSPECTOR[1], new, new)
    # the text, not the element: a p.flash of the page being left can match first and go stale
    assert wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "p.flash"), "密码已修改"))
    browser.find_element(By.CSS_SELECTOR, "form.account button[type=submit]").click()  # 退出
    wait.until(ec.url_contains("/login"))
    browser.find_element(By.NAME, "username").send_keys(INSPECTOR[0])
    browser.find_element(By.NAME, "password").send_keys(INSPECTOR[1])
    browser.find_element(By.CSS_SELECTOR, "form.stacked button[type=submit]").click()
    wait.until(ec.url_contains("/login"))
    assert not browser.find_elements(By.ID, "current-user")  # the old password no longer works
    _login(browser, own_server, (INSPECTOR[0], new))
    assert browser.find_element(By.ID, "current-user").text == INSPECTOR[0]
    assert _csp_violations(browser) == []
