"""The wheel built from a clean checkout serves every page once installed (not editable).

Builds the wheel from ``git archive HEAD`` (what a clean clone holds, nothing of the working tree),
installs it with ``--no-deps --no-index`` into a fresh venv whose only other path is the project
venv's site-packages (so the dependencies come from there without network), then runs the installed
``indexer`` and ``portal`` commands from an empty folder: indexes the samples, starts gunicorn on a
free loopback port, reads the generated admin password from the framed first-start block, logs in,
searches, opens a report. Marked ``wheel`` (``pytest -m "not wheel"`` skips it); about half a minute.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parent.parent


def run(*cmd: str | Path, **kw) -> subprocess.CompletedProcess:
    # PYTHONPATH would put a checkout before the installed wheel: the test is of the wheel alone
    kw.setdefault("env", {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of HEAD installed; returns its ``bin`` folder."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.fail("the wheel test builds from git HEAD: run it in a git checkout with git installed")
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, venv = tmp / "src", tmp / "dist", tmp / "venv"
    archive = tmp / "head.tar"
    run("git", "-C", REPO, "archive", "--format=tar", "-o", archive, "HEAD")
    with tarfile.open(archive) as tar:
        tar.extractall(src, filter="data")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-build-isolation", "--no-deps", "-w", dist, src)
    wheel = next(dist.glob("duizhao-*.whl"))
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    # The dependencies: the project venv's site-packages as a plain path (its .pth files, among
    # them the editable install's finder, are not run), after the fresh venv's own.
    (site / "project_deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet",
        "--no-deps", "--no-index", wheel)
    return venv / "bin"


def test_wheel_ships_templates_static_settings_and_licence(installed):
    code = ("import importlib.metadata as m, pathlib, portal;"
            "p = pathlib.Path(portal.__file__).parent;"
            "print(p); print(portal.TEMPLATES);"
            "print(m.metadata('duizhao')['License-Expression'])")
    out = run(installed / "python", "-c", code, cwd=installed).stdout.split("\n")
    package = Path(out[0])
    assert "site-packages" in out[0] and Path(out[1]) == package / "templates"
    assert out[2] == "MIT"
    for name in ("templates/login.html", "templates/search.html", "templates/report.html",
                 "gunicorn.conf.py", "static/style.css"):
        assert (package / name).is_file(), name


def test_wheel_ships_every_data_file_of_the_packages(installed):
    """Every file git tracks under indexer/ and portal/ (templates of exports, word lists, static
    files…) is in the installed package, not only the Python modules."""
    tracked = run("git", "-C", REPO, "ls-tree", "-r", "--name-only", "HEAD", "indexer", "portal").stdout.split()
    code = "import pathlib, portal; print(pathlib.Path(portal.__file__).parent.parent)"
    site = Path(run(installed / "python", "-c", code, cwd=installed).stdout.strip())
    missing = [f for f in tracked if not f.endswith(".py") and not (site / f).is_file()]
    assert not missing, missing


def test_installed_portal_serves_login_search_and_report(installed, tmp_path):
    work = tmp_path / "site"  # no gunicorn.conf.py, no templates/: only what the wheel brought
    work.mkdir()
    shutil.copytree(REPO / "data" / "samples", work / "samples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUIZHAO_")}
    env.pop("PYTHONPATH", None)
    run(installed / "indexer", "--index", work / "data" / "index", "add", work / "samples", cwd=work, env=env)
    port = free_port()
    log = (work / "portal.log").open("w+", encoding="utf-8")
    server = subprocess.Popen(
        [str(installed / "portal"), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--data", str(work / "data")],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        password = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            log.seek(0)
            text = log.read()
            found = re.search(r"初始密码 (\S+)", text)
            if found and "portal user passwd admin" in text:
                password = found.group(1)
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=5)
                    break
                except OSError:
                    pass
            time.sleep(0.3)
        log.seek(0)
        assert password, f"no first-start block with the admin password:\n{log.read()}"

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_page = opener.open(f"{base}/login", timeout=30).read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
        form = urllib.parse.urlencode({"csrf_token": token, "username": "admin", "password": password})
        opener.open(f"{base}/login", data=form.encode(), timeout=30)

        page = opener.open(f"{base}/?q={urllib.parse.quote('民主生活会')}", timeout=60).read().decode()
        assert 'href="/static/style.css' in page and "退出" in page
        ids = re.findall(r'href="/documents/([0-9a-f]{6,})', page)
        assert ids, page
        report = opener.open(f"{base}/documents/{ids[0]}/report", timeout=120).read().decode()
        assert "复制比" in report
        css = opener.open(f"{base}/static/style.css", timeout=30)
        assert css.status == 200
        for path in ("/documents", f"/compare?a={ids[0]}&b={ids[-1]}", "/upload", "/admin/users",
                     "/admin/audit"):
            assert opener.open(base + path, timeout=120).status == 200, path
        # the overview: 202 while the installed package's compare job runs in its own process
        deadline = time.monotonic() + 180
        while (status := opener.open(f"{base}/duplicates", timeout=120).status) == 202:
            assert time.monotonic() < deadline, "the compare job of the installed wheel never finished"
            time.sleep(1)
        assert status == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
