"""indexer.readers: one file into text, or an UnreadableFile saying why not."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import docx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfWriter

from indexer import readers
from indexer.errors import UnreadableFile
from indexer.limits import LIMITS
from indexer.readers import SUFFIXES, read_text

FIXTURES = Path(__file__).parent / "fixtures" / "readers"
SENTENCE = "政治站位不够高，理论学习不深不实。"
MIXED = "2024年度民主生活会\r\n一、存在的问题 (Problems)\r\n" + SENTENCE + "\r\n"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- plain text


@pytest.mark.parametrize(
    "encoding, prefix",
    [
        ("utf-8", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("gb18030", b""),
        ("gbk", b""),
        ("gb2312", b""),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("utf-16-le", b""),
        ("utf-16-be", b""),
    ],
)
@pytest.mark.parametrize("text", [SENTENCE, MIXED, "一些问题。"], ids=["cjk", "mixed-crlf", "u+4e00"])
def test_plain_text_encodings_detected_from_bytes(tmp_path, encoding, prefix, text):
    path = write(tmp_path, "材料.txt", prefix + text.encode(encoding))
    assert read_text(path) == text  # BOM dropped, line endings untouched


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(st.sampled_from(SENTENCE + "一、“”…—\r\n\t abc123"), min_size=1).filter(str.strip),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]),
)
def test_any_text_round_trips(tmp_path_factory, text, encoding):
    path = tmp_path_factory.mktemp("rt") / "a.txt"
    path.write_bytes(text.encode(encoding))
    assert read_text(path) == text


def test_ascii_only_utf16_without_bom(tmp_path):
    path = write(tmp_path, "a.md", "# Notes\nplain ASCII\n".encode("utf-16-le"))
    assert read_text(path) == "# Notes\nplain ASCII\n"


def test_gb18030_four_byte_characters(tmp_path):
    text = "㐀䶵𠀀" + SENTENCE  # CJK extension A and B: four-byte sequences in GB18030
    assert read_text(write(tmp_path, "a.txt", text.encode("gb18030"))) == text


def test_suffix_is_case_insensitive(tmp_path):
    assert read_text(write(tmp_path, "A.TXT", SENTENCE.encode())) == SENTENCE


def test_binary_with_nul_bytes(tmp_path):
    path = write(tmp_path, "photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(UnreadableFile, match="二进制"):
        read_text(path)


def test_binary_of_control_characters(tmp_path):
    path = write(tmp_path, "junk.txt", bytes(range(1, 32)) * 20)  # valid UTF-8, but not text
    with pytest.raises(UnreadableFile, match="二进制"):
        read_text(path)


def test_empty_file(tmp_path):
    with pytest.raises(UnreadableFile, match="空文件"):
        read_text(write(tmp_path, "a.txt", b""))


def test_whitespace_only(tmp_path):
    with pytest.raises(UnreadableFile, match="没有文字"):
        read_text(write(tmp_path, "a.txt", " \r\n\t\u3000\n".encode()))


def test_oversize_is_refused_before_reading(tmp_path, monkeypatch):
    path = write(tmp_path, "a.txt", SENTENCE.encode() * 100)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read an oversize file"))
    with pytest.raises(UnreadableFile, match="文件过大"):
        read_text(path, max_bytes=1000)


def test_unsupported_suffix(tmp_path):
    with pytest.raises(UnreadableFile, match="不支持的文件类型.*xlsx"):
        read_text(write(tmp_path, "表.xlsx", b"PK\x03\x04"))


def test_missing_file(tmp_path):
    with pytest.raises(UnreadableFile, match="无法读取"):
        read_text(tmp_path / "gone.txt")


def test_suffixes():
    assert {".txt", ".md", ".docx", ".pdf", ".doc", ".wps"} == SUFFIXES


# ---------------------------------------------------------------- .docx


def test_docx_paragraphs_and_tables_in_document_order(tmp_path):
    document = docx.Document()
    document.add_paragraph("一、基本情况")
    table = document.add_table(rows=3, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "问题清单"  # horizontal merge
    table.cell(1, 0).merge(table.cell(2, 0)).text = "政治建设"  # vertical merge
    table.cell(1, 1).text = SENTENCE
    table.cell(1, 2).text = "立行立改"
    table.cell(2, 1).text = "担当作为不够"
    table.cell(2, 2).text = "长期坚持"
    document.add_paragraph("二、整改措施")
    path = tmp_path / "材料.docx"
    document.save(str(path))

    assert read_text(path).split("\n") == [
        "一、基本情况",
        "问题清单",
        f"政治建设\t{SENTENCE}\t立行立改",
        "担当作为不够\t长期坚持",
        "二、整改措施",
    ]


def test_docx_nested_table_and_multi_paragraph_cell(tmp_path):
    document = docx.Document()
    cell = document.add_table(rows=1, cols=2).cell(0, 0)
    cell.text = "第一段"
    cell.add_paragraph("第二段")
    cell.add_table(rows=1, cols=1).cell(0, 0).text = "内表"
    path = tmp_path / "a.docx"
    document.save(str(path))
    assert read_text(path) == "第一段 第二段 内表"


def test_corrupt_docx(tmp_path):
    with pytest.raises(UnreadableFile, match="docx 文件已损坏"):
        read_text(write(tmp_path, "a.docx", b"PK\x03\x04 truncated zip"))


def test_docx_that_is_a_zip_but_not_word(tmp_path):
    import zipfile

    path = tmp_path / "a.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", SENTENCE)
    with pytest.raises(UnreadableFile, match="docx 文件已损坏"):
        read_text(path)


# ---------------------------------------------------------------- .pdf


def test_pdf_text_layer():
    text = read_text(FIXTURES / "chinese_text.pdf")
    assert SENTENCE in text
    assert "2024年度民主生活会对照检查材料" in text


def test_pdf_pages_joined_by_newline(tmp_path):
    writer = PdfWriter()
    writer.append(str(FIXTURES / "chinese_text.pdf"))
    writer.append(str(FIXTURES / "chinese_text.pdf"))
    path = tmp_path / "two.pdf"
    writer.write(str(path))
    assert read_text(path).count(SENTENCE) == 2


def test_pdf_without_text_layer(tmp_path):
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_blank_page(width=595, height=842)
    path = tmp_path / "scan.pdf"
    writer.write(str(path))
    with pytest.raises(UnreadableFile, match="扫描件 PDF"):
        read_text(path)


def test_pdf_with_password(tmp_path):
    writer = PdfWriter(clone_from=str(FIXTURES / "chinese_text.pdf"))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    writer.write(str(path))
    with pytest.raises(UnreadableFile, match="密码"):
        read_text(path)


def test_pdf_encrypted_with_empty_user_password_is_read(tmp_path):
    writer = PdfWriter(clone_from=str(FIXTURES / "chinese_text.pdf"))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")  # "no copying" PDFs
    path = tmp_path / "restricted.pdf"
    writer.write(str(path))
    assert SENTENCE in read_text(path)


@pytest.mark.parametrize("data", [b"%PDF-1.4\n garbage", b"not a pdf at all", b"%PDF-1.4\n1 0 obj\n<<"])
def test_corrupt_pdf(tmp_path, data):
    with pytest.raises(UnreadableFile, match="PDF 文件已损坏"):
        read_text(write(tmp_path, "a.pdf", data))


def test_keyboard_interrupt_is_not_swallowed(monkeypatch):
    import pypdf

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pypdf, "PdfReader", interrupted)
    with pytest.raises(KeyboardInterrupt):
        read_text(FIXTURES / "chinese_text.pdf")


# ---------------------------------------------------------------- .doc / .wps

HAS_ANTIWORD = shutil.which("antiword") is not None
HAS_OFFICE = (shutil.which("libreoffice") or shutil.which("soffice")) is not None


@pytest.mark.parametrize("suffix", [".doc", ".wps"])
def test_doc_without_converter(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = write(tmp_path, "a" + suffix, (FIXTURES / "sample.doc").read_bytes())
    with pytest.raises(UnreadableFile, match=r"请先转换为 \.docx"):
        read_text(path)


def test_docx_named_doc_is_read_as_docx(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    document = docx.Document()
    document.add_paragraph(SENTENCE)
    path = tmp_path / "renamed.doc"
    document.save(str(path))
    assert read_text(path) == SENTENCE


def test_doc_named_docx_goes_to_converter(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = write(tmp_path, "renamed.docx", (FIXTURES / "sample.doc").read_bytes())
    with pytest.raises(UnreadableFile, match=r"请先转换为 \.docx"):
        read_text(path)


@pytest.mark.skipif(shutil.which("sleep") is None, reason="no sleep command")
def test_converter_timeout(monkeypatch):
    limits = dataclasses.replace(LIMITS, convert_seconds=0.2)
    with pytest.raises(UnreadableFile, match="转换超时"):
        readers._run(["sh", "-c", "sleep 30 & sleep 30"], limits)  # the whole process group is killed


@pytest.mark.skipif(not HAS_ANTIWORD, reason="antiword is not installed")
def test_doc_through_antiword(monkeypatch):
    monkeypatch.setattr(readers, "_libreoffice", lambda exe, path, limits: pytest.fail("LibreOffice used"))
    text = read_text(FIXTURES / "sample.doc")
    assert SENTENCE in text and "第12条" in text


@pytest.mark.skipif(not HAS_OFFICE, reason="LibreOffice is not installed")
def test_doc_through_libreoffice(tmp_path):
    office = shutil.which("libreoffice") or shutil.which("soffice")
    text = readers._libreoffice(office, FIXTURES / "sample.doc", LIMITS)
    assert text.split("\n")[:2] == ["对照检查材料", SENTENCE]


@pytest.mark.skipif(not HAS_OFFICE, reason="LibreOffice is not installed")
def test_failed_conversion_says_so(tmp_path):
    path = write(tmp_path, "a.wps", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(UnreadableFile, match="无法"):
        read_text(path)
