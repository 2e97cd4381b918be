"""The folded view and its offset map back to the stored text."""

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from indexer.text import clean_stored, fold, fold_with_offsets, folded_to_stored


def reference_fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", ch) for ch in text if not ch.isspace())


def test_clean_stored_drops_bom_and_normalizes_line_ends():
    assert clean_stored("\ufeff第一行\r\n第二行\r第三行\n") == "第一行\n第二行\n第三行\n"
    assert clean_stored("中\ufeff文") == "中\ufeff文"  # only a leading BOM goes


def test_fold_drops_whitespace_and_unifies_width():
    assert fold("政治站\n位 （ＸＸ县）\u00a0\u3000２０２１") == "政治站位(XX县)2021"


def test_offsets_point_into_stored_text():
    text = "一是\n政治站位\u3000不够高（ＡＢ）㈠"
    folded = fold_with_offsets(text)
    assert folded.text == reference_fold(text)
    for i, ch in enumerate(folded.text):
        assert ch in unicodedata.normalize("NFKC", text[folded.offsets[i]])
    start = folded.text.index("站位不够")
    s, e = folded.to_stored(start, start + 4)
    assert text[s:e] == "站位\u3000不够"


chinese = st.text(alphabet=st.sampled_from(list("政治站位不够高学习\n 　\u00a0，,（）ＡＢab１2㈠𝐀")), max_size=40)


@given(chinese)
def test_fold_matches_per_character_nfkc(text):
    assert fold(text) == reference_fold(text)
    folded = fold_with_offsets(text)
    assert len(folded.offsets) == len(folded.text)
    assert list(folded.offsets) == sorted(folded.offsets)


@given(chinese, st.data())
def test_folded_spans_round_trip(text, data):
    folded = fold_with_offsets(text)
    if not folded.text:
        return
    start = data.draw(st.integers(0, len(folded.text) - 1))
    end = data.draw(st.integers(start + 1, len(folded.text)))
    s, e = folded_to_stored(text, [(start, end)])[0]
    assert (s, e) == folded.to_stored(start, end)
    assert reference_fold(text[s:e]) == folded.text[start:end] or folded.text[start:end] in reference_fold(text[s:e])
