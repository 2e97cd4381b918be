"""Command-line help and errors in Chinese: argparse's own words (usage, option groups, ``-h``,
its error messages) translated, option names unchanged.

argparse looks its words up through the module-level ``_`` (gettext) when it builds a parser,
formats help or reports an error; ``ChineseParser`` swaps in this table for exactly those calls,
so other parsers in the same process (gunicorn's) keep their own.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

WORDS = {
    "usage: ": "用法：",
    "positional arguments": "位置参数",
    "options": "选项",
    "optional arguments": "选项",
    "show this help message and exit": "显示本帮助并退出",
    "show program's version number and exit": "显示版本号并退出",
    "subcommands": "子命令",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "the following arguments are required: %s": "缺少必需的参数：%s",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "one of the arguments %s is required": "须给出其中一个参数：%s",
    "not allowed with argument %s": "不能与参数 %s 同时使用",
    "ignored explicit argument %r": "多余的参数值 %r",
    "expected one argument": "需要一个值",
    "expected at most one argument": "最多一个值",
    "expected at least one argument": "至少需要一个值",
    "ambiguous option: %(option)s could match %(matches)s": "选项 %(option)s 有歧义，可能是：%(matches)s",
    "unexpected option string: %s": "意外的选项：%s",
    "invalid %(type)s value: %(value)r": "无效的值 %(value)r（应为 %(type)s）",
    "invalid choice: %(value)r (choose from %(choices)s)": "无效的选择 %(value)r（可选：%(choices)s）",
    "unknown parser %(parser_name)r (choices: %(choices)s)":
        "没有子命令 %(parser_name)r（可用：%(choices)s）",
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误：%(message)s\n",
}


def chinese(message: str) -> str:
    return WORDS.get(message, message)


@contextmanager
def _words() -> Iterator[None]:
    saved = argparse._
    argparse._ = chinese
    try:
        yield
    finally:
        argparse._ = saved


def _in_chinese(method: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self, *args, **kwargs):
        with _words():
            return method(self, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


def _wide(text: str) -> int:
    """How many more columns ``text`` takes on a terminal than it has characters (CJK is two wide)."""
    return sum(unicodedata.east_asian_width(ch) in "WF" for ch in text)


class ChineseFormatter(argparse.HelpFormatter):
    """argparse pads option names by character count; a Chinese metavar (``--unit 单位``) is wider
    than that on a terminal: take the extra columns out of the padding so the help text aligns."""

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        header = self._format_action_invocation(action)
        extra = _wide(header)
        first, sep, rest = text.partition("\n")
        start = first.find(header)
        if extra and start >= 0:
            after = start + len(header)
            gap = len(first) - len(first[after:].lstrip(" ")) - after
            cut = min(extra, gap - 2)  # at least two spaces before the help
            if cut > 0:
                first = first[:after] + first[after + cut:]
        return first + sep + rest


_HEADING = re.compile(r"^(\S[^\n]*):$", re.MULTILINE)


class ChineseParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose help, usage and errors are in Chinese (its subcommands too)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", ChineseFormatter)
        with _words():
            super().__init__(*args, **kwargs)

    parse_args = _in_chinese(argparse.ArgumentParser.parse_args)
    parse_known_args = _in_chinese(argparse.ArgumentParser.parse_known_args)
    format_usage = _in_chinese(argparse.ArgumentParser.format_usage)
    error = _in_chinese(argparse.ArgumentParser.error)
    add_subparsers = _in_chinese(argparse.ArgumentParser.add_subparsers)

    def format_help(self) -> str:
        with _words():
            text = super().format_help()
        return _HEADING.sub(r"\1：", text)  # section headings end with a Chinese colon
