"""Search: phrase mode equals substring truth; words mode ranks jieba words; bad queries are refused."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.errors import BadQuery
from indexer.text import fold


def truth(lib, query: str) -> set[str]:
    q = fold(query)
    docs = lib.live.values()
    texts = lib.texts(d.docnum for d in docs)
    return {d.id for d in docs if q in fold(texts[d.docnum])}


def phrase_ids(lib, query: str) -> set[str]:
    result = lib.search(query, mode="phrase", limit=10_000)
    assert result.total == len(result.hits)
    return {h.id for h in result.hits}


@pytest.mark.parametrize("query", ["治站位", "往心里走", "政治站位不够高", "站位", "治", "形式主义、官僚主义",
                                   "政治站位不够高，理论学习", "XX县委", "ＸＸ县委", "(AB", "不存在的短语组合"])
def test_phrase_examples_match_substring_truth(sample_lib, query):
    assert phrase_ids(sample_lib, query) == truth(sample_lib, query)


def test_phrase_across_line_break_and_nbsp(sample_lib):
    # b.txt has 政治站\n位 and a NBSP before 2021年度
    ids = phrase_ids(sample_lib, "本人政治站位不够高")
    assert len(ids) == 1
    assert phrase_ids(sample_lib, "深实。2021年度") == truth(sample_lib, "深实。2021年度")
    hit = sample_lib.search("本人政治站位", mode="phrase").hits[0]
    doc = sample_lib.get(hit.id)
    (s, e), = hit.matches
    assert doc.text[s:e] == "本人政治站\n位"


def test_every_occurrence_is_returned_as_a_span_of_the_stored_text(sample_lib):
    for hit in sample_lib.search("巡视", mode="phrase", limit=100).hits:
        text = sample_lib.get(hit.id).text
        assert len(hit.matches) == fold(text).count("巡视")
        assert all(fold(text[s:e]) == "巡视" for s, e in hit.matches)


@st.composite
def queries(draw, texts):
    text = draw(st.sampled_from(texts))
    folded = fold(text)
    if draw(st.booleans()):
        size = draw(st.integers(1, 12))
        start = draw(st.integers(0, max(0, len(folded) - size)))
        return folded[start:start + size]
    return draw(st.text(alphabet=st.sampled_from(list("政治站位学习问题整改，。的X县委")), min_size=1, max_size=6))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_phrase_search_equals_substring_truth(sample_lib, data):
    texts = list(sample_lib.texts(sample_lib.live).values())
    query = data.draw(queries(texts))
    if not fold(query):
        return
    assert phrase_ids(sample_lib, query) == truth(sample_lib, query)


def test_quoted_query_is_phrase(sample_lib):
    assert sample_lib.search('"往心里走"').mode == "phrase"
    assert sample_lib.search("“往心里走”").mode == "phrase"


def test_words_mode_and_or_not(sample_lib):
    both = {h.id for h in sample_lib.search("巡视 整改", mode="words", limit=100).hits}
    either = {h.id for h in sample_lib.search("巡视 OR 形式主义", mode="words", limit=100).hits}
    without = {h.id for h in sample_lib.search("形式主义 NOT 巡视", mode="words", limit=100).hits}
    assert both and both <= either
    assert without and not (without & both)
    hit = sample_lib.search("巡视 整改", mode="words").hits[0]
    text = sample_lib.get(hit.id).text
    assert {text[s:e] for s, e in hit.matches} <= {"巡视", "整改", "巡视整改"}


def test_words_mode_field_filter(sample_lib):
    res = sample_lib.search("民主生活会 year:2021", mode="words", limit=100)
    assert res.total >= 1
    assert all(h.metadata.get("year") == "2021" for h in res.hits)
    res2 = sample_lib.search("民主生活会", mode="words", limit=100, filters={"year": "2021"})
    assert {h.id for h in res2.hits} == {h.id for h in res.hits}


def test_auto_puts_whole_phrase_first(sample_lib):
    res = sample_lib.search("理论学习不深不实", limit=100)
    phrase = [h.phrase for h in res.hits]
    assert phrase[0] and phrase == sorted(phrase, reverse=True)
    assert {h.id for h in res.hits if h.phrase} == truth(sample_lib, "理论学习不深不实")


def test_pagination_and_exact_total(sample_lib):
    full = sample_lib.search("问题", mode="phrase", limit=100)
    page = sample_lib.search("问题", mode="phrase", limit=2, offset=2)
    assert page.total == full.total
    assert [h.id for h in page.hits] == [h.id for h in full.hits[2:4]]


@pytest.mark.parametrize("query", ["", "   ", "\n", "字" * 501, "a\x00b"])
def test_bad_queries_are_refused(sample_lib, query):
    with pytest.raises(BadQuery):
        sample_lib.search(query)


def test_bad_options_are_refused(sample_lib):
    with pytest.raises(BadQuery):
        sample_lib.search("问题", mode="fuzzy")
    with pytest.raises(BadQuery):
        sample_lib.search("问题", limit=-1)
    with pytest.raises(BadQuery):
        sample_lib.search("问题", filters={"colour": "red"})


@pytest.mark.parametrize("query", ["unit:(", "AND", "OR OR", "NOT", "((巡视", "巡视)", "year:", "*", "title:x"])
def test_malformed_word_syntax_never_crashes(sample_lib, query):
    try:
        sample_lib.search(query, mode="words")
    except BadQuery:
        pass


@pytest.mark.parametrize("query", ["整改 落实", "巡视 AND 整改 NOT 形式主义", "巡视 OR 整改", "(巡视 OR 整改) 落实 year:2021",
                                   "NOT 巡视 整改", "学习 OR (整改 NOT 巡视)", "没有这个词 整改", "政治站位"])
def test_word_ranking_over_posting_arrays_equals_whoosh(sample_lib, query):
    """The word ranking computed over posting arrays (``search._scored``) matches exactly the
    documents Whoosh matches, with Whoosh's BM25 scores, in Whoosh's order."""
    import time

    from indexer import search

    words = sample_lib.words
    searcher = words.searcher()
    wmap = words.docmap(searcher)
    q = words.parser().parse(query)
    nums, scores = search._scored(sample_lib, searcher, q, wmap, sample_lib.catalog.mask({}), time.monotonic() + 5)
    whoosh = {int(wmap[h.docnum]): h.score for h in searcher.search(q, limit=None)}
    assert dict(zip(nums.tolist(), scores.tolist())) == pytest.approx(whoosh, rel=1e-12)
    ranked = [int(wmap[h.docnum]) for h in searcher.search(q, limit=None)]
    order = sorted(zip(nums.tolist(), scores.tolist()), key=lambda p: (-p[1], p[0]))
    assert [n for n, _ in order] == ranked


@pytest.mark.parametrize("query", ["整改", "整改 year:[2019 TO 2023]"])  # ranked over arrays; by Whoosh (a range)
def test_filtered_word_search_fills_its_page(sample_lib, query):
    """Regression: a words query with a facet filter ranked the library's top hits and dropped
    those outside the filter afterwards, so a page could be empty while ``total`` said 2."""
    for year in sample_lib.catalog.values["year"]:
        result = sample_lib.search(query, mode="words", limit=1, filters={"year": year})
        assert len(result.hits) == min(1, result.total)
        assert all(h.metadata.get("year") == year for h in result.hits)
        every = sample_lib.search(query, mode="words", limit=100, filters={"year": year})
        assert len(every.hits) == every.total and every.hits[:1] == result.hits
