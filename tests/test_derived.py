"""Tables derived from the program alone, kept on disk (``indexer.derived``)."""

from __future__ import annotations

import importlib
import os
import pickle
import sys

import numpy as np
import pytest

from indexer import derived
from indexer.detect import lexicon
from indexer.text import Folder

normalize = importlib.import_module("indexer.detect.normalize")  # the package exports a function by that name


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("DUIZHAO_CACHE", str(folder))
    return folder


class Table:
    def __init__(self, n: int):
        self.codes = np.arange(n, dtype=np.int64)
        self.shift = np.uint64(7)
        self.names = {i: str(i) for i in range(n)}


def _cached(builds: list, n: int = 5):
    def build():
        builds.append(n)
        return Table(n)
    return derived.cached("table", build, modules=(__name__,), trusted=(Table,))


def test_a_table_is_built_once_then_read_from_disk(cache):
    builds = []
    first = _cached(builds)
    again = _cached(builds)
    assert builds == [5]
    assert again is not first and again.codes.tolist() == first.codes.tolist()
    assert again.shift == first.shift and again.names == first.names
    assert [p.name.startswith("table-") for p in cache.iterdir()] == [True]


def test_a_change_of_the_building_code_builds_again_and_drops_the_old_file(cache, monkeypatch):
    builds = []
    _cached(builds)
    source = cache.parent / "builder.py"
    source.write_text("# another version of the code\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "__file__", str(source))
    _cached(builds, 6)
    assert builds == [5, 6]
    assert len(list(cache.iterdir())) == 1


def test_a_planted_file_never_runs_code_and_is_rebuilt(cache, tmp_path):
    builds = []
    _cached(builds)
    (path,) = cache.iterdir()
    marker = tmp_path / "ran"
    path.write_bytes(pickle.dumps(_Evil(str(marker))))
    assert _cached(builds).codes.tolist() == list(range(5))
    assert builds == [5, 5] and not marker.exists()
    path.write_bytes(b"not a pickle")
    _cached(builds)
    assert builds == [5, 5, 5]


class _Evil:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.mark.parametrize("setting", ["off", ""])
def test_the_cache_can_be_turned_off(monkeypatch, tmp_path, setting):
    monkeypatch.setenv("DUIZHAO_CACHE", setting)
    builds = []
    _cached(builds)
    _cached(builds)
    assert builds == [5, 5]


def test_an_unwritable_cache_only_costs_the_build(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("DUIZHAO_CACHE", str(blocker / "cache"))
    builds = []
    assert _cached(builds).codes.tolist() == list(range(5))
    assert builds == [5]


def test_detection_tables_read_back_equal_to_built_ones(cache):
    """The copy-detection view of every character and the synonym lexicon, as read from disk, are
    the tables the program builds."""
    normalize.detect_folder.cache_clear()
    lexicon.cilin.cache_clear()
    try:
        normalize.detect_folder()
        lexicon.cilin()
        assert len(list(cache.iterdir())) == 2
        normalize.detect_folder.cache_clear()
        lexicon.cilin.cache_clear()
        folder, lex = normalize.detect_folder(), lexicon.cilin()
        fresh_folder, fresh_lex = Folder(normalize._fold_char), lexicon._build_cilin()
    finally:
        normalize.detect_folder.cache_clear()
        lexicon.cilin.cache_clear()
    assert folder.table == fresh_folder.table
    assert np.array_equal(folder.lengths, fresh_folder.lengths)
    assert lex.size == fresh_lex.size
    text = "坦率地说，我们要帮助群众推动工作，關心老百姓，商量讨论。"
    cps = np.frombuffer(normalize.normalize(text).text.encode("utf-32-le"), dtype=np.uint32)
    for n in (2, 3):
        got, want = lex.classes_at(cps, n), fresh_lex.classes_at(cps, n)
        assert len(want[0]) and all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
