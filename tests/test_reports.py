"""Issue 10's rules for 查重 reports, on tiny real Chinese fixtures (built from the shipped samples):
whole-phrase stock text, headings and meeting themes as structure, template-only pairs not copying,
clusters from copying pairs only, one set of figures, attribution to one source, self-compare 100 %,
范文 site traces, 换名照搬, per-section ratios, and the PDF and Word exports read back."""

import io
from pathlib import Path

import pytest

from indexer import export
from indexer.detect import DetectOptions, normalize
from indexer.detect.boilerplate import docs_threshold, snap
from indexer.detect.stock import matcher
from indexer.detect.tiers import name_swap
from indexer.library import Library

SLOGAN = "深入学习贯彻习近平新时代中国特色社会主义思想"
HEADINGS = ("一、存在的主要问题\n（一）带头强化政治忠诚、提高政治能力方面\n"
            "（二）带头增强党性、严守纪律、砥砺作风方面\n")
FOOTER = "\n本文档由第一范文网整理，下载后可编辑。点击阅读全文\n"


def _sample(samples_dir, name: str, start: str, n: int) -> str:
    text = (samples_dir / name).read_text(encoding="utf-8")
    i = text.index(start)
    return text[i:i + n]


def _doc(lib, name):
    return next(d for d in lib.live.values() if Path(d.source).name == name)


@pytest.fixture
def own_texts(samples_dir):
    """Four stretches of real material, one per future document, sharing nothing."""
    return [
        _sample(samples_dir, "000_c5586a85bf0f57cc.txt", "三是结合本地实际推动高质量发展有偏差", 300),
        _sample(samples_dir, "001_9ec64d2555574bdf.txt", "（一）理想信念不够坚定", 300),
        _sample(samples_dir, "003_d2c4fd0f5dacfba5.txt", "（二）理想信念的根基不够牢固", 300),
        _sample(samples_dir, "004_d47b47a3425989df.txt", "（二）强化宗旨意识，做为民服务的", 300),
    ]


@pytest.fixture
def rlib(tmp_path, own_texts, samples_dir):
    """Four materials of the year's template (headings, theme, a download footer) with their own text;
    'copier' also copies a passage of 'origin'."""
    docs = tmp_path / "docs"
    docs.mkdir()
    passage = _sample(samples_dir, "002_5a395717a109b224.txt", "一是自觉强化理论武装", 260)
    names = ["origin.txt", "copier.txt", "plain1.txt", "plain2.txt"]
    for i, (name, own) in enumerate(zip(names, own_texts)):
        body = HEADINGS + SLOGAN + "，" + own
        if name == "origin.txt":
            body += "\n" + passage
        if name == "copier.txt":
            body += "\n" + passage.replace("市委", "县委")
        (docs / name).write_text(f"第{i}号材料\n" + body + FOOTER, encoding="utf-8")
    with Library(tmp_path / "index") as lib:
        assert not lib.add([docs]).failed
        yield lib


def test_stock_phrases_are_marked_whole():
    text = "我们要" + SLOGAN + "，做到学思用贯通。"
    norm = normalize(text)
    spans = matcher().spans(norm.text)
    got = [norm.original[slice(*norm.to_original(s, e))] for s, e in spans]
    assert any(g.startswith(SLOGAN) for g in got)
    assert all(not g.startswith(("彻", "近平")) for g in got)  # never a piece of a phrase


def test_slogan_cores_and_pinyin_initials_are_stock_text():
    """As the shipped materials write them: a slogan's core inside the material's own sentence, and
    习近平 typed as its 拼音 initials (the sentence stage paired two real materials through these)."""
    text = "坚持不懈推动学习xjp新时代中国特色社会主义思想往深里走、往心里走、往实里走。"
    norm = normalize(text)
    spans = matcher().spans(norm.text)
    got = [norm.original[slice(*norm.to_original(s, e))] for s, e in spans]
    assert len(got) == 1 and got[0].startswith("xjp新时代") and got[0].rstrip("。").endswith("往实里走")
    norm = normalize("要做到学思用贯通、知信行统一，不断提高能力。")
    assert [norm.text[s:e] for s, e in matcher().spans(norm.text)] == ["学思用贯通知信行统一"]


def test_adaptive_boilerplate_threshold():
    opts = DetectOptions()
    assert docs_threshold(opts, 50) == 3  # a template 3 of 50 materials carry is boilerplate
    assert docs_threshold(opts, 10_000) == opts.min_docs
    assert docs_threshold(opts, 12) == opts.min_docs  # too small to tell a template from a copy ring


def test_recurring_passages_snap_to_clause_boundaries():
    text = "前文。坚持把政治建设摆在首位，树牢四个意识，后文"
    start = text.index("政治建设")  # mid-clause, as fingerprints leave it
    s, e = snap(text, start, text.index("树牢") + 2)
    assert text[s:e] == "坚持把政治建设摆在首位，树牢四个意识，"


def test_headings_themes_and_footer_are_not_copying(rlib):
    result = rlib.compare()
    origin, copier = _doc(rlib, "origin.txt"), _doc(rlib, "copier.txt")
    assert [{p["a"], p["b"]} for p in result["pairs"]] == [{origin.id, copier.id}]
    plain = {_doc(rlib, n).id for n in ("plain1.txt", "plain2.txt")}
    for key in ("pairs", "minor_pairs", "own_pairs"):  # sharing only the template is no overlap at all
        assert not [p for p in result[key] if {p["a"], p["b"]} & plain]
    rep = rlib.report(_doc(rlib, "plain1.txt").id)
    assert rep["copy_ratio"] == 0 and not rep["passages"] and rep["stock_chars"] > 40
    marked = "".join(b["text"] for b in rep["boilerplate"])
    assert "存在的主要问题" in marked and "带头强化政治忠诚、提高政治能力方面" in marked


def test_download_traces_flag_the_material_not_a_pair(rlib):
    rep = rlib.report(_doc(rlib, "plain2.txt").id)
    assert {w["phrase"] for w in rep["web_traces"]} >= {"阅读全文", "第一范文网"}
    assert len(rlib.compare()["web_traces"]) == 4


def test_no_cluster_through_stock_text(rlib):
    result = rlib.compare()
    assert [len(c["documents"]) for c in result["clusters"]] == [2]


def test_same_figures_on_report_compare_and_overview(rlib):
    origin, copier = _doc(rlib, "origin.txt"), _doc(rlib, "copier.txt")
    (pair,) = rlib.compare()["pairs"]
    side = "a" if pair["a"] == copier.id else "b"
    rep = rlib.report(copier.id)
    src = next(s for s in rep["sources"] if s["id"] == origin.id)
    cmp = rlib.compare_pair(copier.id, origin.id)
    # 231 characters, 64 of them the slogans it quotes (stock text, never counted)
    assert src["pair_chars"] == pair[f"chars_{side}"] == cmp["chars_a"] > 150
    assert src["pair_ratio"] == pair[f"ratio_{side}"] == cmp["ratio_a"]
    assert cmp["similarity"] == pair["similarity"] and cmp["shared_chars"] == pair["shared_chars"]
    assert pair["tier"] == "copying" and cmp["tier"] == "copying"
    overview = {d["id"]: d["chars"] for d in rlib.compare()["documents"]}  # one 字数 everywhere
    assert rep["document"]["chars"] == rep["chars"] == cmp["a"]["chars"] == overview[copier.id]
    assert src["chars"] == cmp["b"]["chars"] == overview[origin.id] < len(rlib.get(origin.id).text)


def test_self_compare_is_100_percent(rlib):
    doc = _doc(rlib, "copier.txt")
    cmp = rlib.compare_pair(doc.id, doc.id)
    assert cmp["similarity"] == 1.0 and cmp["ratio_a"] == cmp["ratio_b"] == 1.0


def test_every_copied_character_counts_once(rlib, samples_dir):
    passage = _sample(samples_dir, "002_5a395717a109b224.txt", "一是自觉强化理论武装", 260)
    rep = rlib.report_text("草稿\n" + passage + "\n其余为本人原创。", title="draft.txt")
    assert len(rep["sources"]) == 2  # origin and copier both carry the passage
    assert sum(s["copied_chars"] for s in rep["sources"]) == rep["copied_chars"] > 150  # slogans left out
    assert sorted(s["copied_chars"] for s in rep["sources"])[0] == 0  # the second-best gets nothing twice
    spans = sorted(tuple(p["a"]) for p in rep["passages"])
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # passages never overlap
    assert all(s["pair_chars"] > 150 for s in rep["sources"])  # yet each pair keeps its own figure


def test_user_phrase_removes_all_of_it(rlib, samples_dir):
    copier = _doc(rlib, "copier.txt")
    passage = _sample(samples_dir, "002_5a395717a109b224.txt", "一是自觉强化理论武装", 260)
    assert rlib.report(copier.id)["copy_ratio"] > 0.2
    (rlib.path / "stock_phrases.txt").write_text(passage.replace("市委", "县委") + "\n", encoding="utf-8")
    rep = rlib.report(copier.id)
    assert rep["copied_chars"] == 0 and rep["passages"] == [] and rep["copy_ratio"] == 0
    assert rlib.compare()["pairs"] == []


def test_name_swap_label():
    swapped = {"text_a": "落实中央、县委重大决策部署", "text_b": "落实中央、省委重大决策部署",
               "edits": [["replace", 5, 6, 5, 6]], "similarity": 0.95}
    reworded = {"text_a": "还有一些不够之处", "text_b": "还有一些不足之处",
                "edits": [["replace", 5, 6, 5, 6]], "similarity": 0.95}
    assert name_swap(swapped) and not name_swap(reworded)
    person = {"text_a": "张三同志在会上指出", "text_b": "李四同志在会上指出",
              "edits": [["replace", 0, 2, 0, 2]], "similarity": 0.9}
    word = {"text_a": "这方面的问题", "text_b": "这方向的问题", "edits": [["replace", 2, 3, 2, 3]], "similarity": 0.9}
    assert name_swap(person) and not name_swap(word)


def test_sections_follow_the_materials_headings(rlib):
    rep = rlib.report(_doc(rlib, "copier.txt").id)
    titles = [s["title"] for s in rep["sections"]]
    assert titles[0] == "前言" and titles[1].startswith("一、存在的主要问题")
    assert sum(s["copied_chars"] for s in rep["sections"]) == rep["copied_chars"]


def test_report_header_evidence(rlib):
    doc = rlib.get(_doc(rlib, "copier.txt").id)
    check = rlib.report(doc.id)["check"]
    import hashlib

    assert check["sha256"] == hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
    assert check["library_documents"] == 4 and check["number"].startswith("DZ-")


def test_pdf_and_word_exports_carry_the_figures(rlib):
    from docx import Document
    from pypdf import PdfReader

    doc = rlib.get(_doc(rlib, "copier.txt").id)
    rep = rlib.report(doc.id)
    ratio = f"{100 * rep['copy_ratio']:.1f}%"
    words = Document(io.BytesIO(export.report_docx(rep, doc.text, operator="inspector")))
    cells = [c.text for t in words.tables for row in t.rows for c in row.cells]
    body = "\n".join(p.text for p in words.paragraphs)
    assert ratio in cells and "去除套话复制比" in cells and rep["check"]["number"] in cells
    assert "疑似下载自网络范文" in body
    pdf = PdfReader(io.BytesIO(export.report_pdf(rep, doc.text, operator="inspector")))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert ratio in text and "去除套话复制比" in text and rep["check"]["sha256"][:16] in text
    fonts = {str(f) for page in pdf.pages for f in page["/Resources"]["/Font"].values()}
    assert fonts  # the CJK font is embedded: the text read back is Chinese
    assert export.file_name(rep, "pdf").startswith("查重报告-") and doc.id not in export.file_name(rep, "pdf")


def test_own_earlier_material_is_reported_apart(tmp_path, own_texts, samples_dir):
    """The same author's 2021 material reused in 2022 is 与本人往年材料重复, not 抄袭, and the 2021
    one is the earlier, likely source."""
    docs = tmp_path / "own"
    docs.mkdir()
    passage = _sample(samples_dir, "002_5a395717a109b224.txt", "一是自觉强化理论武装", 260)
    (docs / "a2021.txt").write_text("二〇二一年材料\n" + own_texts[0] + passage, encoding="utf-8")
    (docs / "a2022.txt").write_text("二〇二二年材料\n" + own_texts[1] + passage, encoding="utf-8")
    (docs / "metadata.csv").write_text("file,title,unit,author,year\na2021.txt,甲2021,某县委,张某,2021\n"
                                       "a2022.txt,甲2022,某县委,张某,2022\n", encoding="utf-8")
    with Library(tmp_path / "own-index") as lib:
        assert not lib.add([docs]).failed
        result = lib.compare()
        assert result["pairs"] == [] and len(result["own_pairs"]) == 1 and result["clusters"] == []
        (pair,) = result["own_pairs"]
        first = _doc(lib, "a2021.txt").id
        assert pair["earlier"]["basis"] == "year"
        assert (pair["a"] if pair["earlier"]["source"] == "a" else pair["b"]) == first
        rep = lib.report(_doc(lib, "a2022.txt").id)
        assert rep["sources"][0]["tier"] == "own" and rep["sources"][0]["earlier"] is True


def test_stock_usage_from_the_compare_matches_a_scan(rlib):
    from indexer import stocklist

    scanned = stocklist.usage(rlib)
    from_compare = stocklist.usage(rlib, rlib.compare())
    assert scanned == from_compare
    heading = next(p for p in scanned if p["phrase"] == "存在的主要问题")
    assert len(heading["documents"]) == 4 and [p["phrase"] for p in scanned].count("存在的主要问题") == 1
    assert stocklist.usage(rlib, None, scan_limit=1) is None  # a large library waits for the compare


def test_filtered_overview_kept_per_compare_result(rlib, tmp_path, own_texts):
    """Regression (page timings): every look at the overview of one unit or year filtered the whole
    compare again (every occurrence of every boilerplate passage: a second on 10,000 materials)."""
    from indexer import library

    whole = rlib.duplicates()
    year = rlib.duplicates(year="2021")
    assert rlib.duplicates(year="2021") is year and rlib.duplicates() is whole
    for i in range(library.FILTERED_KEPT):  # older filters make way for newer ones
        rlib.duplicates(unit=f"单位{i}")
    assert rlib.duplicates(year="2021") is not year
    assert rlib.duplicates(year="2021") == year
    extra = tmp_path / "extra.txt"
    extra.write_text("第9号材料\n" + own_texts[0], encoding="utf-8")
    rlib.add([extra])
    after = rlib.duplicates(year="2021")  # a new library state: filtered anew
    assert after is not year and rlib.duplicates(year="2021") is after
    assert len(rlib._filtered) == 1
