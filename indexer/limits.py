"""Hard limits on reading one untrusted file: sizes, XML, pages, characters, memory and time.

Every knob has its default here and only here; ``DUIZHAO_READ_*`` environment variables override
them (``Limits.from_env``), so the portal, its upload jobs and ``indexer add`` apply the same ones.
A file over any limit is skipped with a Chinese reason saying which limit and by how much.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What reading one file may cost. Sizes in bytes, times in seconds."""

    max_file_bytes: int = 50 * MB  # the file on disk
    max_unzipped_bytes: int = 200 * MB  # a .docx: all its parts together, declared and actually read
    max_zip_entries: int = 10_000  # a .docx: parts in the package
    max_xml_bytes: int = 32 * MB  # a .docx: one XML part (document.xml, styles.xml, …)
    max_xml_elements: int = 500_000  # a .docx: XML elements in all parts together
    max_pdf_pages: int = 2_000
    max_chars: int = 2_000_000  # extracted text: about 1,000 pages of Chinese
    memory_bytes: int = 768 * MB  # address space the reader child may add to what it inherited
    cpu_seconds: int = 60  # CPU time of the reader child
    wall_seconds: int = 90  # wall-clock time of the reader child (converters get their own, below)
    convert_seconds: int = 120  # one antiword / LibreOffice run for .doc/.wps
    convert_memory_bytes: int = 2048 * MB  # address space of a converter process

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        """Defaults overridden by ``DUIZHAO_READ_<FIELD>`` (e.g. ``DUIZHAO_READ_MAX_PDF_PAGES=500``);
        byte sizes may be given in MB with ``DUIZHAO_READ_<FIELD>_MB`` (``..._MAX_XML_BYTES_MB=16``)."""
        env = os.environ if environ is None else environ
        changes = {}
        for f in fields(cls):
            key = "DUIZHAO_READ_" + f.name.upper()
            if env.get(key):
                changes[f.name] = int(float(env[key]))
            elif f.name.endswith("_bytes") and env.get(key + "_MB"):
                changes[f.name] = int(float(env[key + "_MB"]) * MB)
        return replace(cls(), **changes)


LIMITS = Limits.from_env()


def size_text(n: int) -> str:
    """A byte count for people: '3.2 MB', '12 KB', '512 字节'."""
    if n >= MB:
        return f"{n / MB:.3g} MB" if n >= 100 * MB or n % MB == 0 else f"{n / MB:.4g} MB"
    return f"{n / 1024:.3g} KB" if n >= 1024 else f"{n} 字节"


def over_limit(what: str, size: int, limit: int) -> str:
    """'文件过大：50 MB 又 1 字节，上限 50 MB' — never two equal-looking numbers."""
    shown, cap = size_text(size), size_text(limit)
    if shown == cap:  # just over a round limit: say by how much
        return f"{what}过大：超过上限 {cap}（多出 {size - limit:,} 字节）"
    return f"{what}过大：{shown}，上限 {cap}"


def count_text(n: int) -> str:
    """A count with thousands separators: '2,000,000'."""
    return f"{n:,}"
