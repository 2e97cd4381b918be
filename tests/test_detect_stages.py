"""Unit tests of the copy-detection stages: normalization, fingerprints, alignment."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.detect.align import align_pair
from indexer.detect.fingerprint import fingerprints, kgram_hashes, winnow
from indexer.detect.normalize import normalize
from indexer.detect.options import DetectOptions

PARA = ("本人认真对照党章党规，查找自身在理论学习、担当作为、作风建设等方面存在的差距。"
        "一是理论武装不够系统，满足于参加集中学习，自主学习时间偏少，对新理论新思想的钻研不深。"
        "二是调查研究不够深入，到基层一线蹲点时间不多，对区委部署的重点任务跟踪问效不及时。")
OTHER = ("今年以来，我们围绕乡村振兴抓项目、促发展，新建高标准农田一千二百亩，完成道路硬化八公里。"
         "同时加强村级阵地建设，组织党员志愿服务队开展环境整治，群众满意度明显提升。")
FILLER = ("春季植树活动在河滩公园举行，学校师生和社区居民一起栽下银杏香樟等苗木三百余株。"
          "活动结束后志愿者清理了步道垃圾，园林部门安排专人浇水养护，确保成活。")
NEWS = ("气象台预计本周后期将有一次明显降温过程，最低气温降至零下五度，请注意防寒保暖。"
        "交通部门提醒驾驶员雨雪天气减速慢行，保持安全车距，遇到结冰路段不要急刹车。")

ALPHABET = st.sampled_from(list("学習习貫贯徹彻区委县委本人我，。、；：“”（）ＡＢＣabc123１２３ \n\t\u3000"
                                "的了和在对是有与干部群众问题工作整改落实乾隆著作龍龙𠀋"))


def test_normalize_folds_width_traditional_space_and_punctuation():
    norm = normalize("學習 貫徹，ＡＢＣ１２３\n區委")
    assert norm.text == "学习贯彻abc123区委"
    assert norm.offsets.tolist() == [0, 1, 3, 4, 6, 7, 8, 9, 10, 11, 13, 14]


@given(st.text(ALPHABET, max_size=80))
def test_normalized_chars_map_back_to_original_chars(text):
    norm = normalize(text)
    assert len(norm.offsets) == len(norm.text)
    assert np.all(np.diff(norm.offsets) >= 0)
    # Normalizing character by character gives the same text, and each normalized character comes
    # from an original character whose own normalization yields it.
    assert "".join(normalize(ch).text for ch in text) == norm.text
    for i, ch in enumerate(norm.text):
        assert ch in normalize(text[norm.offsets[i]]).text


def test_to_original_includes_closing_punctuation():
    text = "第一句话在这里。第二句。"
    norm = normalize(text)
    assert norm.to_original(0, 7) == (0, 8)  # the 。 after the last character comes along
    assert norm.to_original(0, 6) == (0, 6)


def test_hashes_are_pinned_across_processes_and_machines():
    # Persisted by the index: any change here invalidates stored fingerprints.
    h = kgram_hashes("深入学习贯彻习近平新时代", 9)
    assert h.dtype == np.uint64
    assert int(h[0]) == PINNED_FIRST_HASH
    assert kgram_hashes("短", 9).size == 0


PINNED_FIRST_HASH = 5278548689015170254


def test_winnow_picks_rightmost_minimum():
    hashes = np.array([5, 3, 3, 7, 9, 1, 4], dtype=np.uint64)
    assert winnow(hashes, 3).tolist() == [2, 5]
    assert winnow(hashes[:2], 3).tolist() == [1]
    assert winnow(np.zeros(0, dtype=np.uint64), 3).tolist() == []


CJK = st.text(st.sampled_from(list("党的建设工作问题整改落实群众干部学习理论作风纪律监督责任制度")), min_size=0, max_size=60)


@settings(max_examples=60, deadline=None)
@given(CJK, CJK, CJK, st.integers(0, 6))
def test_winnowing_guarantee(left_a, left_b, right, extra):
    k, window = 9, 7
    shared = (PARA * 2)[: k + window - 1 + extra]
    a, b = left_a + shared + right, left_b + shared + right[::-1]
    ha, pa = fingerprints(a, k=k, window=window)
    hb, pb = fingerprints(b, k=k, window=window)
    in_a = {int(h) for h, p in zip(ha, pa, strict=True) if len(left_a) <= p <= len(left_a) + len(shared) - k}
    in_b = {int(h) for h, p in zip(hb, pb, strict=True) if len(left_b) <= p <= len(left_b) + len(shared) - k}
    assert in_a & in_b


def _seeds(a, b, opts):
    ha, pa = fingerprints(a.text, k=opts.k, window=opts.window)
    hb, pb = fingerprints(b.text, k=opts.k, window=opts.window)
    where = {}
    for h, p in zip(hb.tolist(), pb.tolist(), strict=True):
        where.setdefault(h, []).append(p)
    return np.array([(x, y) for h, x in zip(ha.tolist(), pa.tolist(), strict=True) for y in where.get(h, [])],
                    dtype=np.int64).reshape(-1, 2)


def _covered(span, passages, side):
    s, e = span
    got = set()
    for p in passages:
        ps, pe = (p.a_start, p.a_end) if side == "a" else (p.b_start, p.b_end)
        got |= set(range(max(s, ps), min(e, pe)))
    return len(got) / (e - s)


def test_alignment_recovers_an_edited_copy():
    opts = DetectOptions()
    copy = (PARA.replace("区委", "县委").replace("本人", "我").replace("理论学习", "理论學習")
            .replace("钻研不深", "钻研不够深").replace("跟踪问效", "跟踪问\n效").replace("。", "；", 1))
    a_text, b_text = OTHER + "\n" + PARA + "\n" + FILLER, NEWS[:30] + "\n" + copy + "\n" + NEWS[30:]
    a, b = normalize(a_text), normalize(b_text)
    passages = align_pair(a, b, _seeds(a, b, opts), opts)
    assert len(passages) == 1
    p = passages[0]
    a_span = (a_text.index(PARA), a_text.index(PARA) + len(PARA))
    b_span = (b_text.index(copy), b_text.index(copy) + len(copy))
    assert _covered(a_span, passages, "a") >= 0.95 and _covered(b_span, passages, "b") >= 0.95
    assert p.a_end - p.a_start <= len(PARA) + 4 and p.b_end - p.b_start <= len(copy) + 4
    assert 0.8 < p.similarity < 1.0
    assert any(b_text[bs:be] == "县" for tag, _, _, bs, be in p.edits if tag == "replace")


def test_shuffled_sentences_stay_one_passage():
    opts = DetectOptions()
    sents = [s + "。" for s in PARA.split("。") if s]
    shuffled = sents[2] + sents[0] + sents[1]
    a, b = normalize(OTHER + PARA + FILLER), normalize(NEWS[:40] + shuffled + NEWS[40:])
    passages = align_pair(a, b, _seeds(a, b, opts), opts)
    assert len(passages) == 1
    p = passages[0]
    assert (p.a_end - p.a_start, p.b_end - p.b_start) == (len(PARA), len(shuffled))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.sampled_from(["none", "edit", "swap"]))
def test_alignment_is_symmetric(cut_a, cut_b, how):
    opts = DetectOptions()
    copy = PARA if how == "none" else PARA.replace("学习", "學習") if how == "edit" else PARA.replace("区委", "县委")
    a, b = normalize(OTHER[cut_a:] + PARA + FILLER), normalize(NEWS[cut_b:] + copy + NEWS)
    seeds = _seeds(a, b, opts)
    ab = align_pair(a, b, seeds, opts)
    ba = align_pair(b, a, seeds[:, ::-1], opts)
    assert ab and [p.mirrored() for p in ba] == ab
