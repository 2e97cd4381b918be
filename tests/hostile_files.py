"""Hostile files, built on the fly and small on disk: zip bombs, element bombs, huge PDFs, odd encodings.

Used by ``tests/test_hostile.py`` and by ``bench/hostile_bench.py`` (which sends them to a real gunicorn).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
PARAGRAPH = "<w:p><w:r><w:t>政治站位不够高，理论学习不深不实。</w:t></w:r></w:p>".encode()
SENTENCE = "政治站位不够高，理论学习不深不实。"


def small_docx(text: str = SENTENCE) -> bytes:
    """A real one-paragraph .docx made by python-docx."""
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _with_document(body_writer, *, declared: int | None = None) -> bytes:
    """A copy of ``small_docx`` whose word/document.xml is written by ``body_writer(fh)``; with
    ``declared``, the zip headers then claim that size for it (a bomb that lies about its size)."""
    src = zipfile.ZipFile(io.BytesIO(small_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                dst.writestr(info, src.read(info))
                continue
            with dst.open("word/document.xml", "w", force_zip64=True) as fh:
                fh.write(f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'.encode())
                body_writer(fh)
                fh.write(b"</w:body></w:document>")
    data = out.getvalue()
    if declared is not None:
        data = _lie_about_size(data, "word/document.xml", declared)
    return data


def docx_bomb(expanded: int = 512 * 1024 * 1024) -> bytes:
    """A .docx of about ``expanded / 330`` KB whose document.xml inflates to ``expanded`` bytes."""
    chunk = PARAGRAPH * 10_000

    def write(fh):
        for _ in range(max(1, expanded // len(chunk))):
            fh.write(chunk)

    return _with_document(write)


def lying_docx_bomb(expanded: int = 64 * 1024 * 1024, declared: int = 1024 * 1024) -> bytes:
    """A zip bomb whose headers claim document.xml is only ``declared`` bytes."""
    chunk = PARAGRAPH * 10_000

    def write(fh):
        for _ in range(max(1, expanded // len(chunk))):
            fh.write(chunk)

    return _with_document(write, declared=declared)


def element_bomb(elements: int = 2_000_000) -> bytes:
    """A .docx with a modest document.xml (about 8 bytes an element) holding ``elements`` elements."""
    chunk = b"<w:p/>" * 100_000

    def write(fh):
        for _ in range(max(1, elements // 100_000)):
            fh.write(chunk)

    return _with_document(write)


def _lie_about_size(data: bytes, name: str, size: int) -> bytes:
    """Rewrite the uncompressed size of ``name`` in the zip's central directory (what readers trust)
    and in its local header's zip64 field."""
    buf = bytearray(data)
    encoded = name.encode()
    off = zipfile.ZipFile(io.BytesIO(data)).getinfo(name).header_offset
    name_len, extra_len = (int.from_bytes(buf[off + i:off + i + 2], "little") for i in (26, 28))
    _patch_zip64(buf, off + 30 + name_len, extra_len, size)
    pos = 0
    while (pos := bytes(buf).find(b"PK\x01\x02", pos)) >= 0:
        name_len, extra_len = (int.from_bytes(buf[pos + i:pos + i + 2], "little") for i in (28, 30))
        if bytes(buf[pos + 46:pos + 46 + name_len]) == encoded:
            if int.from_bytes(buf[pos + 24:pos + 28], "little") == 0xFFFFFFFF:
                _patch_zip64(buf, pos + 46 + name_len, extra_len, size)
            else:
                buf[pos + 24:pos + 28] = size.to_bytes(4, "little")
        pos += 4
    return bytes(buf)


def _patch_zip64(buf: bytearray, start: int, length: int, size: int) -> None:
    """Set the uncompressed size in a zip64 extra field (header id 1), if there is one."""
    i = start
    while i + 4 <= start + length:
        hid = int.from_bytes(buf[i:i + 2], "little")
        hlen = int.from_bytes(buf[i + 2:i + 4], "little")
        if hid == 1 and hlen >= 8:
            buf[i + 4:i + 12] = size.to_bytes(8, "little")
            return
        i += 4 + hlen


def many_page_pdf(pages: int) -> bytes:
    """A PDF of ``pages`` blank pages (a few dozen bytes each)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=72, height=72)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def huge_field_csv(field_bytes: int = 200 * 1024, name: str = "a.txt") -> str:
    """A metadata.csv whose title cell is ``field_bytes`` characters long (over csv's 128 KiB limit)."""
    return f'file,title\n{name},"{"长" * field_bytes}"\n'


BIG5_TEXT = "我們必須堅持以人民為中心的發展思想，認真查擺問題，深入整改落實。對照檢查材料。"
LATIN1_TEXT = "Rapport d'activité: élève naïve, déjà vu, crème brûlée, façade, maître à penser.\n" * 3


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path
