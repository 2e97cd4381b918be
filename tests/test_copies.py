"""Copy detection through the library: reports, the pre-submission check, pairs, the corpus compare."""

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.cli import main
from indexer.library import Library

TEMPLATE = ("坚持以习近平新时代中国特色社会主义思想为指导，全面贯彻党的二十大精神，"
            "深刻领悟两个确立的决定性意义，增强四个意识、坚定四个自信、做到两个维护。")


def _passage(samples_dir):
    text = (samples_dir / "000_c5586a85bf0f57cc.txt").read_text(encoding="utf-8")
    start = text.index("一是理论学习不深不实不细")
    return text[start:start + 220]


@pytest.fixture
def corpus(tmp_path, samples_dir):
    """The samples, a copier of sample 000 (place swapped, a line break, a few edits), and six short
    materials that all carry the same stock passage."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for p in samples_dir.glob("*.txt"):
        (docs / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    copied = _passage(samples_dir).replace("省委", "州委").replace("学习", "学\n习", 1).replace("不足", "不够")
    (docs / "copier.txt").write_text("某县纪委书记对照检查材料\n今年以来，本人认真履职。\n" + copied
                                     + "\n下一步，我将持续改进作风，狠抓落实。", encoding="utf-8")
    for i in range(6):
        own = f"第{i}号单位材料：本单位在基层治理方面做了大量工作，群众满意度第{i + 3}次提升，各项指标稳步向好。"
        (docs / f"stock{i}.txt").write_text(own + "\n" + TEMPLATE + "\n" + own[::-1], encoding="utf-8")
    return docs


@pytest.fixture
def clib(tmp_path, corpus):
    with Library(tmp_path / "index") as lib:
        assert not lib.add([corpus]).failed
        yield lib


def _doc(lib, source):
    return next(d for d in lib.live.values() if Path(d.source).name == source)


def test_report_finds_the_copied_passage_and_its_source(clib, samples_dir):
    copier, origin = _doc(clib, "copier.txt"), _doc(clib, "000_c5586a85bf0f57cc.txt")
    rep = clib.report(copier.id)
    assert rep["sources"][0]["id"] == origin.id
    assert 0.3 < rep["copy_ratio"] <= rep["copy_ratio_with_boilerplate"] <= 1
    assert rep["max_single_ratio"] == rep["sources"][0]["ratio"]
    text = clib.get(copier.id).text
    origin_text = clib.get(origin.id).text
    (p,) = [p for p in rep["passages"] if p["source_id"] == origin.id]
    assert text[p["a"][0]:p["a"][1]] == p["text_a"] and origin_text[p["b"][0]:p["b"][1]] == p["text_b"]
    assert "州委" in p["text_a"] and "省委" in p["text_b"]
    assert any(e[0] != "equal" for e in p["edits"])
    # the passage covers nearly all of what was copied
    copied = text.index("一是理论学")
    assert p["a"][0] <= copied + 5 and p["a"][1] >= copied + 200


def test_the_origin_report_names_the_copier(clib):
    copier, origin = _doc(clib, "copier.txt"), _doc(clib, "000_c5586a85bf0f57cc.txt")
    rep = clib.report(origin.id)
    assert copier.id in {s["id"] for s in rep["sources"]}


def test_stock_passage_is_boilerplate_not_copying(clib):
    rep = clib.report(_doc(clib, "stock0.txt").id)
    assert rep["copy_ratio"] == 0 and not rep["passages"]
    assert rep["boilerplate"] and rep["boilerplate"][0]["documents"] >= 5
    assert rep["copy_ratio_with_boilerplate"] > 0.3
    result = clib.compare()
    assert not [p for p in result["pairs"] if {p["a"], p["b"]} & {_doc(clib, f"stock{i}.txt").id for i in range(6)}]
    for i in range(6):  # in every host, the stock passage is (almost) all covered by boilerplate
        doc = clib.get(_doc(clib, f"stock{i}.txt").id)
        start = doc.text.index(TEMPLATE)
        covered = set()
        for b in result["boilerplate"]:
            for o in b["occurrences"]:
                if o["doc"] == doc.id:
                    covered.update(range(*o["span"]))
        assert len(covered & set(range(start, start + len(TEMPLATE)))) >= 0.8 * len(TEMPLATE)


def test_compare_json_shape_and_pair(clib):
    result = clib.compare()
    assert set(result) >= {"documents", "pairs", "boilerplate", "clusters"}
    assert len(result["documents"]) == len(clib)
    copier, origin = _doc(clib, "copier.txt"), _doc(clib, "000_c5586a85bf0f57cc.txt")
    (pair,) = [p for p in result["pairs"] if {p["a"], p["b"]} == {copier.id, origin.id}]
    assert pair["shared_chars"] > 150 and len(pair["passages"]) == 1
    assert any(set(c["documents"]) >= {copier.id, origin.id} for c in result["clusters"])


def test_compare_records_covered_chars_in_the_unit_of_its_chars(clib):
    """The documents list's 复制比 (``covered_chars / chars``) counts normalized characters on both
    sides, so it never exceeds what the passages cover."""
    from indexer.detect import char_count, normalize
    from indexer.detect.tiers import covered

    result = clib.compare()
    copier = _doc(clib, "copier.txt")
    doc = next(d for d in result["documents"] if d["id"] == copier.id)
    text = clib.get(copier.id).text
    assert doc["chars"] == copier.chars == char_count(text)
    spans = [tuple(x["a"] if p["a"] == copier.id else x["b"]) for p in result["pairs"] + result["minor_pairs"]
             if copier.id in (p["a"], p["b"]) for x in p["passages"]]
    norm = normalize(text)
    assert doc["covered_chars"] == covered(spans, norm, np.ones(len(norm), dtype=bool)) > 150
    assert doc["covered_chars"] < sum(e - s for s, e in spans)  # punctuation and spaces not counted


def test_compare_pair_is_symmetric(clib):
    copier, origin = _doc(clib, "copier.txt"), _doc(clib, "000_c5586a85bf0f57cc.txt")
    ab, ba = clib.compare_pair(copier.id, origin.id), clib.compare_pair(origin.id, copier.id)
    assert [(p["a"], p["b"]) for p in ab["passages"]] == [(p["b"], p["a"]) for p in ba["passages"]]
    assert ab["similarity"] == ba["similarity"] and ab["shared_chars"] == ba["shared_chars"] > 0


def test_compare_pair_is_computed_once_per_library_state(clib, monkeypatch, tmp_path, samples_dir):
    """Regression: /compare recomputed the pair on every view (2 s on 10,000 materials)."""
    from indexer import copies

    copier, origin = _doc(clib, "copier.txt"), _doc(clib, "000_c5586a85bf0f57cc.txt")
    calls = []
    real = copies.compare_pair
    monkeypatch.setattr(copies, "compare_pair", lambda *a: calls.append(a) or real(*a))
    first = clib.compare_pair(copier.id, origin.id)
    assert clib.compare_pair(copier.id, origin.id) == first and len(calls) == 1
    assert clib.compare_pair(copier.id, origin.id, cached=False) == first and len(calls) == 2
    late = tmp_path / "late"
    late.mkdir()
    (late / "late.txt").write_text("后来的材料\n" + _passage(samples_dir), encoding="utf-8")
    clib.add([late])  # a new library state: computed again
    clib.compare_pair(copier.id, origin.id)
    assert len(calls) == 3


def test_check_reports_without_adding(clib, tmp_path, samples_dir):
    new = tmp_path / "draft.txt"
    new.write_text("草稿\n" + _passage(samples_dir).replace("区委", "市委") + "\n其余为本人原创内容，与他人无关。",
                   encoding="utf-8")
    before = len(clib)
    rep = clib.report_text(new.read_text(encoding="utf-8"), title="draft.txt")
    assert len(clib) == before
    assert rep["copy_ratio"] > 0.5
    assert {Path(s["source"]).name for s in rep["sources"]} >= {"000_c5586a85bf0f57cc.txt", "copier.txt"}


def test_results_follow_additions_and_removals(clib, tmp_path, samples_dir):
    first = clib.compare()
    copier = _doc(clib, "copier.txt")
    clib.remove(copier.id)
    after = clib.compare()
    assert after is not first and not [p for p in after["pairs"] if copier.id in (p["a"], p["b"])]
    late = tmp_path / "late"
    late.mkdir()
    (late / "late.txt").write_text("后来的材料\n" + _passage(samples_dir), encoding="utf-8")
    clib.add([late])
    late_doc = _doc(clib, "late.txt")
    assert Path(clib.report(late_doc.id)["sources"][0]["source"]).name == "000_c5586a85bf0f57cc.txt"
    assert [p for p in clib.compare()["pairs"] if late_doc.id in (p["a"], p["b"])]


def test_cli_compare_report_check(capsys, tmp_path, corpus, samples_dir):
    index = str(tmp_path / "cli-index")
    main(["--index", index, "add", "-q", str(corpus)])
    capsys.readouterr()
    assert main(["--index", index, "compare", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] and all({"a", "b", "passages"} <= set(p) for p in result["pairs"])
    assert main(["--index", index, "compare"]) == 0
    assert "对存在雷同段落" in capsys.readouterr().out
    copier = next(d for d in result["documents"] if Path(d["source"]).name == "copier.txt")
    assert main(["--index", index, "report", copier["id"]]) == 0
    out = capsys.readouterr().out
    assert "总文字复制比" in out and "000_c5586a85bf0f57cc.txt" in out
    draft = tmp_path / "draft.txt"
    draft.write_text(_passage(samples_dir), encoding="utf-8")
    assert main(["--index", index, "check", "--json", str(draft)]) == 0
    assert json.loads(capsys.readouterr().out)["copy_ratio"] > 0.5


def test_users_stock_phrases_never_count(clib, samples_dir):
    copier, origin = _doc(clib, "copier.txt"), _doc(clib, "000_c5586a85bf0f57cc.txt")
    assert clib.report(copier.id)["copy_ratio"] > 0.3
    before = clib.compare()
    (clib.path / "stock_phrases.txt").write_text("# 本单位的套话\n" + _passage(samples_dir) + "\n", encoding="utf-8")
    rep = clib.report(copier.id)
    assert rep["copy_ratio"] < 0.1 and origin.id not in {s["id"] for s in rep["sources"]}
    after = clib.compare()  # the cached compare is recomputed for the new list
    assert after is not before
    assert not [p for p in after["pairs"] if {p["a"], p["b"]} == {copier.id, origin.id}]


def test_report_in_a_library_of_one_and_of_an_unrelated_text(lib, tiny_dir):
    (tiny_dir / "b.txt").unlink()
    (tiny_dir / "c.md").unlink()
    lib.add([tiny_dir])
    (doc,) = lib.live.values()
    rep = lib.report(doc.id)
    assert rep["copy_ratio"] == 0 and rep["sources"] == [] and rep["passages"] == []
    assert lib.report_text("完全无关的一段文字，谈的是天气和庄稼。")["copy_ratio"] == 0
    assert lib.compare()["pairs"] == []


def test_the_local_index_has_the_whole_librarys_figures_for_every_hash(clib):
    """A report never builds the whole library's inverted index (other materials are only counted),
    yet every hash it holds has the document frequency and posting count of the whole index, so
    boilerplate is decided the same; removed materials never count."""
    from indexer import copies, detect
    from indexer.ingest import fingerprint_text

    clib.remove(_doc(clib, "stock0.txt").id)
    live = sorted(clib.live)
    whole = detect.FingerprintIndex({d: clib.fingerprints(d) for d in live})
    figures = dict(zip(whole.hashes[whole.starts].tolist(), zip(whole.df.tolist(), whole.counts.tolist())))

    def figures_of(index):
        return dict(zip(index.hashes[index.starts].tolist(), zip(index.df.tolist(), index.counts.tolist())))

    opts = clib.detect_options
    for num in live:
        got = figures_of(copies.local_index(clib, clib.fingerprints(num), num, opts))
        assert got == {h: figures[h] for h in got}
        assert set(got) >= set(clib.fingerprints(num)[0].tolist())
    fps = fingerprint_text(clib.get(_doc(clib, "copier.txt").id).text + "\n本人另外补充的一段话。")
    got = figures_of(copies.local_index(clib, fps, None, opts))
    assert got == {h: figures[h] for h in got}
    assert set(got) == set(figures) & set(got) >= set(fps[0].tolist()) & set(figures)
