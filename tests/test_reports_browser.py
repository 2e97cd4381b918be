"""The 查重 report in a real browser (headless Debian chromium): the marked full text shows copied text
red and stock text grey, 本文独有 is never struck through, and the two sides of a passage keep their
labels in print. Skips only when chromium is absent outside CI; under CI it fails."""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from test_portal_support import INSPECTOR, add_user, portal_config

from portal import bootstrap, create_app

pytest_plugins = ["test_portal_support"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def report_server(portal_index, tmp_path):
    from werkzeug.serving import make_server

    app = create_app({**portal_config(portal_index, tmp_path), "TESTING": False})
    bootstrap(app.config)
    add_user(app, *INSPECTOR)
    srv = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


@pytest.fixture
def chrome():
    if not (CHROMIUM and DRIVER):
        message = "chromium and chromium-driver are needed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--lang=zh-CN"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_report_page_marks_and_labels(report_server, chrome):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(chrome, 30)
    chrome.get(report_server + "/login")
    chrome.find_element(By.NAME, "username").send_keys(INSPECTOR[0])
    chrome.find_element(By.NAME, "password").send_keys(INSPECTOR[1])
    chrome.find_element(By.CSS_SELECTOR, "form.stacked button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "current-user")))
    chrome.get(report_server + "/api/documents?limit=100")
    import json

    docs = json.loads(chrome.find_element(By.TAG_NAME, "body").text)["documents"]
    evil = next(d["id"] for d in docs if d["source"].endswith("evil.txt"))
    chrome.get(f"{report_server}/documents/{evil}/report")
    wait.until(ec.presence_of_element_located((By.ID, "fulltext")))
    copied = chrome.find_elements(By.CSS_SELECTOR, "#fulltext .t-copy:not(.t-stock)")  # stock stays grey
    assert copied and copied[0].is_displayed()
    assert copied[0].value_of_css_property("color") in ("rgba(204, 0, 0, 1)", "rgb(204, 0, 0)")
    stock = chrome.find_elements(By.CSS_SELECTOR, "#fulltext .t-stock")
    assert stock and stock[0].value_of_css_property("color") in ("rgba(136, 136, 136, 1)", "rgb(136, 136, 136)")
    for mark in chrome.find_elements(By.CSS_SELECTOR, ".passage mark.del"):
        assert "line-through" not in mark.value_of_css_property("text-decoration")
    assert chrome.find_element(By.ID, "report-number").text.startswith("DZ-")
    chrome.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    labels = chrome.find_elements(By.CSS_SELECTOR, ".passage .side-label")
    assert labels and all(x.is_displayed() for x in labels)
    assert {x.text.split("：")[0] for x in labels} == {"本文", "来源"}
