"""Fixtures of the portal tests (``app``, ``client``, ``runner``) and a stand-in for copy detection.

Copy detection (``Library.report``/``compare_pair``/``duplicates``) is being built separately.
Until it lands, ``FakeDetection`` wraps the real library and answers with dicts of the agreed shape,
computed with difflib from the real stored texts so every span points at real text. The
``detect_client`` fixture runs each detection test against the fake and against the real library,
the latter skipped until ``hasattr(Library, "report")``.
"""

from __future__ import annotations

import csv
import re
import shutil
from difflib import SequenceMatcher
from pathlib import Path

import pytest
from conftest import SAMPLES, TINY

from indexer.library import Library
from portal import accounts, bootstrap, create_app, db
from portal.index import set_index

XSS_TITLE = '<script>alert("title")</script>标题'
XSS_UNIT = '"><img src=x onerror=alert(1)>县委'
XSS_BODY = ("# 对照检查材料\n<script>alert('body')</script>二是理论学习不深不实，存在以干代学现象。"
            "\"><img src=x onerror=alert(2)>政治站位不够高，学习贯彻习近平新时代中国特色社会主义思想往深里走、往心里走还不够。\n")
XSS_COPY = ("抄录材料\n我们发现<script>alert('body')</script>二是理论学习不深不实，存在以干代学现象。"
            "\"><img src=x onerror=alert(2)>政治站位不够高，学习贯彻习近平新时代中国特色社会主义思想往心里走还不够。\n")
XSS_FILE = '"><img src=x onerror=alert(3)>.txt'
STOCK = "习近平新时代中国特色社会主义思想"
MIN_PASSAGE = 8


@pytest.fixture(scope="session")
def portal_index(tmp_path_factory) -> Path:
    """An index of the shipped samples, the tiny materials and hostile ones (script in text, names, metadata)."""
    root = tmp_path_factory.mktemp("portal")
    docs = root / "docs"
    shutil.copytree(SAMPLES, docs)
    for name, text in TINY.items():
        (docs / name).write_text(text, encoding="utf-8")
    evil = docs / "evil"
    evil.mkdir()
    (evil / "evil.txt").write_text(XSS_BODY, encoding="utf-8")
    (evil / XSS_FILE).write_text(XSS_COPY, encoding="utf-8")
    with open(evil / "metadata.csv", "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["file", "title", "unit", "year", "role"])
        out.writerow(["evil.txt", XSS_TITLE, XSS_UNIT, "2021", "<b>书记</b>"])
    with Library(root / "index") as lib:
        assert not lib.add([docs]).failed
    return root / "index"


ADMIN_PASSWORD = "admin-password-1"
INSPECTOR = ("inspector", "inspector-pass-1")
FAST_HASH = "scrypt:1024:8:1"  # werkzeug scrypt with a small work factor, so the tests stay quick


def portal_config(portal_index: Path, data: Path) -> dict:
    """The app settings of the tests: a private data folder, a known admin password, cheap hashing,
    background jobs run inside the request (``tests/test_jobs.py`` also runs them in processes)."""
    return {"TESTING": True, "INDEX": portal_index, "DATA": data, "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PASSWORD_HASH": FAST_HASH, "JOBS_INLINE": True}


def add_user(app, name: str, password: str, role: str = "inspector") -> None:
    """Create a user directly in the app database."""
    from portal import accounts, db

    conn = db.connect(app.config["APP_DB"])
    accounts.add_user(conn, name, role, password, method=FAST_HASH)
    conn.close()


def csrf_of(client) -> str:
    """The CSRF token of the client's session (from the login page if it has none yet)."""
    with client.session_transaction() as sess:
        token = sess.get("csrf")
    if token:
        return token
    html = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, name: str, password: str, **extra):
    """Log in through the form (with its CSRF token); returns the answer."""
    return client.post("/login", data={"username": name, "password": password, "csrf_token": csrf_of(client),
                                       **extra})


@pytest.fixture
def app(portal_index: Path, tmp_path: Path):
    application = create_app(portal_config(portal_index, tmp_path / "data"))
    bootstrap(application.config)  # the first admin, as on the first request
    add_user(application, *INSPECTOR)
    return application


@pytest.fixture
def anon(app):
    """A client that has not logged in."""
    return app.test_client()


@pytest.fixture
def client(app):
    """A client logged in as an inspector."""
    c = app.test_client()
    assert login(c, *INSPECTOR).status_code == 302
    return c


@pytest.fixture
def admin(app):
    """A client logged in as the first admin."""
    c = app.test_client()
    assert login(c, "admin", ADMIN_PASSWORD).status_code == 302
    return c


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def up_app(tmp_path: Path):
    """An app over a fresh index of the tiny materials (uploads change it)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in TINY.items():
        (docs / name).write_text(text, encoding="utf-8")
    with Library(tmp_path / "index") as lib:
        lib.add([docs])
    app = create_app(portal_config(tmp_path / "index", tmp_path / "data"))
    bootstrap(app.config)
    add_user(app, *INSPECTOR)
    return app


@pytest.fixture
def api(up_app):
    """A client that sends an inspector's API token."""
    _, token = accounts.create_token(db.connect(up_app.config["APP_DB"]), INSPECTOR[0])
    c = up_app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return c


@pytest.fixture(params=["fake", "real"])
def detect_client(request, app):
    """A client whose library has copy detection: the stand-in, or the real one once it exists."""
    if request.param == "real":
        if not hasattr(Library, "report"):
            pytest.skip("Library.report/compare_pair/duplicates not implemented yet (issue 3)")
    else:
        with app.app_context():
            from portal.index import get_index

            set_index(app, FakeDetection(get_index()))
    c = app.test_client()
    assert login(c, *INSPECTOR).status_code == 302
    return c


def doc_ids(client) -> dict[str, str]:
    """Source file name → id of every document in the test index."""
    docs = client.get("/api/documents?limit=1000").get_json()["documents"]
    return {Path(d["source"]).name: d["id"] for d in docs}


class FakeDetection:
    """The real library plus difflib-made ``report``/``compare_pair``/``duplicates`` of the agreed shape."""

    def __init__(self, lib: Library):
        self._lib = lib

    def __getattr__(self, name: str):
        return getattr(self._lib, name)

    def __len__(self) -> int:
        return len(self._lib)

    def _doc(self, doc_id: str) -> dict:
        return self._lib.get(doc_id).to_dict()

    def _len(self, doc_id: str) -> int:
        """Characters of the stored text: the stand-in's passages count those, not 字数."""
        return max(1, len(self._lib.get(doc_id).text))

    def _passages(self, a_id: str, b_id: str) -> list[dict]:
        ta, tb = self._lib.get(a_id).text, self._lib.get(b_id).text
        blocks = [m for m in SequenceMatcher(None, ta, tb, autojunk=False).get_matching_blocks() if m.size >= 4]
        runs: list[list] = []
        for m in blocks:  # join blocks a few characters apart into one edited passage
            if runs and 0 <= m.a - runs[-1][1] <= 6 and 0 <= m.b - runs[-1][3] <= 6:
                runs[-1][1], runs[-1][3] = m.a + m.size, m.b + m.size
            else:
                runs.append([m.a, m.a + m.size, m.b, m.b + m.size])
        out = []
        source = self._lib.get(b_id).source
        for a0, a1, b0, b1 in runs:
            text_a, text_b = ta[a0:a1], tb[b0:b1]
            sm = SequenceMatcher(None, text_a, text_b, autojunk=False)
            shared = sum(m.size for m in sm.get_matching_blocks())
            if shared < MIN_PASSAGE:
                continue
            out.append({"source_id": b_id, "source": source, "a": [a0, a1], "b": [b0, b1],
                        "similarity": round(sm.ratio(), 4), "shared_chars": shared, "text_a": text_a,
                        "text_b": text_b, "edits": [list(op) for op in sm.get_opcodes()]})
        return out

    def _stock(self, doc_id: str) -> list[list[int]]:
        text = self._lib.get(doc_id).text
        spans, i = [], text.find(STOCK)
        while i >= 0:
            spans.append([i, i + len(STOCK)])
            i = text.find(STOCK, i + 1)
        return spans

    def report(self, doc_id: str) -> dict:
        doc = self._lib.get(doc_id)
        others = [d.id for d in self._lib.live.values() if d.id != doc.id]
        passages = [p for o in others for p in self._passages(doc.id, o)]
        boiler = self._stock(doc.id)
        in_boiler = {i for s, e in boiler for i in range(s, e)}
        copied = {i for p in passages for i in range(*p["a"])}
        n = max(1, len(doc.text))  # the stand-in counts positions in the stored text, not 字数
        sources = []
        for o in others:
            mine = [p for p in passages if p["source_id"] == o]
            if mine:
                chars = len({i for p in mine for i in range(*p["a"])} - in_boiler)
                sources.append({"id": o, "source": self._lib.get(o).source, "title": self._lib.get(o).title,
                                "ratio": chars / n, "copied_chars": chars, "passages": len(mine)})
        sources.sort(key=lambda s: -s["copied_chars"])
        n_docs = len(self._lib.live)
        return {"document": doc.to_dict(), "chars": doc.chars,
                "copy_ratio": len(copied - in_boiler) / n, "copy_ratio_with_boilerplate":
                len(copied | in_boiler) / n, "max_single_ratio": sources[0]["ratio"] if sources else 0.0,
                "copied_chars": len(copied - in_boiler), "boilerplate_chars": len(in_boiler),
                "sources": sources, "passages": passages,
                "boilerplate": [{"span": s, "documents": n_docs, "text": doc.text[s[0]:s[1]]} for s in boiler]}

    def compare_pair(self, a_id: str, b_id: str) -> dict:
        passages = self._passages(a_id, b_id)
        shared = sum(p["shared_chars"] for p in passages)
        a, b = self._doc(a_id), self._doc(b_id)
        return {"a": a, "b": b, "similarity": round(2 * shared / (self._len(a_id) + self._len(b_id)), 4),
                "shared_chars": shared, "passages": passages}

    def duplicates(self, unit: str | None = None, year: str | None = None, wait: bool | float = True) -> dict:
        docs = [d for d in self._lib.live.values()
                if (unit is None or d.unit == unit) and (year is None or d.year == year)]
        pairs = []
        for i, a in enumerate(docs):
            for b in docs[i + 1:]:
                pair = self.compare_pair(a.id, b.id)
                if pair["passages"]:
                    pairs.append({"a": a.id, "b": b.id, "similarity": pair["similarity"],
                                  "shared_chars": pair["shared_chars"], "passages": pair["passages"]})
        pairs.sort(key=lambda p: -p["shared_chars"])
        groups: dict[str, set[str]] = {}
        for p in pairs:
            merged = groups.get(p["a"], {p["a"]}) | groups.get(p["b"], {p["b"]})
            for d in merged:
                groups[d] = merged
        clusters = {frozenset(g) for g in groups.values()}
        occurrences = [{"doc": d.id, "span": s} for d in docs for s in self._stock(d.id)]
        return {"documents": [d.to_dict() for d in docs], "pairs": pairs,
                "boilerplate": [{"documents": len({o["doc"] for o in occurrences}), "occurrences": occurrences,
                                 "text": STOCK}] if occurrences else [],
                "clusters": [{"documents": sorted(c), "shared_chars": sum(
                    p["shared_chars"] for p in pairs if p["a"] in c)} for c in clusters]}
