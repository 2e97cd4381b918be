"""Plain-text bytes to str: which encoding a Chinese text file is in, decided from its bytes.

UTF-8 (with or without BOM), UTF-16/32 with BOM, UTF-16 without BOM, GB18030 (GBK, GB2312) and Big5
are recognised and decoded. GB18030 accepts almost any byte sequence, so Big5 text (and accented Latin
text) would decode "successfully" into nonsense; the candidates are therefore scored by how many of
their Chinese characters are common ones — Simplified (GB2312 level 1) or Traditional (Big5 常用字).
Text in any other encoding (Latin-1, Cyrillic, Japanese, …) is refused with a message naming it,
rather than stored as mojibake.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

from .errors import UnreadableFile

_BOMS = (  # UTF-32 first: its LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# What Chinese text is made of: ASCII, Latin-1, general and CJK punctuation, ideographs, full-width forms.
_TEXTLIKE = re.compile(r"[\t\n\r\x20-\x7e\xa0-\xff\u2000-\u206f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# Ideographs, rare ones and the private-use area (where GBK's user-defined codes land) included.
_HANZI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\ue000-\uf8ff\uf900-\ufaff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_CJK_MARKS = re.compile(r"[\u2000-\u206f\u3000-\u303f\uff00-\uffef]")
COMMON_SHARE = 0.8  # correctly decoded Chinese text scores ~0.95–1.0; mojibake ~0.3–0.6
BINARY = "不是文本文件：含有二进制数据"
# charset-normalizer's names, in words a user recognises.
_NAMES = {
    "latin_1": "Latin-1（西欧文字）", "cp1252": "Windows-1252（西欧文字）",
    "iso8859_15": "Latin-9（西欧文字）", "cp1250": "Windows-1250（中欧文字）",
    "iso8859_2": "Latin-2（中欧文字）", "cp1251": "Windows-1251（西里尔文字）",
    "koi8_r": "KOI8-R（俄文）", "shift_jis": "Shift_JIS（日文）", "cp932": "Shift_JIS（日文）",
    "euc_jp": "EUC-JP（日文）", "euc_kr": "EUC-KR（韩文）", "cp949": "EUC-KR（韩文）",
    "cp1253": "Windows-1253（希腊文字）", "cp1254": "Windows-1254（土耳其文字）",
    "cp1255": "Windows-1255（希伯来文字）", "cp1256": "Windows-1256（阿拉伯文字）",
    "cp1257": "Windows-1257（波罗的海文字）",
    "mac_roman": "Mac Roman（西欧文字）", "cp850": "DOS 850（西欧文字）", "cp437": "DOS 437（西欧文字）",
}


def decode(data: bytes) -> str:
    """The text of ``data``; raises ``UnreadableFile`` for binary data and non-Chinese encodings."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                break  # a stray BOM-like prefix: try the other ways
    try:
        text = data.decode("utf-8")
        if "\0" not in text:  # ASCII-only UTF-16 is valid UTF-8 too
            return text
    except UnicodeDecodeError:
        pass
    encoding = _utf16_encoding(data)
    if encoding:
        return data.decode(encoding)
    if b"\0" in data:
        raise UnreadableFile(BINARY)
    best, best_score = None, -1.0
    for encoding in ("gb18030", "cp950", "big5hkscs"):  # on a tie, GB: what mainland offices write
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        score = common_share(text)
        if score > best_score:
            best, best_score = text, score
    if best is not None and best_score >= COMMON_SHARE:
        return best
    raise UnreadableFile(_foreign(data))


def common_share(text: str) -> float:
    """The share of the Chinese characters in ``text`` that are common ones (without any: of the
    non-ASCII characters, the share that are Chinese punctuation)."""
    text = text[:200_000]
    hanzi = _HANZI.findall(text)
    if hanzi:
        return sum(map(_is_common, hanzi)) / len(hanzi)
    other = _NON_ASCII.findall(text)  # no ideographs: Chinese punctuation at most
    return len(_CJK_MARKS.findall(text)) / len(other) if other else 1.0


@lru_cache(maxsize=65536)
def _is_common(ch: str) -> bool:
    """One of the ~3,800 most used Simplified (GB2312 level 1) or ~5,400 Traditional (Big5) characters."""
    try:
        b = ch.encode("gb2312")
        if 0xB0 <= b[0] <= 0xD7:
            return True
    except UnicodeEncodeError:
        pass
    try:
        b = ch.encode("big5")
        return 0xA440 <= (b[0] << 8 | b[1]) <= 0xC67E
    except UnicodeEncodeError:
        return False


def _foreign(data: bytes) -> str:
    """Why text in a non-Chinese (or unrecognisable) encoding is refused, naming the encoding if known."""
    sample = data[:200_000]
    high = [b for b in sample if b >= 0x80]
    if high and all(b >= 0xC0 and b not in (0xD7, 0xF7) or b in _LATIN_MARKS for b in high):
        name = _NAMES["cp1252"]  # accented letters between ASCII: Western European text
    else:
        name = _guess(sample)
    if name is None:
        return "无法识别文本编码：不是 UTF-8、GBK/GB18030 或 Big5 编码的中文文本；请另存为 UTF-8 后再导入"
    return f"文本编码为 {name}，不是中文文本，为免存入乱码已跳过；如确为中文材料，请另存为 UTF-8 后再导入"


_LATIN_MARKS = {0xA0, 0xAB, 0xBB, 0xB0, 0xB4, 0x92, 0x93, 0x94, 0x96, 0x97, 0x85, 0x80}  # «» ° ' " – — … €


def _guess(data: bytes) -> str | None:
    """charset-normalizer's guess at a non-Chinese encoding, in words, or None."""
    from charset_normalizer import from_bytes  # slow to import, and rarely needed

    best = from_bytes(data).best()
    return None if best is None else _NAMES.get(best.encoding, best.encoding)


def _utf16_encoding(data: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' if BOM-less ``data`` reads as Chinese or ASCII text that way, else None.

    Read the wrong way round, ASCII (whose NUL high bytes sit at odd or even offsets) and CJK turn into
    unrelated scripts, and so do GBK bytes. Without NULs there can be no ASCII, so ask for more."""
    if len(data) < 2 or len(data) % 2:
        return None
    best, best_share = None, 0.0
    for encoding in ("utf-16-le", "utf-16-be"):  # on a tie (e.g. one U+4E00), LE: what Windows writes
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        share = len(_TEXTLIKE.findall(text)) / len(text)
        if share > best_share:
            best, best_share = encoding, share
    return best if best_share >= (0.8 if b"\0" in data else 0.95) else None
