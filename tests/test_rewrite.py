"""The sentence stage (issue 11): copies rewritten past the winnowing seeds are still found, each as
one passage with exact spans into the stored text; unrelated materials of one genre are not paired."""

from __future__ import annotations

import numpy as np
import opencc
import pytest
from rapidfuzz.distance import Levenshtein

from indexer.detect import DEFAULTS, compare_corpus, fingerprints, normalize
from indexer.detect.lexicon import cilin
from indexer.detect.options import DetectOptions
from indexer.detect.sentences import candidate_pairs, pairs_of_units, sentence_seeds, sketch
from indexer.detect.units import canonical_codepoints, features, unit_spans

ORIGIN = ("在理论学习方面，我有时满足于读过了、学过了，对新思想的深入思考不够。"
          "遇到群众反映的困难，我没有及时帮助解决，而是层层转交给相关科室。"
          "在推动重点项目时，我习惯于开会讨论，到现场调查研究的时间偏少。"
          "对年轻干部的培养，我关心他们的业务本领多，关心他们的思想变化少。")
SPUN = ("在理论研习层面，我有时知足于读过了、学过了，对新思想的深刻思索不足。"
        "碰到大众反映的难题，我没有立即协助解决，而是逐级转交给有关部门。"
        "在推进重心项目时，我惯于开会商量，到实地考察研究的工夫偏少。"
        "对青春干部的培育，我关注他们的事务本领多，关注他们的思想转变少。")
SWAPPED = ("坦率地说，我有时满足于读过了、学过了，在理论学习方面，对新思想的深入思考不够。"
           "我没有及时帮助解决遇到群众反映的困难，而是层层转交给相关科室。"
           "需要指出的是，我习惯于开会讨论，在推动重点项目时，到现场调查研究的时间偏少。"
           "我关心他们的业务本领多，对年轻干部的培养，关心他们的思想变化少。")

OWN = [
    "今年以来，单位完成了办公楼节能改造，年用电量比上年下降一成左右，食堂也换上了新的排风设备。",
    "秋季运动会上，机关代表队获得拔河比赛第二名，退休老同志组织的书画展吸引了不少参观者。",
    "档案室新购置了十二组密集柜，纸质档案的数字化扫描已经完成大半，查阅一份卷宗只要几分钟。",
    "春节前夕，工会走访慰问了困难职工家庭，送去米面油和慰问金，并帮助两户人家联系了就业岗位。",
    "本季度共接待来访人员一百三十余人次，办结答复率达到九成以上，回访满意率稳步提高。",
    "新建的停车场划设了充电车位，园区绿化补种了银杏和桂花，门岗实行了访客预约登记。",
]


def _traditional_with_ocr(text: str) -> str:
    trad = opencc.OpenCC("s2t").convert(text)  # a traditional-character mirror
    trad = trad.replace("學習", "學羽", 1)  # an OCR error: a character misread
    return trad.replace("項目", "頂目", 1)  # and a second one (look-alike 項→頂)


def _material(own: list[str], copied: str | None = None, at: int = 1) -> tuple[str, tuple[int, int] | None]:
    paras = list(own)
    if copied is None:
        return "\n".join(paras) + "\n", None
    head = "\n".join(paras[:at]) + "\n"
    tail = "\n" + "\n".join(paras[at:]) + "\n"
    return head + copied + tail, (len(head), len(head) + len(copied))


def _compare(texts: dict[str, str], opts: DetectOptions = DEFAULTS):
    fps = {d: fingerprints(normalize(t).text, k=opts.k, window=opts.window) for d, t in texts.items()}
    return compare_corpus(fps, texts.__getitem__, options=opts)


def _one_passage(copy: str):
    a_text, a_span = _material(OWN[:3], ORIGIN, 1)
    b_text, b_span = _material(OWN[3:], copy, 2)
    result = _compare({"a": a_text, "b": b_text})
    return result, a_span, b_span


@pytest.mark.parametrize("copy", [SPUN, SWAPPED, "traditional"], ids=["synonyms", "clauses", "traditional-ocr"])
def test_rewritten_copy_is_one_passage_with_exact_spans(copy):
    copy = _traditional_with_ocr(ORIGIN) if copy == "traditional" else copy
    result, a_span, b_span = _one_passage(copy)
    assert len(result.pairs) == 1
    (passage,) = result.pairs[0].passages
    assert (passage.a_start, passage.a_end) == a_span
    assert (passage.b_start, passage.b_end) == b_span


def test_winnowing_alone_misses_the_spun_copy():
    """The spun fixture is hard for the first stage: without sentences it loses most of the passage."""
    a_text, a_span = _material(OWN[:3], ORIGIN, 1)
    b_text, _ = _material(OWN[3:], SPUN, 2)
    result = _compare({"a": a_text, "b": b_text}, DetectOptions(sentences=False))
    found = sum(min(p.a_end, a_span[1]) - max(p.a_start, a_span[0])
                for pair in result.pairs for p in pair.passages)
    assert found < 0.8 * (a_span[1] - a_span[0])


GENRE_A = """一、存在的主要问题
（一）理论学习方面。深入学习贯彻习近平新时代中国特色社会主义思想还不够系统，去年参加集中学习九次，自学笔记只有一万多字，对乡村振兴的新政策钻研不深。
（二）工作作风方面。下基层多在白天，晚上住村的次数少，上半年走访的二十一个村里有六个只去过一次，群众反映的道路硬化问题拖了三个月才落实。
二、整改措施
（一）每月安排一次专题研讨，年底前把种粮补贴和宅基地政策讲给每个村支书听。
（二）每季度在村里住两晚，建立问题台账，道路和饮水两类事项限期一个月办结。
"""
GENRE_B = """一、存在的主要问题
（一）在理论武装上。深入学习贯彻习近平新时代中国特色社会主义思想有差距，对财务审计业务的新规定掌握不全，去年撰写的三篇调研报告质量不高。
（二）在工作作风上。审批环节过多，企业办理一项资质平均要跑四趟，窗口人员对咨询电话回复不及时，营商环境测评排名靠后。
二、整改措施
（一）组织科室逐条梳理审批事项，能合并的合并，九月底前推出一次办结清单。
（二）开通咨询热线专人值守，每周通报回复时长，测评结果与年终考核挂钩。
"""


def test_unrelated_materials_of_one_genre_are_not_paired():
    result = _compare({"a": GENRE_A, "b": GENRE_B})
    assert result.pairs == []


def test_units_follow_sentences_and_fold_digits():
    norm = normalize("第一，加强学习。二是改进作风，提高效率！3. 落实责任")
    starts, ends = unit_spans(norm, DetectOptions(unit_min_chars=4))
    assert [norm.text[s:e] for s, e in zip(starts, ends, strict=True)] == ["第一加强学习", "二是改进作风提高效率", "3落实责任"]
    folded = canonical_codepoints(normalize("（一）第3点").text)
    assert "".join(map(chr, folded.tolist())) == "###点"  # 一 第 3 (brackets are not text)


def test_synonyms_share_features():
    opts = DEFAULTS
    a, b = features(normalize("我们要帮助群众。"), opts), features(normalize("我们要协助大众。"), opts)
    assert len(np.intersect1d(a.code, b.code)) >= 3
    plain = DetectOptions(unit_synonyms=False)
    a2, b2 = features(normalize("我们要帮助群众。"), plain), features(normalize("我们要协助大众。"), plain)
    assert len(np.intersect1d(a2.code, b2.code)) < len(np.intersect1d(a.code, b.code))
    assert cilin().size > 10000  # 同义词词林 ships offline with the cilin package


def test_sentence_seeds_skip_boilerplate_units():
    na, nb = normalize(ORIGIN), normalize(SPUN)
    ua, ub = features(na, DEFAULTS), features(nb, DEFAULTS)
    seeds = sentence_seeds(ua, ub, DEFAULTS)
    assert len(seeds) >= 2  # sentences with their spun versions, each unit with one other
    assert len(set(seeds[:, 0].tolist())) == len(seeds) == len(set(seeds[:, 2].tolist()))
    for a0, _, b0, _ in seeds.tolist():  # in step: the k-th sentence with the k-th
        assert ORIGIN.count("。", 0, na.offsets[a0]) == SPUN.count("。", 0, nb.offsets[b0])
    masked = sentence_seeds(ua, ub, DEFAULTS, boiler_a=np.ones(len(na), dtype=bool))
    assert len(masked) == 0


def test_candidate_pairs_find_the_copy_and_not_the_unrelated_material():
    texts = {0: _material(OWN[:3], ORIGIN, 1)[0], 1: _material(OWN[3:], SPUN, 2)[0], 2: GENRE_B}
    sketches = [(d, *sketch(features(normalize(t), DEFAULTS), DEFAULTS)) for d, t in texts.items()]
    # In three materials every feature two of them share is under the posting cap, so the same-genre
    # one may be a candidate too (cheap at this size); the alignment does not pair it.
    assert [0, 1] in candidate_pairs(sketches, DEFAULTS, len(texts)).tolist()
    assert [(p.a, p.b) for p in _compare({str(d): t for d, t in texts.items()}).pairs] == [("0", "1")]


def test_sketch_slots_go_to_features_under_the_posting_cap():
    """Miss class "one shared sketch feature": each unit's lowest-hash features are common ones (in
    more units than unit_max_postings); a sketch of the lowest hashes spends its slots on them and
    the two copies keep nothing to share. Dropping common features (and ones no other unit has)
    before choosing keeps three shared ones. Counting in chunks changes nothing."""
    from indexer.detect import sentences

    opts = DEFAULTS
    n = opts.unit_max_postings + 12
    common = np.arange(10, 10 + 10)  # lowest hashes, in every document's unit 0
    sketches = []
    for d in range(n):
        keys = [*common, *range(1000 + 30 * d, 1000 + 30 * d + 14)]  # and features of its own
        if d in (4, 7):
            keys += [100, 101, 102]  # the copied sentence's features
        keys = np.sort(np.array(keys, dtype=np.int64))[: opts.unit_sketch_stored]
        sketches.append((d, np.zeros(len(keys), dtype=np.int64), keys))
    assert candidate_pairs(sketches, opts, n).tolist() == [[4, 7]]
    fixed = DetectOptions(unit_sketch_stored=8, unit_sketch=8)  # the lowest eight, then the cap
    cut = [(d, u[:8], c[:8]) for d, u, c in sketches]
    assert candidate_pairs(cut, fixed, n).tolist() == []
    chosen = list(sentences.select_sketches(sketches, opts))
    assert [c.tolist() for _, _, c in chosen[4:5]] == [[100, 101, 102]]
    small = sentences._FeatureCounts(chunk=7)
    for _, _, c in sketches:
        small.add(c)
    codes, postings = small.usable(opts)
    assert codes.tolist() == [100, 101, 102] and postings.tolist() == [2, 2, 2]


def test_sketch_code_locator_agrees_with_a_search():
    from indexer.detect.sentences import _locator

    rng = np.random.default_rng(3)
    codes = np.unique(rng.integers(0, 1 << 40, 5000))
    queries = np.r_[codes[::3], rng.integers(0, 1 << 40, 5000), codes[:1] + 1]
    at = np.searchsorted(codes, queries)
    expected = np.where(np.isin(queries, codes), at, -1)
    assert np.array_equal(_locator(codes)(queries), expected)
    wider = np.r_[codes, 1 << 41]  # a key over 40 bits: binary search
    assert np.array_equal(_locator(wider)(queries), expected)
    assert (_locator(np.zeros(0, dtype=np.int64))(queries) == -1).all()


def test_each_unit_keeps_its_rarest_usable_features():
    """The choice follows one order of all features, (postings, hash): two copies of a unit keep the
    same features, and the rarer ones, which pair fewer units by chance."""
    from indexer.detect.sentences import pick_sketch

    unit = np.array([0, 0, 0, 1, 1, 1])
    code = np.array([5, 6, 7, 5, 8, 9])
    postings = np.array([9, 2, 2, 9, 3, 2])
    u, c = pick_sketch(unit, code, 2, postings)
    assert list(zip(u.tolist(), c.tolist(), strict=True)) == [(0, 6), (0, 7), (1, 9), (1, 8)]
    u, c = pick_sketch(unit[::-1], code[::-1], 2)  # without postings: the lowest keys
    assert list(zip(u.tolist(), c.tolist(), strict=True)) == [(0, 5), (0, 6), (1, 5), (1, 8)]


def test_one_rewritten_sentence_is_a_candidate_by_a_rare_shared_feature():
    """Miss class "no candidate": a single spun sentence keeps two sketch features of its original.
    With one of them rare in a large corpus that is enough; three features every same-genre text
    carries are not; in a small corpus, where every feature is rare, two are not enough."""
    opts = DEFAULTS
    rare, common = opts.unit_rare_postings, opts.unit_solo_postings + 1
    big, small = opts.unit_rare_from, opts.unit_rare_from - 1
    two = np.array([[3, 7, 9, 2, rare], [3, 7, 9, 2, 40]])  # doc a, unit a, doc b, unit b, postings
    assert pairs_of_units(two, opts, big).tolist() == [[3, 9]]
    assert pairs_of_units(two, opts, small).tolist() == []
    stock = np.array([[3, 7, 9, 2, common]] * 3)
    assert pairs_of_units(stock, opts, big).tolist() == []
    assert pairs_of_units(np.r_[stock[:2], [[3, 7, 9, 2, common - 1]]], opts, big).tolist() == [[3, 9]]
    # the two units' documents take no part: rows of other pairs never add up
    assert pairs_of_units(np.r_[two[:1], [[3, 7, 8, 2, 40]]], opts, big).tolist() == []


def test_a_short_sentence_joined_to_a_copied_one_is_not_copied():
    """Miss class "span": a sentence shorter than unit_min_chars joins the next one into a unit; when
    the next one is a rewritten copy, the passage starts after the short sentence, not before it."""
    short = "发展理念淡化。"  # 6 characters, no part of the copy
    sentence = SPUN.split("。")[0] + "。"
    a_text, _ = _material(OWN[:3], ORIGIN, 1)
    b_text, b_span = _material(OWN[3:], short + sentence, 2)
    na, nb = normalize(a_text), normalize(b_text)
    seeds = sentence_seeds(features(na, DEFAULTS), features(nb, DEFAULTS), DEFAULTS)
    b0 = b_span[0] + len(short)
    assert [int(nb.offsets[s[2]]) for s in seeds.tolist() if nb.offsets[s[3] - 1] > b0] == [b0]


HEAVY = ("坦率地说，我有时满足于读过了、学过了，在理论学习方面，对新思想的深入思考不够。"
         "我没有及时协助解决碰到大众反映的难题，而是逐级转交给有关部门。"
         "需要指出的是，我惯于开会商量，在推进重心项目时，到实地考察研究的工夫偏少。"
         "我关注他们的事务本领多，对青春干部的培育，关注他们的思想转变少。")


def _in_order(x: str, y: str) -> float:
    """The similarity an in-order alignment gives two texts (normalized)."""
    nx, ny = normalize(x).text, normalize(y).text
    equal = sum(i2 - i1 for tag, i1, i2, _, _ in Levenshtein.opcodes(nx, ny) if tag == "equal")
    return 2 * equal / (len(nx) + len(ny))


def test_a_heavy_rewrite_that_aligns_poorly_in_order_is_still_one_passage():
    """Miss class "seeds found, passage lost": fillers, swapped clauses and most words spun leave an
    in-order similarity near 0.42; the sentence units vouch for it (unit_min_similarity). Under a
    stricter floor its clauses, matched in any order, are counted; under a floor above those too it
    is no passage."""
    a_text, a_span = _material(OWN[:3], ORIGIN, 1)
    b_text, b_span = _material(OWN[3:], HEAVY, 2)
    result = _compare({"a": a_text, "b": b_text})
    (passage,) = result.pairs[0].passages
    assert (passage.a_start, passage.a_end, passage.b_start, passage.b_end) == (*a_span, *b_span)
    assert passage.similarity < DEFAULTS.min_similarity
    stricter = DetectOptions(unit_min_similarity=DEFAULTS.min_similarity)
    (pair,) = _compare({"a": a_text, "b": b_text}, stricter).pairs
    assert pair.passages[0].similarity > DEFAULTS.min_similarity  # the clauses matched in any order
    strict = DetectOptions(unit_min_similarity=0.9)
    assert _compare({"a": a_text, "b": b_text}, strict).pairs == []


def test_a_sentence_whose_halves_were_swapped_is_one_passage():
    """Miss class "seeds found, passage lost" (held-out corpus): a long sentence's two halves swapped
    and a few words spun align in order at nearly nothing (a Levenshtein alignment substitutes rather
    than skip half the sentence); each clause still matches its counterpart."""
    origin = "在推动重点项目落地的过程中，我习惯于坐在办公室里开会讨论、听取汇报，深入施工现场调查研究、帮助解决实际困难的时间明显偏少。"
    swapped = "深入施工现场调查研究、协助解决实际难题的时间明显偏少，在推进重心项目落实的进程中，我惯于坐在机关里开会商量、听取汇报。"
    assert _in_order(origin, swapped) < 0.1
    a_text, a_span = _material(OWN[:3], origin, 1)
    b_text, b_span = _material(OWN[3:], swapped, 2)
    (pair,) = _compare({"a": a_text, "b": b_text}).pairs
    (passage,) = pair.passages
    assert (passage.a_start, passage.a_end, passage.b_start, passage.b_end) == (*a_span, *b_span)
    assert passage.similarity >= 0.7


def test_a_lone_rewritten_sentence_of_under_forty_characters_is_a_passage():
    """Miss class "lone unit under unit_solo_chars": one sentence of 38 characters copied alone,
    words spun, leaves no fingerprint; its unit seed alone makes the passage."""
    origin = "在推动重点项目时，我习惯于坐在办公室里开会讨论，到基层现场调查研究的时间明显偏少。"
    spun = "在推动重点工程时，我习惯于坐在机关里开会商量，到基层现场调查研究的工夫明显偏少。"
    assert len(normalize(spun).text) < 40  # the old unit_solo_chars
    a_text, a_span = _material(OWN[:3], origin, 1)
    b_text, b_span = _material(OWN[3:], spun, 2)
    assert _compare({"a": a_text, "b": b_text}, DetectOptions(sentences=False)).pairs == []
    (pair,) = _compare({"a": a_text, "b": b_text}).pairs
    (passage,) = pair.passages
    assert (passage.a_start, passage.a_end, passage.b_start, passage.b_end) == (*a_span, *b_span)


def test_a_shared_phrase_is_not_stretched_to_its_sentences():
    """Miss class "stock phrase counted twice" (false pairs): a 20-character formulation in two
    otherwise unrelated sentences gives fingerprints and, through its bigrams, a unit seed. Its
    fingerprints inside the unit are the unit's evidence, not more: as without the sentence stage,
    a shared run shorter than min_chars is no passage."""
    a_text, _ = _material(OWN[:3], "个别同志对财务管理人员的财经法律法规和业务知识学习不够重视。", 1)
    b_text, _ = _material(OWN[3:], "今年要加强财务管理人员的财经法律法规和业务知识学习。", 2)
    assert _compare({"a": a_text, "b": b_text}).pairs == []
    assert _compare({"a": a_text, "b": b_text}, DetectOptions(sentences=False)).pairs == []


def test_library_check_report_and_compare_find_the_spun_copy(lib, tmp_path):
    """Through the library: ``report_text`` (indexer check), ``report`` and the corpus compare."""
    docs = tmp_path / "docs"
    docs.mkdir()
    a_text, a_span = _material(OWN[:3], ORIGIN, 1)
    (docs / "origin.txt").write_text(a_text, encoding="utf-8")
    (docs / "other.txt").write_text(GENRE_B, encoding="utf-8")
    assert not lib.add([docs]).failed
    b_text, b_span = _material(OWN[3:], SPUN, 2)
    rep = lib.report_text(b_text, title="draft.txt")
    spans = [(p["a"], p["b"]) for p in rep["passages"]]
    assert spans == [(list(b_span), list(a_span))]
    (docs / "copy.txt").write_text(b_text, encoding="utf-8")
    assert not lib.add([docs / "copy.txt"]).failed
    pairs = lib.compare()["pairs"]
    assert len(pairs) == 1 and len(pairs[0]["passages"]) == 1
    passage = pairs[0]["passages"][0]
    assert sorted([tuple(passage["a"]), tuple(passage["b"])]) == sorted([a_span, b_span])


def test_unit_pairs_do_not_depend_on_the_order_sketches_come_in():
    """The packed-key sorts (rows in document order, 40-bit codes) and the general lexsorts agree."""
    from indexer.detect.sentences import pairs_of_units, unit_pairs

    rng = np.random.default_rng(7)
    codes = rng.integers(0, 1 << 40, 60)  # a small vocabulary: many shared features
    sketches = [(d, np.repeat(np.arange(12), 3), rng.choice(codes, 36)) for d in range(30)]
    ordered = unit_pairs(sketches, DEFAULTS)
    shuffled = unit_pairs(sketches[::-1], DEFAULTS)  # documents out of order: the general sort
    assert len(ordered) > 100
    assert sorted(map(tuple, ordered.tolist())) == sorted(map(tuple, shuffled.tolist()))
    big = ordered * np.array([1 << 40, 1, 1 << 40, 1, 1])  # too large to pack: the five-key lexsort
    for n_docs in (len(sketches), DEFAULTS.unit_rare_from):  # without and with rare features
        small = pairs_of_units(ordered, DEFAULTS, n_docs)
        assert len(small) and (pairs_of_units(big, DEFAULTS, n_docs) >> 40).tolist() == small.tolist()


def test_one_probe_for_two_and_three_character_words_finds_what_two_lookups_find():
    from indexer.detect.lexicon import Lexicon

    cps = canonical_codepoints(normalize(ORIGIN + SPUN).text)
    pos = np.arange(len(cps) - 1)
    han = cps >= 0x3400
    keep = han[:-1] & han[1:]
    code, pos = ((cps[:-1] << 21) | cps[1:])[keep], pos[keep]
    text = normalize(ORIGIN).text
    words = {"帮助": [1], "关心": [1, 2], text[4:7]: [3], text[5:8]: [3, 6], "推动": [4], text[4:6]: [7]}
    for lex in (cilin(), Lexicon(words), Lexicon({**words, "X光片": [5]})):  # the last: a Latin prefix
        both = lex.classes_2_3(cps, code, pos)
        apart = (*lex.classes_at(cps, 2, code, pos), *lex.classes_at(cps, 3))
        assert all(np.array_equal(x, y) for x, y in zip(both, apart, strict=True))
        assert len(both[0]) and len(both[2])


def test_sentence_seeds_do_not_depend_on_the_order_of_feature_rows():
    from indexer.detect.units import Units

    ua, ub = features(normalize(ORIGIN), DEFAULTS), features(normalize(SPUN), DEFAULTS)
    order = np.lexsort((ua.code, ua.unit))  # by unit: ``by_code`` sorts them itself
    shuffled = Units(ua.starts, ua.ends, *(x[order] for x in (ua.unit, ua.code, ua.count, ua.first, ua.last)))
    seeds = sentence_seeds(ua, ub, DEFAULTS)
    assert len(seeds) and np.array_equal(seeds, sentence_seeds(shuffled, ub, DEFAULTS))
    mirrored = sentence_seeds(ub, shuffled, DEFAULTS)[:, [2, 3, 0, 1]]  # the unsorted side as b
    assert sorted(map(tuple, mirrored.tolist())) == sorted(map(tuple, seeds.tolist()))


def test_the_shipped_real_materials_are_not_paired_as_copying(sample_lib):
    """The five real materials of data/samples share only stock slogans (some quoted inside their own
    sentences, 习近平 once typed as xjp) and structure; the sentence stage once paired two of them as
    copying through such sentences."""
    samples = {d.id for d in sample_lib.live.values() if d.name.endswith(".txt") and d.name[:3].isdigit()}
    assert len(samples) == 5
    result = sample_lib.compare()
    assert not [p for p in result["pairs"] if p["a"] in samples and p["b"] in samples]
