"""Every message a user can see is plain Chinese with Chinese punctuation.

Scans the message templates: the Python string literals of ``indexer/`` and ``portal/`` that carry
Chinese (docstrings and comments are for developers and skipped), and the text of ``templates/``
(tags, Jinja expressions and comments stripped). Fails on ASCII letters in parentheses
(``空文件 (empty file)``, ``（query too long）``) and on Python ``repr`` quoting in a Chinese message
(``没有这份材料: 'zzzz'`` from ``{x!r}``). The JSON API's English ``code`` values carry no Chinese,
so they are not messages here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytest_plugins = ["test_portal_support"]  # fixtures: client

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u3400-\u9fff]")
ASCII_IN_PARENS = re.compile(r"[(（][^()（）]*[A-Za-z][^()（）]*[)）]")
NOT_PROSE = re.compile(r"\(\?|\\[dswbDSWB]|\[\^")  # regular expressions are code, not messages
LOG_FIELD = re.compile(r"%\([a-z_]+\)[sdrf]")  # logging's %(asctime)s
TEMPLATE_CODE = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}|<!--.*?-->|<script\b.*?</script>|<style\b.*?</style>"
                           r"|<[^>]*>", re.S)


def python_messages(path: Path) -> list[tuple[int, str, bool]]:
    """(line, text, uses repr) of every non-docstring string literal in ``path`` that has Chinese."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    inside_fstring = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            uses_repr = any(isinstance(v, ast.FormattedValue) and v.conversion == ord("r") for v in node.values)
            if CJK.search(text) and not NOT_PROSE.search(text):
                out.append((node.lineno, LOG_FIELD.sub("", text), uses_repr))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings or id(node) in inside_fstring:
                continue
            if CJK.search(node.value) and not NOT_PROSE.search(node.value):
                out.append((node.lineno, LOG_FIELD.sub("", node.value), False))
    return out


def template_text(path: Path) -> str:
    return TEMPLATE_CODE.sub(" ", path.read_text(encoding="utf-8"))


PY_FILES = sorted(p for d in ("indexer", "portal") for p in (ROOT / d).rglob("*.py"))
TEMPLATES = sorted((ROOT / "templates").glob("*.html"))


@pytest.mark.parametrize("path", PY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_messages_are_plain_chinese(path):
    bad = []
    for line, text, uses_repr in python_messages(path):
        if ASCII_IN_PARENS.search(text):
            bad.append(f"{line}: English in parentheses: {text!r}")
        if uses_repr:
            bad.append(f"{line}: Python quotes ({{…!r}}) in a message: {text!r}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_text_is_plain_chinese(path):
    found = ASCII_IN_PARENS.findall(template_text(path))
    assert not found, found


def test_the_scanner_catches_what_it_should(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('"""Doc (English) 中文."""\nA = "空文件 (empty file)"\nB = f"没有这份材料: {x!r}"\n'
                      'C = "fine (ok)"\nD = "查询过长（最多 500 字）"\nE = r"(?<!\\d)(\\d{4}) 年"\n'
                      'F = "%(asctime)s 对照 %(message)s"\n', encoding="utf-8")
    found = {(line, bool(ASCII_IN_PARENS.search(text)), r) for line, text, r in python_messages(sample)}
    assert found == {(2, True, False), (3, False, True), (5, False, False), (7, False, False)}
    page = tmp_path / "p.html"
    page.write_text('<p title="x (y)">上传材料（{{ n }} 份）{% if a %}{{ "(b)" }}{% endif %}（PDF 文件）</p>',
                    encoding="utf-8")
    assert ASCII_IN_PARENS.findall(template_text(page)) == ["（PDF 文件）"]


def test_api_errors_carry_a_stable_code(client):
    r = client.get("/api/documents/zzzz")
    assert r.status_code == 404 and r.get_json()["code"] == "document_not_found"
    assert r.get_json()["error"] == "没有这份材料：“zzzz”"
    assert client.get("/api/nothing-here").get_json()["code"] == "not_found"
    body = client.get("/api/search", query_string={"q": "AND (", "mode": "words"}).get_json()
    assert body["code"] == "bad_query" and "括号" in body["error"]
