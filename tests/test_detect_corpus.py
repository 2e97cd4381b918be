"""Corpus-level copy detection: boilerplate, stock phrases, one document against the library,
the JSON shape, and an end-to-end run on a small corpus with known copies."""

from __future__ import annotations

import random

import pytest

from indexer.detect.corpus import CompareResult, FingerprintIndex, compare_corpus
from indexer.detect.fingerprint import fingerprints
from indexer.detect.normalize import normalize
from indexer.detect.options import DetectOptions
from indexer.detect.report import copy_report, match_document
from indexer.detect.stock import shipped_phrases

# Characters of everyday official prose; random draws from them share no long runs by chance.
CHARS = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种"
         "面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把"
         "性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气")

TEMPLATE = ("会前，本人认真学习了党章党规和上级有关文件精神，广泛征求了干部群众的意见建议，"
            "与班子成员和分管部门负责同志逐一谈心谈话，深入查摆了自身存在的问题和不足。")
PASSAGE = ("一是抓基层党建工作用力不均衡，对软弱涣散村党组织整顿督促不够，个别村两委班子战斗力不强，"
           "发展党员把关不严，三会一课制度落实不经常。二是对区委重大决策部署跟踪问效不及时，"
           "有的项目推进缓慢，群众反映的热点难点问题解决不彻底。")


def babble(rng: random.Random, n: int) -> str:
    out = []
    while sum(map(len, out)) < n:
        out.append("".join(rng.choice(CHARS) for _ in range(rng.randint(8, 30))) + rng.choice("，。；"))
    return "".join(out)


def run(texts: dict[str, str], **knobs) -> CompareResult:
    opts = DetectOptions(**knobs)
    fps = {d: fingerprints(normalize(t).text, k=opts.k, window=opts.window) for d, t in texts.items()}
    return compare_corpus(fps, texts.__getitem__, options=opts)


def test_planted_in_six_documents_is_boilerplate_not_copying():
    rng = random.Random(1)
    texts = {f"d{i}": babble(rng, 300) + "\n" + TEMPLATE + "\n" + babble(rng, 200) for i in range(6)}
    texts["d6"] = babble(rng, 400)
    result = run(texts)
    assert result.pairs == []
    assert len(result.boilerplate) == 1
    bp = result.boilerplate[0]
    assert bp.documents == 6
    slack = DetectOptions().window  # the first and last fingerprint lie within a window of the ends
    for doc, s, e in bp.occurrences:
        start = texts[doc].index(TEMPLATE)
        assert start <= s <= start + slack and start + len(TEMPLATE) - slack <= e <= start + len(TEMPLATE)
    assert "广泛征求了干部群众的意见建议" in bp.text


def test_a_copy_in_two_documents_is_a_pair():
    rng = random.Random(2)
    texts = {f"d{i}": babble(rng, 500) for i in range(4)}
    texts["d1"] = texts["d1"][:200] + PASSAGE + texts["d1"][200:]
    texts["d3"] = texts["d3"][:100] + PASSAGE.replace("区委", "县委") + texts["d3"][100:]
    result = run(texts)
    assert [(p.a, p.b, len(p.passages)) for p in result.pairs] == [("d1", "d3", 1)]
    assert result.boilerplate == []


def test_stock_phrases_never_count():
    rng = random.Random(3)
    slogan = "，".join(shipped_phrases()[:4]) + "。"  # slogans quoted one after the other
    texts = {"a": babble(rng, 200) + slogan + babble(rng, 200), "b": babble(rng, 300) + slogan + babble(rng, 100)}
    assert run(texts).pairs == []
    assert run(texts, use_stock_phrases=False).pairs  # 77 characters in common: a copy otherwise
    mine = "我们单位自己总结的一句很长的工作口号内容，大家开会时都要一字不差地念一遍"
    texts = {"a": babble(rng, 200) + mine + babble(rng, 200), "b": babble(rng, 300) + mine + babble(rng, 100)}
    assert run(texts).pairs
    assert run(texts, stock_phrases=(mine,)).pairs == []


def make_corpus(seed: int, n_docs: int = 16):
    """Documents of random prose with copied passages (some edited, some shuffled) and one template."""
    rng = random.Random(seed)
    texts = {f"{i:03d}": babble(rng, rng.randint(600, 1200)) for i in range(n_docs)}
    for d in rng.sample(sorted(texts), 7):
        t = texts[d]
        cut = t.index("。", len(t) // 2) + 1
        texts[d] = t[:cut] + "\n" + TEMPLATE + "\n" + t[cut:]
    cases = []
    docs = sorted(texts)
    for i in range(6):
        src, dst = docs[2 * i], docs[2 * i + 1]
        t = texts[src]
        s = t.index("。", rng.randint(0, 200)) + 1
        e = t.index("。", s + rng.randint(60, 200)) + 1
        passage = t[s:e]
        if i % 3 == 1:  # a few edits and a line break
            chars = list(passage)
            for j in rng.sample(range(len(chars)), len(chars) // 40):
                chars[j] = "的"
            chars.insert(len(chars) // 2, "\n")
            passage = "".join(chars)
        elif i % 3 == 2:  # sentences (here: runs of clauses of 20+ characters) shuffled
            parts, cur = [], ""
            for clause in passage.replace("。", "，").split("，"):
                cur += clause + "，" if clause else ""
                if len(cur) >= 20:
                    parts.append(cur)
                    cur = ""
            parts[-1] += cur
            rng.shuffle(parts)
            passage = "".join(parts)
        at = texts[dst].index("。", 100) + 1
        texts[dst] = texts[dst][:at] + passage + texts[dst][at:]
        cases.append((src, (s, e), dst, (at, at + len(passage))))
    return texts, cases


@pytest.mark.parametrize("seed", [11, 12])
def test_end_to_end_small_corpus(seed):
    texts, cases = make_corpus(seed)
    result = run(texts)
    found = {(p.a, p.b): p for p in result.pairs}
    assert len(found) == len(cases)  # no pair beyond the planted copies
    for src, (s, e), dst, (bs, be) in cases:
        pair = found[(src, dst)]
        assert len(pair.passages) == 1
        p = pair.passages[0]
        assert p.a_start <= s + 3 and p.a_end >= e - 3 and p.a_end - p.a_start <= (e - s) + 6
        assert p.b_start <= bs + 3 and p.b_end >= be - 3 and p.b_end - p.b_start <= (be - bs) + 6
    assert len(result.boilerplate) == 1 and result.boilerplate[0].documents == 7
    data = result.to_json({d: f"{d}.txt" for d in texts})
    assert {"documents", "pairs", "boilerplate"} <= set(data)
    assert data["pairs"][0]["passages"][0]["a"] == [found[(cases[0][0], cases[0][2])].passages[0].a_start,
                                                    found[(cases[0][0], cases[0][2])].passages[0].a_end]
    assert {"doc", "span"} <= set(data["boilerplate"][0]["occurrences"][0])


def test_one_document_against_the_library_matches_the_corpus_compare():
    texts, cases = make_corpus(13)
    opts = DetectOptions()
    fps = {d: fingerprints(normalize(t).text) for d, t in texts.items()}
    corpus = compare_corpus(fps, texts.__getitem__, options=opts)
    index = FingerprintIndex(fps)
    for doc in texts:
        m = match_document(fps[doc], texts[doc], index, texts.__getitem__, self_id=doc)
        got = {(p.b, x.a_start, x.a_end, x.b_start, x.b_end) for p in m.pairs for x in p.passages}
        want = {(p.b, x.a_start, x.a_end, x.b_start, x.b_end) for p in corpus.pairs if p.a == doc
                for x in p.passages}
        want |= {(p.a, x.b_start, x.b_end, x.a_start, x.a_end) for p in corpus.pairs if p.b == doc
                 for x in p.passages}
        assert got == want


def test_new_document_report():
    texts, cases = make_corpus(14)
    src, (s, e), _, _ = cases[0]
    library = {d: t for d, t in texts.items()}
    fps = {d: fingerprints(normalize(t).text) for d, t in library.items()}
    new = TEMPLATE + "\n" + "本段是新写的内容，" + texts[src][s:e] + "\n结尾。"
    new_fps = fingerprints(normalize(new).text)
    m = match_document(new_fps, new, FingerprintIndex(fps), library.__getitem__)
    assert [p.b for p in m.pairs][0] == src
    report = copy_report(m, normalize(new))
    # the template is in 8 documents now; its ends may lie up to a window outside the fingerprints
    assert report.boilerplate_chars >= len(normalize(TEMPLATE).text) - 2 * DetectOptions().window
    copied = len(normalize(texts[src][s:e]).text)
    assert report.copied_chars == pytest.approx(copied, abs=3)
    assert report.sources[0].doc == src
    assert report.max_source_ratio == report.total_ratio == pytest.approx(copied / report.chars, abs=0.02)
    data = report.to_json()
    assert data["sources"][0]["doc"] == src and data["passages"][0]["source"] == src
    assert new[slice(*data["passages"][0]["span"])].strip("\n")[:10] == texts[src][s:s + 10]


def test_texts_are_loaded_only_for_candidate_pairs():
    rng = random.Random(4)
    texts = {f"d{i}": babble(rng, 500) for i in range(8)}
    texts["d2"] += PASSAGE
    texts["d5"] = PASSAGE + texts["d5"]
    loaded = []
    fps = {d: fingerprints(normalize(t).text) for d, t in texts.items()}
    opts = DetectOptions(sentences=False)  # the sentence stage reads every text once, to sketch it
    result = compare_corpus(fps, lambda d: loaded.append(d) or texts[d], options=opts)
    assert [(p.a, p.b) for p in result.pairs] == [("d2", "d5")]
    assert sorted(set(loaded)) == ["d2", "d5"]
    loaded.clear()
    result = compare_corpus(fps, lambda d: loaded.append(d) or texts[d])
    assert [(p.a, p.b) for p in result.pairs] == [("d2", "d5")]
    assert sorted(loaded) == sorted([*texts, "d2", "d5"])  # each once to sketch, the pair's to align


def test_shipped_stock_list_is_a_sensible_size():
    phrases = shipped_phrases()
    assert 30 <= len(phrases) <= 100  # slogans, not a thesaurus of the genre
    assert all(len(normalize(p).text) >= 4 for p in phrases)
    assert "深入学习贯彻习近平新时代中国特色社会主义思想" in phrases
