"""The versioned index format: parameters recorded, mismatches refused in Chinese, ``indexer upgrade``
rebuilding what changed (resumably, also after SIGKILL), format-1 indexes adopted without a rebuild."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from indexer import detect, format, ingest
from indexer.cli import main
from indexer.errors import IndexFormatMismatch, IndexTooNew
from indexer.library import Library
from indexer.upgrade import upgrade

ROOT = Path(__file__).resolve().parent.parent


def _doc(i: int) -> str:
    return f"第{i}号材料。" + "对照检查发现的问题" * (3 + i % 5) + f"整改措施第{i}条，落实到位。"


def _files(tmp_path: Path, n: int) -> list[Path]:
    out = []
    for i in range(1, n + 1):
        path = tmp_path / "files" / f"{i:02d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(_doc(i), encoding="utf-8")
        out.append(path)
    return out


def _record(index: Path) -> dict:
    return json.loads((index / format.RECORD).read_text(encoding="utf-8"))


def test_a_new_index_records_its_format_and_parameters(tmp_path):
    with Library(tmp_path / "index"):
        pass
    record = _record(tmp_path / "index")
    assert record["format"] == format.FORMAT_VERSION
    assert record["params"] == format.current_params()
    assert record["params"]["fingerprint_k"] == detect.DEFAULTS.k
    assert record["params"]["unicode_version"]


def test_an_index_without_a_record_and_todays_parameters_is_adopted_without_rebuilding(tmp_path, tiny_dir):
    index = tmp_path / "index"
    with Library(index) as lib:
        lib.add([tiny_dir])
        names = [s.name for s in lib.segments.segments]
    (index / format.RECORD).unlink()
    for seg in names:  # format 1 segments recorded no parameters either
        (index / "segments" / seg / "params.json").unlink()
    with Library(index) as lib:
        assert [s.name for s in lib.segments.segments] == names
        assert lib.search("政治站位", mode="phrase").total == 2
    assert _record(index)["params"] == format.current_params()


def _build_with_k8(tmp_path: Path, monkeypatch, n: int = 4) -> Path:
    """An index written by a program whose fingerprints used k = 8: one segment per file."""
    index = tmp_path / "index"
    monkeypatch.setattr(detect, "DEFAULTS", replace(detect.DEFAULTS, k=8))
    with Library(index) as lib:
        for path in _files(tmp_path, n):
            lib.add([path])
        assert len(lib.segments.segments) == n
    monkeypatch.undo()
    return index


def test_other_parameters_are_refused_with_a_chinese_message_naming_upgrade(tmp_path, monkeypatch, capsys):
    index = _build_with_k8(tmp_path, monkeypatch)
    with pytest.raises(IndexFormatMismatch) as err:
        Library(index)
    message = str(err.value)
    assert "indexer" in message and "upgrade" in message and "指纹长度 k：索引中为 8，程序为 9" in message
    assert err.value.differences == {"fingerprint_k": (8, 9)}
    assert main(["--index", str(index), "ls"]) == 2
    assert "upgrade" in capsys.readouterr().err


def test_upgrade_rebuilds_fingerprints_and_then_the_index_opens(tmp_path, monkeypatch, capsys):
    index = _build_with_k8(tmp_path, monkeypatch)
    assert main(["--index", str(index), "upgrade", "--json", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["segments_rebuilt"] == 4 and out["documents_refolded"] == 4 and out["words_rebuilt"] == 0
    assert _record(index)["params"] == format.current_params()
    with Library(index) as lib:
        assert len(lib) == 4
        for doc in lib.live.values():
            want = ingest.fingerprint_text(lib.get(doc.id).text)
            got = lib.segments.fingerprints(doc.docnum)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        assert lib.search("第3号材料", mode="phrase").total == 1
    assert main(["--index", str(index), "upgrade", "-q"]) == 0
    assert "无需重建" in capsys.readouterr().out


def test_a_new_jieba_rebuilds_the_word_index(tmp_path, tiny_dir):
    index = tmp_path / "index"
    with Library(index) as lib:
        lib.add([tiny_dir])
        count = len(lib)
    record = _record(index)
    record["params"]["jieba_version"] = "0.39"
    (index / format.RECORD).write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(IndexFormatMismatch, match="jieba"):
        Library(index)
    report = upgrade(index)
    assert report.words_rebuilt == count and report.segments_rebuilt == 0
    with Library(index) as lib:
        assert lib.search("政治站位", mode="words").total >= 1


def test_a_format_one_segment_holding_everything_is_rebuilt_as_capped_segments(tmp_path, monkeypatch):
    index = tmp_path / "index"
    monkeypatch.setattr(detect, "DEFAULTS", replace(detect.DEFAULTS, window=5))
    with Library(index) as lib:
        lib.add([_files(tmp_path, 15)[0].parent])  # one segment of fifteen materials
        assert len(lib.segments.segments) == 1
        size = lib.segments.segments[0].nbytes
    monkeypatch.undo()
    report = upgrade(index, max_segment_bytes=size // 2)
    assert report.segments_rebuilt == 1
    with Library(index) as lib:
        assert len(lib.segments.segments) >= 3  # each at most a quarter of the old one
        assert lib.search("对照检查发现的问题", mode="phrase").total == 15


def test_an_index_from_a_newer_program_is_refused(tmp_path):
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / format.RECORD).write_text(json.dumps({"format": 99, "params": {}}), encoding="utf-8")
    with pytest.raises(IndexTooNew, match="更新版本"):
        Library(tmp_path / "index")


KILL_IN_UPGRADE = """
import os, signal, sys
from indexer import segments
real = segments.SegmentSet.swap
calls = []
def swap(self, old, new):
    real(self, old, new)
    calls.append(old)
    if len(calls) == 2:  # two segments rebuilt and listed, two to go
        os.kill(os.getpid(), signal.SIGKILL)
segments.SegmentSet.swap = swap
from indexer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_during_an_upgrade_loses_nothing_and_a_rerun_finishes(tmp_path, monkeypatch):
    index = _build_with_k8(tmp_path, monkeypatch)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", KILL_IN_UPGRADE, "--index", str(index), "upgrade", "-q"],
                          env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    with pytest.raises(IndexFormatMismatch):  # half upgraded: still refused, never silently mixed
        Library(index)
    report = upgrade(index)
    assert report.segments_rebuilt == 2  # resumed: the two already rebuilt are kept
    with Library(index) as lib:
        assert len(lib) == 4
        for i in range(1, 5):
            assert lib.search(f"第{i}号材料", mode="phrase").total == 1
        assert all(s.params == format.segment_params() for s in lib.segments.segments)
        assert {p.name for p in (index / "segments").iterdir() if p.is_dir()} == {
            s.name for s in lib.segments.segments}
