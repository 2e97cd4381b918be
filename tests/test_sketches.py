"""Sentence-stage sketches stored at ingest (issue 11's compare speed): each document's sketch is
computed once when it is added, kept through merges, filled in by merges and ``indexer upgrade`` for
segments written without them, and never used when computed with other parameters."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
from test_rewrite import GENRE_B, ORIGIN, OWN, SPUN, _material

from indexer import copies, ingest
from indexer.cli import main
from indexer.detect import DEFAULTS, compare_corpus, normalize
from indexer.detect.sentences import sketch_params, sketch_text
from indexer.library import Library
from indexer.segments import SegmentSet, Sketches
from indexer.text import fold


def _doc(i: int) -> str:
    return (f"第{i}号材料。在理论学习方面，我有时满足于读过了、学过了，对新思想的深入思考不够。"
            + OWN[i % len(OWN)] + f"整改措施第{i}条，落实到位，群众反映的困难及时帮助解决。")


def _same(got, want) -> bool:
    return got is not None and np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def _stored_everywhere(lib: Library) -> bool:
    params = sketch_params(DEFAULTS)
    return all(_same(lib.segments.sketch(n, params), sketch_text(normalize(lib.texts([n])[n]), DEFAULTS))
               for n in lib.live)


def test_ingest_stores_every_sketch_and_merges_keep_them(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    with Library(tmp_path / "index") as lib:
        for i in range(12):  # twelve commits: the merge policy merges some of them
            (docs / f"m{i}.txt").write_text(_doc(i), encoding="utf-8")
            assert not lib.add([docs / f"m{i}.txt"]).failed
        lib.remove(lib.live[min(lib.live)].id)
        assert len(lib.segments.segments) < 12
        assert all(s.sketch_params == ingest.stored_sketch_params() for s in lib.segments.segments)
        assert _stored_everywhere(lib)
        saved = json.loads((lib.segments.segments[0].path / "sketch.json").read_text(encoding="utf-8"))
        assert saved == sketch_params(DEFAULTS)


def test_a_merge_fills_the_sketches_a_victim_lacks(tmp_path):
    texts = {i: _doc(i) for i in range(1, 10)}
    segs = SegmentSet(tmp_path / "segments")
    params = ingest.stored_sketch_params()
    for i in (1, 4, 7):
        nums = [i, i + 1, i + 2]
        with_sketch = Sketches(params, rows=[ingest.sketch_of_text(texts[n]) for n in nums]) if i != 4 else None
        segs.add(nums, [fold(texts[n]) for n in nums], [ingest.fingerprint_text(texts[n]) for n in nums],
                 with_sketch)
    assert [s.sketch_params is not None for s in segs.segments] == [True, False, True]
    # without a way to compute them, a merge cannot store sketches for all its documents: none
    segs._merge(segs.segments[:2], np.arange(1, 10), lambda n: ingest.fingerprint_text(texts[n]))
    assert segs.segments[-1].sketch_params is None and segs.sketch(2, params) is None
    source = Sketches(params, of=lambda n: ingest.sketch_of_text(texts[n]))
    segs._merge(list(segs.segments), np.arange(1, 9), lambda n: ingest.fingerprint_text(texts[n]), source)
    assert len(segs.segments) == 1 and segs.segments[0].sketch_params == params
    for n in range(1, 9):
        assert _same(segs.sketch(n, params), ingest.sketch_of_text(texts[n]))
    assert segs.sketch(9, params) is None  # not live: dropped by the merge
    assert segs.sketch(3, {**params, "unit_sketch_stored": 99}) is None  # other parameters: not used
    segs.close()


def _spun_library(tmp_path) -> tuple[Library, str]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "origin.txt").write_text(_material(OWN[:3], ORIGIN, 1)[0], encoding="utf-8")
    (docs / "other.txt").write_text(GENRE_B, encoding="utf-8")
    (docs / "copy.txt").write_text(_material(OWN[3:], SPUN, 2)[0], encoding="utf-8")
    lib = Library(tmp_path / "index")
    assert not lib.add([docs]).failed
    return lib, docs


def _plain_compare(lib: Library) -> list:
    """The compare computing every sketch from the texts (no stored ones)."""
    live = lib.live
    fps = {live[n].id: lib.fingerprints(n) for n in sorted(live)}
    texts = {live[n].id: lib.texts([n])[n] for n in sorted(live)}
    return compare_corpus(fps, texts.__getitem__, options=lib.detect_options).to_json(
        {d: d for d in fps})["pairs"]


def test_the_compare_reads_stored_sketches_and_finds_what_computing_them_finds(tmp_path, monkeypatch):
    lib, _ = _spun_library(tmp_path)
    with lib:
        want = _plain_compare(lib)
        assert len(want) == 1  # the spun copy: found by the sentence stage alone
        computed = []
        real = sketch_text
        monkeypatch.setattr("indexer.detect.corpus.sketch_text",
                            lambda *a, **k: computed.append(1) or real(*a, **k))
        got = copies.compare_corpus(lib)["pairs"]
        assert not computed  # every sketch came from the segments
        assert [(p["a"], p["b"], [x["a"] for x in p["passages"]]) for p in got] == \
            [(p["a"], p["b"], [x["a"] for x in p["passages"]]) for p in want]


def test_an_index_written_without_sketches_compares_alike_and_upgrade_stores_them(tmp_path, monkeypatch, capsys):
    old = {**sketch_params(DEFAULTS), "sketch_version": 0}  # as if written by an older program
    monkeypatch.setattr(ingest, "stored_sketch_params", lambda: old)
    lib, _ = _spun_library(tmp_path)
    monkeypatch.undo()
    with lib:
        assert all(s.sketch_params == old for s in lib.segments.segments)
        want = _plain_compare(lib)
        got = copies.compare_corpus(lib)["pairs"]  # computes the sketches it cannot use
        assert [(p["a"], p["b"]) for p in got] == [(p["a"], p["b"]) for p in want] and len(got) == 1
    index = tmp_path / "index"
    assert main(["--index", str(index), "upgrade", "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["segments_rebuilt"] >= 1
    with Library(index) as lib:
        assert all(s.sketch_params == sketch_params(DEFAULTS) for s in lib.segments.segments)
        assert _stored_everywhere(lib)


def test_other_unit_options_never_read_stored_sketches(tmp_path):
    lib, _ = _spun_library(tmp_path)
    with lib:
        other = replace(DEFAULTS, unit_sketch_stored=DEFAULTS.unit_sketch_stored + 4)
        n = min(lib.live)
        got = lib.sketch(n, other)
        assert _same(got, sketch_text(normalize(lib.texts([n])[n]), other))
        assert not _same(got, lib.sketch(n))


def test_stored_sketch_rows_round_trip_in_their_compact_columns(tmp_path):
    """Units in 16 bits when they fit, 40-bit keys in 32 + 8 bits; anything else is kept whole."""
    top = (1 << 40) - 1
    cases = {1: (np.array([0, 0, 5, 65535]), np.array([0, top, 1 << 32, (1 << 32) - 1])),
             2: (np.array([3, 70_000]), np.array([7, top])),  # a unit past 16 bits
             3: (np.array([1, 2]), np.array([-5, 1 << 45]))}  # keys that are no 40-bit hashes
    for n, rows in cases.items():
        segs = SegmentSet(tmp_path / f"s{n}")
        segs.add([n], ["文"], [ingest.fingerprint_text("文")], Sketches({"v": n}, rows=[rows]))
        got = segs.sketch(n, {"v": n})
        assert got[0].dtype == got[1].dtype == np.int64 and _same(got, rows)
        layout = json.loads((segs.segments[0].path / "layout.json").read_text(encoding="utf-8"))
        assert ("sk_key" in layout) == (n == 3)
        assert layout["sk_unit"][1] == ("<u4" if n == 2 else "<u2")
        segs.close()
