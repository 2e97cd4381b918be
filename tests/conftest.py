"""Shared fixtures: tiny real Chinese materials, and libraries built from them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from indexer.library import Library

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"

# Small real-looking materials with known shared passages, line breaks inside words and dirt.
TINY = {
    "a.txt": "# 县委书记对照检查材料\n一是政治站位不够高，学习贯彻习近平新时代中国特色社会主义思想往深里走、往心里走还不够。\n"
             "二是理论学习不深不实，存在以干代学现象。",
    "b.txt": "乡镇党委书记对照检查材料\n本人政治站\n位不够高，理论学习不深不实。\u00a02021年度查摆问题如下：形式主义、官僚主义问题仍然存在。",
    "c.md": "## 整改措施\n\n坚持以人民为中心的发展思想，ＸＸ县委要求全面从严治党。\r\n\r\n落实“第一议题”制度。",
}


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    for name, text in TINY.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def lib(tmp_path: Path):
    with Library(tmp_path / "index") as library:
        yield library


@pytest.fixture(scope="session")
def sample_lib(tmp_path_factory):
    """A library of the shipped samples plus the tiny materials (read-only for tests)."""
    root = tmp_path_factory.mktemp("sample")
    docs = root / "docs"
    shutil.copytree(SAMPLES, docs)
    for name, text in TINY.items():
        (docs / name).write_text(text, encoding="utf-8")
    with Library(root / "index") as library:
        report = library.add([docs])
        assert not report.failed
        yield library
