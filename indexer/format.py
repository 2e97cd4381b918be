"""The index format: its version and every parameter the stored data depends on, in ``format.json``.

Phrase segments store folded text (``text.fold``: NFKC per character, so Python's Unicode tables) and
copy-detection fingerprints (``detect.normalize``: NFKC, OpenCC traditional→simplified, case and
punctuation rules; then k-grams of ``k`` characters winnowed over ``window``). The word index stores
jieba's words of NFKC text. Change any of these and old data silently stops matching new data, so
the index records them, opening an index written with other parameters raises
``errors.IndexFormatMismatch`` (in plain Chinese, naming ``indexer upgrade``), and ``indexer.upgrade``
rebuilds what depends on the parameters that changed.

Indexes written before this record existed are format 1 with ``LEGACY_PARAMS``: when those equal
today's parameters the record is simply written, without rebuilding anything.
"""

from __future__ import annotations

import json
import unicodedata
from importlib import metadata
from pathlib import Path

from .errors import IndexFormatMismatch, IndexTooNew

FORMAT_VERSION = 2
RECORD = "format.json"

# What stored phrase segments depend on, and what the word index depends on.
SEGMENT_KEYS = ("fold_version", "unicode_version", "normalize_version", "opencc_config", "opencc_version",
                "fingerprint_k", "fingerprint_window")
WORDS_KEYS = ("unicode_version", "jieba_version", "words_version")

# The parameters of every index written before ``format.json`` existed (format 1).
LEGACY_PARAMS = {
    "fold_version": 1, "unicode_version": "14.0.0", "normalize_version": 1, "opencc_config": "t2s",
    "opencc_version": "1.4.2", "fingerprint_k": 9, "fingerprint_window": 7, "jieba_version": "0.42.1",
    "words_version": 1,
}

LABELS = {
    "fold_version": "短语折叠规则版本", "unicode_version": "Unicode 数据版本",
    "normalize_version": "查重规范化规则版本", "opencc_config": "繁简转换配置",
    "opencc_version": "OpenCC 版本", "fingerprint_k": "指纹长度 k", "fingerprint_window": "指纹窗口",
    "jieba_version": "jieba 分词版本", "words_version": "分词规则版本",
}


def mismatch(index: Path, diff: dict[str, tuple]) -> IndexFormatMismatch:
    """The error for an index whose recorded parameters differ from this program's, in plain Chinese."""
    what = "；".join(f"{LABELS.get(k, k)}：索引中为 {old}，程序为 {new}"
                    for k, (old, new) in sorted(diff.items()))
    return IndexFormatMismatch(f"索引 {index} 的数据格式与当前程序不一致（{what}）。请先运行 "
                               f"indexer --index {index} upgrade 重建受影响的数据，再使用这个索引。", diff)


def too_new(index: Path, version: int) -> IndexTooNew:
    return IndexTooNew(f"索引 {index} 由更新版本的程序写成（格式 {version}，本程序只认识到格式 "
                       f"{FORMAT_VERSION}）；请升级本程序后再打开。")


def current_params() -> dict:
    """The parameters this program computes stored data with (one home for each: see the modules)."""
    from .detect import DEFAULTS
    from .detect.normalize import NORMALIZE_VERSION, OPENCC_CONFIG
    from .text import FOLD_VERSION
    from .wordcut import WORDS_VERSION

    return {
        "fold_version": FOLD_VERSION, "unicode_version": unicodedata.unidata_version,
        "normalize_version": NORMALIZE_VERSION, "opencc_config": OPENCC_CONFIG,
        "opencc_version": _version("opencc"), "fingerprint_k": DEFAULTS.k,
        "fingerprint_window": DEFAULTS.window, "jieba_version": _version("jieba"),
        "words_version": WORDS_VERSION,
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def segment_params(params: dict | None = None) -> dict:
    """The part of ``params`` (default: the current ones) that phrase segments depend on."""
    params = current_params() if params is None else params
    return {k: params.get(k) for k in SEGMENT_KEYS}


def words_params(params: dict | None = None) -> dict:
    """The part of ``params`` (default: the current ones) that the word index depends on."""
    params = current_params() if params is None else params
    return {k: params.get(k) for k in WORDS_KEYS}


def read_record(index: Path) -> dict | None:
    """The index's format record, or None if it has none (new, or written before format 2)."""
    try:
        return json.loads((Path(index) / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def write_record(index: Path, params: dict) -> None:
    from .segments import write_json_atomic

    write_json_atomic(Path(index) / RECORD, {"format": FORMAT_VERSION, "params": params})


def has_data(index: Path) -> bool:
    """Whether the folder already holds an index (a store, segments or a word index)."""
    index = Path(index)
    return any((index / name).exists() for name in ("documents.sqlite", "segments", "words"))


def recorded_params(index: Path) -> dict:
    """The parameters the index's data was written with (format 1 indexes: ``LEGACY_PARAMS``)."""
    record = read_record(index)
    if record is None:
        return dict(LEGACY_PARAMS)
    if record.get("format", 1) > FORMAT_VERSION:
        raise too_new(index, record["format"])
    return {**LEGACY_PARAMS, **record.get("params", {})}


def differences(old: dict, new: dict) -> dict[str, tuple]:
    return {k: (old.get(k), new[k]) for k in new if old.get(k) != new[k]}


def check(index: Path) -> None:
    """Make sure the index at ``index`` may be used by this program, before anything opens it: a new
    folder gets today's record; an old index whose parameters equal today's gets its record written;
    any other raises ``IndexFormatMismatch`` (or ``IndexTooNew``). Never a silent mismatch."""
    index = Path(index)
    record = read_record(index)
    current = current_params()
    if record is None and not has_data(index):
        write_record(index, current)
        return
    old = recorded_params(index)
    diff = differences(old, current)
    if diff:
        raise mismatch(index, diff)
    if record is None or record.get("format") != FORMAT_VERSION or record.get("params") != current:
        write_record(index, current)  # format 1 with today's parameters: nothing to rebuild
