"""The sentence stage's fast paths against straightforward references, on random Chinese text: the
corpus compare runs them on every candidate pair, and they must give exactly what the plain
computation gives (same units, same features, same seeds to the last offset)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.detect import DEFAULTS, normalize
from indexer.detect.options import DetectOptions
from indexer.detect.sentences import sentence_seeds, unit_similarity
from indexer.detect.units import Units, features

SENTENCES = [s + "。" for s in (
    "在理论学习方面我有时满足于读过了学过了对新思想的深入思考不够",
    "遇到群众反映的困难我没有及时帮助解决而是层层转交给相关科室",
    "在推动重点项目时我习惯于开会讨论到现场调查研究的时间偏少",
    "对年轻干部的培养我关心他们的业务本领多关心他们的思想变化少",
    "今年以来单位完成了办公楼节能改造年用电量比上年下降一成左右",
    "秋季运动会上机关代表队获得拔河比赛第二名退休老同志组织的书画展吸引了不少参观者",
    "档案室新购置了十二组密集柜纸质档案的数字化扫描已经完成大半",
    "春节前夕工会走访慰问了困难职工家庭送去米面油和慰问金",
    "本季度共接待来访人员一百三十余人次办结答复率达到九成以上",
    "深入学习贯彻习近平新时代中国特色社会主义思想还不够系统",
    "每季度在村里住两晚建立问题台账道路和饮水两类事项限期一个月办结",
    "组织科室逐条梳理审批事项能合并的合并九月底前推出一次办结清单",
)]
SWAPS = {"帮助": "协助", "群众": "大众", "推动": "推进", "讨论": "商量", "关心": "关注", "困难": "难题"}
CHARS = "的了和在对是有与干部群众问题工作整改落实学习我们发展一二三四五六七八九十第0123456789abc"
MARKS = "，、：；！？\n"


def _text(rng: np.random.Generator, base: list[str] | None = None) -> str:
    """A material of random sentences; with ``base``, a rewrite of some of its sentences among new ones
    (words spun, characters replaced, clauses cut and marks scattered)."""
    out = []
    for _ in range(rng.integers(1, 14)):
        if base and rng.random() < 0.6:
            s = base[rng.integers(len(base))] + "。"
            for old, new in SWAPS.items():
                if rng.random() < 0.5:
                    s = s.replace(old, new)
        else:
            s = SENTENCES[rng.integers(len(SENTENCES))]
        chars = list(s)
        for _ in range(rng.integers(0, 6)):  # OCR errors, inserted marks, numerals
            at = int(rng.integers(len(chars)))
            pool = CHARS if rng.random() < 0.7 else MARKS
            chars[at] = pool[rng.integers(len(pool))]
        if rng.random() < 0.2:  # a very long unit: cut at its clauses
            chars += list("，".join(SENTENCES[rng.integers(len(SENTENCES))] for _ in range(3)))
        if rng.random() < 0.2:  # a short sentence joins the next
            chars = list("总体而言。") + chars
        out.append("".join(chars))
    return ("\n" if rng.random() < 0.3 else "").join(out)


def _mask(rng: np.random.Generator, n: int) -> np.ndarray | None:
    if rng.random() < 0.3:
        return None
    mask = np.zeros(n, dtype=bool)
    for _ in range(rng.integers(0, 4)):
        s = int(rng.integers(max(1, n)))
        mask[s:s + int(rng.integers(1, 80))] = True
    return mask


def _reference_seeds(ua: Units, ub: Units, opts: DetectOptions, boiler_a, boiler_b) -> list[tuple]:
    """sentence_seeds the plain way: the full similarity matrices, each unit pair's shared features
    looked up in dictionaries, the trim rule written out."""
    cosine, dice = unit_similarity(ua, ub)
    if not cosine.size:
        return []
    ok = (cosine >= opts.unit_cosine) & (dice >= opts.unit_dice) & (dice > 0)
    for u, mask, axis in ((ua, boiler_a, 1), (ub, boiler_b, 0)):
        share = [0.0 if mask is None else mask[s:e].sum() / max(1, e - s)
                 for s, e in zip(u.starts.tolist(), u.ends.tolist(), strict=True)]
        ok &= np.expand_dims(np.array(share) < opts.unit_max_boilerplate, axis)
    score = np.where(ok, cosine, -1.0)
    best = (score == score.max(axis=1, keepdims=True)) & (score == score.max(axis=0, keepdims=True))

    def spans(u: Units, n: int) -> dict[int, tuple[int, int]]:
        rows = np.flatnonzero(u.unit == n).tolist()
        return {int(u.code[r]): (int(u.first[r]), int(u.last[r])) for r in rows}

    out = []
    for i, j in zip(*np.nonzero(ok & best), strict=True):
        row = []
        fa, fb = spans(ua, i), spans(ub, j)
        shared = fa.keys() & fb.keys()
        for u, f, n in ((ua, fa, i), (ub, fb, j)):
            s, e = min(f[c][0] for c in shared), max(f[c][1] for c in shared) + 2
            start, end = int(u.starts[n]), int(u.ends[n])
            breaks = u.breaks.tolist()
            if breaks:
                head = max([b for b in breaks if b <= s], default=breaks[0])
                tail = min([b for b in breaks if b >= e], default=breaks[-1])
                start = head if start < head <= s else start
                end = tail if e <= tail < end else end
            row += [s if s - u.starts[n] > opts.unit_trim_slack else start,
                    e if u.ends[n] - e > opts.unit_trim_slack else end]
        out.append(tuple(row))
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([DEFAULTS, DetectOptions(unit_dice=0.2, unit_cosine=0.3),
                                                   DetectOptions(unit_min_chars=3, unit_max_chars=30)]))
def test_sentence_seeds_are_the_plain_computation(seed, opts):
    rng = np.random.default_rng(seed)
    a = _text(rng)
    b = _text(rng, [s for s in a.replace("\n", "").split("。") if s])
    na, nb = normalize(a), normalize(b)
    ua, ub = features(na, opts), features(nb, opts)
    boiler_a, boiler_b = _mask(rng, len(na)), _mask(rng, len(nb))
    seeds = sentence_seeds(ua, ub, opts, boiler_a=boiler_a, boiler_b=boiler_b)
    assert seeds.dtype == np.int64 and seeds.shape[1] == 4
    assert list(map(tuple, seeds.tolist())) == _reference_seeds(ua, ub, opts, boiler_a, boiler_b)


def test_random_rewrites_seed_often_enough_to_test_something():
    rng = np.random.default_rng(3)
    seeded = 0
    for _ in range(40):
        a = _text(rng)
        b = _text(rng, [s for s in a.replace("\n", "").split("。") if s])
        seeded += len(sentence_seeds(features(normalize(a), DEFAULTS), features(normalize(b), DEFAULTS), DEFAULTS))
    assert seeded > 40


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, (1 << 63) - 1), max_size=300, unique=True), st.integers(0, 2**32 - 1))
def test_the_lexicon_hash_table_finds_what_a_binary_search_finds(keys, seed):
    from indexer.detect.lexicon import _HashTable

    rng = np.random.default_rng(seed)
    keys = np.array(sorted(keys), dtype=np.int64)
    near = keys[rng.integers(0, len(keys), 200)] + rng.integers(-1, 2, 200) if len(keys) else keys
    queries = np.concatenate([keys, near, rng.integers(0, 1 << 62, 100)])
    at = np.minimum(np.searchsorted(keys, queries), max(0, len(keys) - 1))
    want = np.where(keys[at] == queries, at, -1) if len(keys) else np.full(len(queries), -1)
    assert _HashTable(keys).find(queries).tolist() == want.tolist()


@lru_cache(maxsize=1)
def _words() -> dict[tuple[int, int], list[int]]:
    """同义词词林 as a dictionary: (word length, packed code points) -> synonym classes."""
    from indexer.detect.lexicon import cilin

    words = {}
    for n, (keys, first, classes) in cilin().tables.items():
        bounds = np.append(first, len(classes)).tolist()
        for k, key in enumerate(keys.tolist()):
            words[n, key] = classes[bounds[k]:bounds[k + 1]].tolist()
    return words


def _reference_features(text: str, opts: DetectOptions):
    """The feature bags the plain way: every position's bigram, or the synonym classes of the 2- and
    3-character lexicon words there (looked up in dictionaries), gathered per (feature, unit)."""
    from indexer.detect.lexicon import CLASS_BASE
    from indexer.detect.units import canonical_codepoints, sentence_ends, unit_spans

    norm = normalize(text)
    starts, ends = unit_spans(norm, opts)
    cps = canonical_codepoints(norm.text).tolist()
    words = _words()

    def unit(p: int) -> int:
        return int(np.searchsorted(ends, p, side="right"))

    bags: dict[tuple[int, int], list[int]] = {}
    han = [c >= 0x3400 or c == ord("#") for c in cps]
    for p in range(len(cps) - 1):
        if not (han[p] and han[p + 1]):
            continue
        bigram = cps[p] << 21 | cps[p + 1]
        found = [CLASS_BASE + c for c in words.get((2, bigram), [])] if opts.unit_synonyms else []
        if opts.unit_synonyms and p + 2 < len(cps):
            found += [CLASS_BASE + c for c in words.get((3, bigram << 21 | cps[p + 2]), [])]
        if not (opts.unit_synonyms and (2, bigram) in words):
            found.append(bigram)
        if unit(p) == unit(p + 1) and len(starts):
            for code in found:
                bags.setdefault((int(code), unit(p)), []).append(p)
    rows = sorted(bags)
    return (starts, ends, [u for _, u in rows], [c for c, _ in rows], [len(bags[r]) for r in rows],
            [min(bags[r]) for r in rows], [max(bags[r]) for r in rows], sentence_ends(norm))


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([DEFAULTS, DetectOptions(unit_synonyms=False),
                                                   DetectOptions(unit_min_chars=3, unit_max_chars=30)]))
def test_features_are_the_plain_computation(seed, opts):
    rng = np.random.default_rng(seed)
    text = _text(rng) if rng.random() < 0.8 else "".join(rng.choice(list(CHARS + MARKS + " x"), 40))
    u = features(normalize(text), opts)
    want = _reference_features(text, opts)
    got = (u.starts, u.ends, u.unit, u.code, u.count, u.first, u.last, u.breaks)
    for g, w in zip(got, want, strict=True):
        assert np.asarray(g).dtype == np.int64 and np.asarray(g).tolist() == np.asarray(w).tolist()


def _reference_unit_pairs(sketches, max_postings: int) -> list[tuple]:
    """unit_pairs the plain way: every feature's postings, every two of them from different documents."""
    postings: dict[int, list[tuple[int, int]]] = {}
    for d, units, codes in sketches:
        for u, c in zip(units.tolist(), codes.tolist(), strict=True):
            postings.setdefault(c, []).append((d, u))
    out = []
    for c in sorted(postings):
        rows = sorted(postings[c])
        if 2 <= len(rows) <= max_postings:
            out += [(*rows[i], *rows[j], len(rows)) for i in range(len(rows)) for j in range(i + 1, len(rows))
                    if rows[i][0] != rows[j][0]]
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 4, 24]), st.booleans())
def test_unit_pairs_and_their_counts_are_the_plain_computation(seed, row_bits, shuffled):
    """Over random sketches (a small vocabulary: many shared features), with the one-key sort on
    row numbers, the top-byte sort it falls back to for more rows, and the general lexsort."""
    from collections import Counter

    from indexer.detect import sentences

    rng = np.random.default_rng(seed)
    vocab = rng.integers(0, 1 << 40, int(rng.integers(5, 80)))
    sketches = []
    for d in range(int(rng.integers(1, 25))):
        n = int(rng.integers(0, 12))
        sketches.append((d, np.repeat(np.arange(n), 3), rng.choice(vocab, 3 * n)))
    if shuffled:
        sketches = sketches[::-1]
    opts = DetectOptions(unit_max_postings=int(rng.integers(2, 30)))
    old = sentences._ROW_BITS
    sentences._ROW_BITS = row_bits
    try:
        rows = sentences.unit_pairs(sketches, opts)
    finally:
        sentences._ROW_BITS = old
    want = _reference_unit_pairs(sketches, opts.unit_max_postings)
    assert sorted(map(tuple, rows.tolist())) == sorted(want)
    if len(rows):
        pairs, count, rarest = sentences._count_rows(rows)
        counted = Counter(map(tuple, rows[:, :4].tolist()))
        least = {}
        for r in rows.tolist():
            least[tuple(r[:4])] = min(least.get(tuple(r[:4]), r[4]), r[4])
        ordered = sorted(counted, key=lambda p: (p[0], p[2], p[1], p[3]))  # by documents, then units
        assert list(map(tuple, pairs.tolist())) == ordered
        assert count.tolist() == [counted[p] for p in ordered]
        assert rarest.tolist() == [least[p] for p in ordered]
