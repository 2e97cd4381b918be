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
    box = browser.find_element(By.NAME, "q")
    box.send_keys("理论学习不深不实")
    browser.find_element(By.CSS_SELECTOR, "form.search input[value=phrase]").click()
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
