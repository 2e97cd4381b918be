"""Ingest: ids, replacement, metadata, bad files, removal, and recovery after a crash."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY

from indexer import ingest
from indexer import writer as writer_module
from indexer.errors import DocumentNotFound
from indexer.library import Library
from indexer.text import fold
from indexer.writer import IndexWriter


def by_name(lib) -> dict:
    return {d.name: d for d in lib.live.values()}


def test_add_is_idempotent_and_a_copy_elsewhere_is_a_new_material(lib, tiny_dir):
    first = lib.add([tiny_dir])
    assert first.count("added") == 3 and not first.failed
    assert {r.source for r in first.results} == {(tiny_dir / n).resolve().as_posix() for n in TINY}
    again = lib.add([tiny_dir])
    assert again.count("unchanged") == 3 and again.count("added") == 0
    assert {r.id for r in again.results} == {r.id for r in first.results}
    copy = tiny_dir.parent / "copy"
    copy.mkdir()
    (copy / "renamed.txt").write_bytes((tiny_dir / "a.txt").read_bytes())
    third = lib.add([copy])
    assert third.results[0].status == "added"
    assert third.results[0].id not in {r.id for r in first.results}
    assert len(lib) == 4


def test_stored_text_is_the_file_text_without_bom_and_crlf(lib, tiny_dir):
    (tiny_dir / "bom.txt").write_bytes("\ufeff第一行\r\n第二行\r\n".encode())
    lib.add([tiny_dir])
    docs = by_name(lib)
    assert lib.get(docs["bom.txt"].id).text == "第一行\n第二行\n"
    assert "\r" not in lib.get(docs["c.md"].id).text


def test_changed_file_is_a_new_version_of_the_same_material(lib, tiny_dir):
    lib.add([tiny_dir])
    old = by_name(lib)["a.txt"]
    (tiny_dir / "a.txt").write_text("# 县委书记对照检查材料\n全新的内容：担当作为不够。", encoding="utf-8")
    report = lib.add([tiny_dir])
    assert [(r.status, r.id) for r in report.results if r.source.endswith("a.txt")] == [("replaced", old.id)]
    new = lib.get(old.id)
    assert new.version == 2 and "担当作为不够" in new.text and new.docnum != old.docnum
    assert [(v.version, v.chars) for v in lib.versions(old.id)] == [(1, old.chars)]
    assert "往心里走" in lib.version(old.id, 1).text  # the old text is kept ...
    assert lib.search("担当作为不够", mode="phrase").total == 1
    assert lib.search("往心里走", mode="phrase").total == 0  # ... but not searchable
    assert lib.search("往心里走", mode="words").total == 0
    assert len(lib) == 3


def test_metadata_csv_and_inferred_fields(lib, tiny_dir):
    (tiny_dir / "metadata.csv").write_text("文件,单位,职务,年度,会议\na.txt,某县委,书记,2022,专题民主生活会\n",
                                           encoding="utf-8-sig")
    lib.add([tiny_dir])
    docs = by_name(lib)
    a = docs["a.txt"]
    assert (a.unit, a.role, a.year, a.meeting) == ("某县委", "书记", "2022", "专题民主生活会")
    assert a.title == "县委书记对照检查材料"
    assert docs["b.txt"].year == "2021"  # inferred from the text
    assert docs["c.md"].title == "整改措施"
    assert lib.search("政治站位", filters={"unit": "某县委"}).total == 1


def test_bad_files_are_skipped_with_reasons(lib, tiny_dir):
    (tiny_dir / "empty.txt").write_bytes(b"")
    (tiny_dir / "junk.txt").write_bytes(bytes(range(256)) * 8)
    (tiny_dir / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    report = lib.add([tiny_dir, tiny_dir / "missing.txt"])
    skipped = {Path(r.source).name: r.reason for r in report.results if r.status == "skipped"}
    assert set(skipped) == {"empty.txt", "junk.txt", "broken.docx", "missing.txt"}
    assert all(skipped.values())
    assert report.failed and report.count("added") == 3


def test_remove(lib, tiny_dir):
    lib.add([tiny_dir])
    doc = next(iter(lib.live.values()))
    lib.remove(doc.id[:8])
    with pytest.raises(DocumentNotFound):
        lib.get(doc.id)
    assert len(lib) == 2
    assert doc.id not in {h.id for h in lib.search(fold(lib.texts([]).get(0, "") or "对照检查"), limit=100).hits}
    with pytest.raises(DocumentNotFound):
        lib.remove("nope")


def test_crash_mid_add_keeps_committed_documents_and_rerun_completes(tmp_path, samples_dir, monkeypatch):
    index = tmp_path / "index"
    monkeypatch.setattr(writer_module, "BATCH_DOCS", 2)
    calls = {"n": 0}
    real_commit = IndexWriter._commit

    def dying_commit(self, pending):
        calls["n"] += 1
        if calls["n"] == 2:  # the second batch dies after its segment and words were written
            self.lib.segments.add([9999], ["半截"], [ingest.fingerprint_text("半截")])
            raise KeyboardInterrupt
        return real_commit(self, pending)

    monkeypatch.setattr(IndexWriter, "_commit", dying_commit)
    with Library(index) as lib, pytest.raises(KeyboardInterrupt):
        lib.add([samples_dir])
    monkeypatch.setattr(IndexWriter, "_commit", real_commit)
    with Library(index) as lib:
        assert len(lib) == 2  # the first batch is committed and searchable
        assert lib.search("巡视", mode="phrase").total == 2
        report = lib.add([samples_dir])
        assert report.count("unchanged") == 2 and report.count("added") == 3
        assert lib.search("巡视", mode="phrase").total == 5
        assert lib.search("巡视", mode="words").total == 5


def test_kill_9_during_add_never_corrupts(tmp_path, samples_dir):
    """A real SIGKILL in the middle of `indexer add`: what was committed stays, a rerun finishes."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    texts = [p.read_text(encoding="utf-8") for p in sorted(samples_dir.glob("*.txt"))]
    for i in range(400):
        (corpus / f"{i:04d}.txt").write_text(f"第{i}号材料。\n" + texts[i % 5][: 1500 + i], encoding="utf-8")
    index = tmp_path / "index"
    env = dict(os.environ, PYTHONPATH=str(samples_dir.parent.parent))
    code = ("import sys; from indexer import writer as W; W.BATCH_DOCS = 40; "
            "from indexer.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, "--index", str(index), "add", "-q", str(corpus)],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.2)
        if (index / "documents.sqlite").exists():
            with Library(index) as lib:
                if len(lib) >= 80:
                    break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with Library(index) as lib:
        before = len(lib)
        assert before < 400
        for doc in list(lib.live.values())[:20]:
            assert lib.search(fold(lib.get(doc.id).text)[:30], mode="phrase").total >= 1
        report = lib.add([corpus])
        assert report.count("unchanged") == before and report.count("added") == 400 - before
        assert len(lib) == 400
        assert lib.search("第399号材料", mode="phrase").total == 1
        assert lib.search("第0号材料", mode="words").total >= 1


def test_stats_and_documents(sample_lib):
    stats = sample_lib.stats()
    assert stats["documents"] == len(sample_lib) == 8
    total, docs = sample_lib.documents(limit=3, offset=1)
    assert total == 8 and len(docs) == 3


def test_parallel_ingest_after_a_suffix_array_was_built_in_process(lib, tiny_dir, samples_dir, tmp_path):
    """Worker processes must not inherit libdivsufsort's OpenMP state (a forked child can hang)."""
    lib.add([tiny_dir])  # builds a suffix array in this process
    many = tmp_path / "many"
    many.mkdir()
    text = (samples_dir / "001_9ec64d2555574bdf.txt").read_text(encoding="utf-8")
    for i in range(20):
        (many / f"{i:02d}.txt").write_text(f"第{i}份。" + text[i * 50:i * 50 + 800], encoding="utf-8")
    report = lib.add([many])
    assert report.count("added") == 20 and lib.search("第19份", mode="phrase").total == 1


def test_kill_9_during_new_versions_loses_no_material(tmp_path, samples_dir):
    """SIGKILL while `indexer add` writes new versions of changed files: every material is still
    there (old or new version, never both, never neither), and a rerun finishes the job."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    texts = [p.read_text(encoding="utf-8") for p in sorted(samples_dir.glob("*.txt"))]
    for i in range(160):
        (corpus / f"{i:04d}.txt").write_text(f"第{i}号材料初稿。\n" + texts[i % 5][:1200 + i], encoding="utf-8")
    index = tmp_path / "index"
    with Library(index) as lib:
        lib.add([corpus])
        ids = {d.id for d in lib.live.values()}
    for i in range(160):
        (corpus / f"{i:04d}.txt").write_text(f"第{i}号材料定稿。\n" + texts[(i + 1) % 5][:1200 + i], encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(samples_dir.parent.parent))
    code = ("import sys; from indexer import writer as W; W.BATCH_DOCS = 20; "
            "from indexer.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, "--index", str(index), "add", "-q", str(corpus)],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        with Library(index) as lib:
            if sum(d.version == 2 for d in lib.live.values()) >= 40:
                break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with Library(index) as lib:
        assert {d.id for d in lib.live.values()} == ids
        done = sum(d.version == 2 for d in lib.live.values())
        assert 0 < done
        for d in lib.live.values():
            word = "定稿" if d.version == 2 else "初稿"
            n = int(d.name[:4])
            assert lib.search(f"第{n}号材料{word}", mode="phrase").total == 1
        report = lib.add([corpus])
        assert report.count("replaced") == 160 - done and report.count("unchanged") == done
        assert {d.id for d in lib.live.values()} == ids
        assert all(d.version == 2 for d in lib.live.values())
        assert lib.search("初稿", mode="phrase").total == 0 and lib.search("定稿", mode="words").total == 160
        assert all(len(lib.versions(i)) == 1 for i in ids)


def _catalog_state(lib) -> list[dict]:
    return [{**d.to_dict(), "docnum": d.docnum} for d in lib.live.values()]


def test_a_reader_follows_every_change_reading_only_the_changed_rows(tmp_path, tiny_dir, monkeypatch):
    """Another process's adds, new versions, metadata edits and removals reach a reader's catalog
    through the change log: the rows that changed are read, never the whole catalog again, and the
    catalog equals one read from scratch (docnums ascending)."""
    from indexer.store import Store

    writer_lib = Library(tmp_path / "index")
    reader = Library(tmp_path / "index")
    writer_lib.add([tiny_dir])
    assert len(reader) == 3 and len(_catalog_state(reader)) == 3  # read once, whole
    whole_reads = []
    read_all = Store.all
    monkeypatch.setattr(Store, "all", lambda self: whole_reads.append(self is reader.store) or read_all(self))

    def fresh_codes(state):
        values, codes = {}, [-1] * (max((d["docnum"] for d in state), default=0) + 1)
        for d in state:
            if d["unit"]:
                codes[d["docnum"]] = values.setdefault(d["unit"], len(values))
        return codes

    def step(action):
        action()
        got = _catalog_state(reader)
        with Library(tmp_path / "index") as fresh:
            want = _catalog_state(fresh)
        assert got == want and [d["docnum"] for d in got] == sorted(d["docnum"] for d in got)
        assert reader.catalog.codes["unit"].tolist() == fresh_codes(want)

    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "d.txt").write_text("新增的一份材料，讲基层治理。", encoding="utf-8")
    step(lambda: writer_lib.add([extra]))
    a = next(d for d in writer_lib.live.values() if d.name == "a.txt")
    step(lambda: writer_lib.update_metadata(a.id, unit="某县纪委", title="改过的标题"))
    (tiny_dir / "b.txt").write_text("乙材料的第二版，内容改了。", encoding="utf-8")
    step(lambda: writer_lib.add([tiny_dir]))
    step(lambda: writer_lib.remove(a.id))
    assert True not in whole_reads
    writer_lib.close()
    reader.close()


def test_a_reader_behind_the_change_log_reads_everything(tmp_path, tiny_dir, monkeypatch):
    """Changes older than the log keeps (``CHANGES_KEPT`` generations) are dropped; a reader that far
    behind reads the whole catalog again, and is right."""
    from indexer import store as store_module

    monkeypatch.setattr(store_module, "CHANGES_KEPT", 3)
    writer_lib, reader = Library(tmp_path / "index"), Library(tmp_path / "index")
    writer_lib.add([tiny_dir])
    assert len(reader.live) == 3
    doc = next(iter(writer_lib.live.values()))
    for i in range(110):  # generations 2..111: the log is cut at 100 - 3
        writer_lib.update_metadata(doc.id, year=str(1900 + i))
    assert writer_lib.store.changed_since(1) is None
    assert reader.live[doc.docnum].year == "2009"
    with Library(tmp_path / "index") as fresh:
        assert _catalog_state(reader) == _catalog_state(fresh)
    writer_lib.close()
    reader.close()


def test_an_index_without_a_change_log_gets_one(tmp_path, tiny_dir):
    """Indexes written before the change log get it when opened; their readers start from a whole read."""
    import sqlite3

    with Library(tmp_path / "index") as lib:
        lib.add([tiny_dir])
    db = sqlite3.connect(tmp_path / "index" / "documents.sqlite")
    for name in ("inserted", "updated", "deleted"):
        db.execute(f"DROP TRIGGER documents_{name}")
    db.execute("DROP TABLE changes")
    db.execute("DELETE FROM state WHERE key='changes_since'")
    db.commit()
    db.close()
    writer_lib, reader = Library(tmp_path / "index"), Library(tmp_path / "index")
    assert len(reader.live) == 3
    doc = next(iter(writer_lib.live.values()))
    writer_lib.update_metadata(doc.id, unit="某单位")
    assert writer_lib.store.changed_since(writer_lib.store.generation() - 1) == {doc.docnum}
    assert reader.live[doc.docnum].unit == "某单位"
    writer_lib.close()
    reader.close()


def test_a_check_reads_no_catalog(sample_lib, monkeypatch, samples_dir):
    """``indexer check``: the live docnums and the sources' own rows, never every material's metadata."""
    from indexer.store import Store

    text = next(samples_dir.glob("*.txt")).read_text(encoding="utf-8")
    with Library(sample_lib.path) as lib:
        monkeypatch.setattr(Store, "all", lambda self: pytest.fail("the whole catalog was read"))
        rep = lib.report_text(text, title="x.txt")
    assert rep["sources"] and rep["sources"][0]["id"] and rep["check"]["library_documents"] == len(sample_lib)
