"""The 查重 report in a real browser (headless Debian chromium): the marked full text shows copied text
red and stock text grey, 本文独有 is never struck through, and the two sides of a passage keep their
labels in print. Skips only when chromium is absent outside CI; under CI it fails."""

from __future__ import annotations

from test_browser import browser, server  # noqa: F401 -- the portal server and chromium fixtures
from test_portal_support import INSPECTOR

pytest_plugins = ["test_portal_support"]


def test_report_page_marks_and_labels(server, browser):  # noqa: F811 -- the imported fixtures
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(server + "/login")
    browser.find_element(By.NAME, "username").send_keys(INSPECTOR[0])
    browser.find_element(By.NAME, "password").send_keys(INSPECTOR[1])
    browser.find_element(By.CSS_SELECTOR, "form.stacked button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "current-user")))
    browser.get(server + "/api/documents?limit=100")
    import json

    docs = json.loads(browser.find_element(By.TAG_NAME, "body").text)["documents"]
    evil = next(d["id"] for d in docs if d["source"].endswith("evil.txt"))
    browser.get(f"{server}/documents/{evil}/report")
    wait.until(ec.presence_of_element_located((By.ID, "fulltext")))
    copied = browser.find_elements(By.CSS_SELECTOR, "#fulltext .t-copy:not(.t-stock)")  # stock stays grey
    assert copied and copied[0].is_displayed()
    assert copied[0].value_of_css_property("color") in ("rgba(204, 0, 0, 1)", "rgb(204, 0, 0)")
    stock = browser.find_elements(By.CSS_SELECTOR, "#fulltext .t-stock")
    assert stock and stock[0].value_of_css_property("color") in ("rgba(136, 136, 136, 1)", "rgb(136, 136, 136)")
    for mark in browser.find_elements(By.CSS_SELECTOR, ".passage mark.del"):
        assert "line-through" not in mark.value_of_css_property("text-decoration")
    assert browser.find_element(By.ID, "report-number").text.startswith("DZ-")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    labels = browser.find_elements(By.CSS_SELECTOR, ".passage .side-label")
    assert labels and all(x.is_displayed() for x in labels)
    assert {x.text.split("：")[0] for x in labels} == {"本文", "来源"}
