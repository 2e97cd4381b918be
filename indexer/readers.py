"""Reading one file into text for ``indexer add``: plain text in any common Chinese encoding, .docx, .pdf,
and legacy .doc/.wps through antiword or LibreOffice. Every refusal is an ``UnreadableFile`` whose message
says, in one line, why the file was skipped."""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UnreadableFile

if TYPE_CHECKING:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

MAX_BYTES = 50 * 1024 * 1024
SUFFIXES = {".txt", ".md", ".docx", ".pdf", ".doc", ".wps"}
CONVERT_TIMEOUT = 120  # seconds for one antiword / LibreOffice run

_BOMS = (  # UTF-32 first: its LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # control characters that no text file contains
# What Chinese text is made of: ASCII, Latin-1, general and CJK punctuation, ideographs, full-width forms.
_TEXTLIKE = re.compile(r"[\t\n\r\x20-\x7e\xa0-\xff\u2000-\u206f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97-2003 / WPS container
_NO_CONVERTER = "请先转换为 .docx 再导入 (convert it to .docx: neither antiword nor libreoffice is installed)"


def read_text(path: Path, *, max_bytes: int = MAX_BYTES) -> str:
    """The text of ``path``; raises ``UnreadableFile`` saying why not."""
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(f"不支持的文件类型 (unsupported file type {path.suffix or 'without suffix'})")
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UnreadableFile("不是普通文件 (not a regular file)")
        with path.open("rb") as fh:
            magic = fh.read(8)
    except OSError as exc:
        raise UnreadableFile(f"无法读取文件 ({exc.strerror or exc})") from exc
    if size == 0:
        raise UnreadableFile("空文件 (empty file)")
    if size > max_bytes:
        raise UnreadableFile(f"文件过大 (file too large: {_size(size)} > {_size(max_bytes)})")
    # Offices rename files freely; trust the bytes over the suffix for the two Word container formats.
    if reader in (_read_docx, _read_doc):
        reader = _read_doc if magic == _OLE_MAGIC else _read_docx if magic.startswith(_ZIP_MAGIC) else reader
    text = reader(path)
    if not text.strip():
        raise UnreadableFile("没有文字内容 (no text in the file)")
    return text


def _size(n: int) -> str:
    """A byte count for humans, e.g. '50 MB' or '3 KB'."""
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.3g} MB"
    return f"{n / 1024:.3g} KB" if n >= 1024 else f"{n} bytes"


# ---------------------------------------------------------------- plain text


def _read_plain(path: Path) -> str:
    """A .txt/.md file, its encoding detected from the bytes; binary data is refused."""
    text = _decode(path.read_bytes())
    if len(_CONTROL.findall(text)) > len(text) / 10:
        raise UnreadableFile("不是文本文件 (binary data)")
    return text


def _decode(data: bytes) -> str:
    """Bytes to str: BOM, strict UTF-8, UTF-16 without BOM, GB18030, then charset-normalizer."""
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
        raise UnreadableFile("不是文本文件 (binary data)")
    try:
        return data.decode("gb18030")  # GBK and GB2312 are subsets
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # slow to import, and rarely needed

    best = from_bytes(data).best()
    if best is None:
        raise UnreadableFile("无法识别的文本编码 (unknown text encoding)")
    return str(best)


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


# ---------------------------------------------------------------- .docx


def _read_docx(path: Path) -> str:
    """Paragraphs and tables of a .docx in document order, one line per paragraph or table row."""
    import docx  # python-docx; imported here so plain-text users don't pay for lxml

    try:
        document = docx.Document(str(path))
        lines = [line for block in document.iter_inner_content() for line in _block_lines(block)]
    except Exception as exc:  # zipfile.BadZipFile, KeyError, ValueError, lxml errors, ...
        raise UnreadableFile("docx 文件已损坏 (corrupt .docx)") from exc
    return "\n".join(lines)


def _table_lines(table: Table) -> list[str]:
    """One line per row, non-empty cells joined by tabs; a merged cell appears once, in its first row."""
    seen = set()  # of <w:tc> elements; holding them keeps lxml's proxies (and their identity) alive
    lines = []
    for row in table.rows:
        cells = []
        for cell in row.cells:  # python-docx repeats a merged cell for every grid column it spans
            if cell._tc in seen:
                continue
            seen.add(cell._tc)
            inner = [line for block in cell.iter_inner_content() for line in _block_lines(block)]
            text = " ".join(line.strip() for line in inner if line.strip())
            if text:
                cells.append(text)
        if cells:
            lines.append("\t".join(cells))
    return lines


def _block_lines(block: Paragraph | Table) -> list[str]:
    """The lines of a paragraph or of a (nested) table."""
    from docx.table import Table

    return _table_lines(block) if isinstance(block, Table) else [block.text]


# ---------------------------------------------------------------- .pdf


def _read_pdf(path: Path) -> str:
    """The text layer of every page of a PDF; a scanned PDF without one is refused."""
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise UnreadableFile("PDF 有打开密码 (password-protected PDF)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableFile:
        raise
    except DependencyError as exc:  # AES needs the `cryptography` package
        raise UnreadableFile("PDF 已加密，需安装 cryptography 才能解密 (encrypted PDF)") from exc
    except FileNotDecryptedError as exc:
        raise UnreadableFile("PDF 有打开密码 (password-protected PDF)") from exc
    except Exception as exc:  # pypdf raises many kinds: PdfReadError, ValueError, KeyError, ...
        raise UnreadableFile("PDF 文件已损坏 (corrupt PDF)") from exc
    text = "\n".join(pages)
    if len("".join(text.split())) < 3 * len(pages):  # at most a page number per page
        raise UnreadableFile("扫描件PDF，没有文字层 (scanned PDF without a text layer)")
    return text


# ---------------------------------------------------------------- .doc / .wps


def _read_doc(path: Path) -> str:
    """A Word 97-2003 or WPS file, converted by antiword or else LibreOffice, whichever is installed."""
    office = shutil.which("libreoffice") or shutil.which("soffice")
    converters = [(exe, convert) for exe, convert in ((shutil.which("antiword"), _antiword),
                                                      (office, _libreoffice)) if exe]
    failure = UnreadableFile(_NO_CONVERTER)
    for exe, convert in converters:
        try:
            return convert(exe, path)
        except UnreadableFile as exc:
            failure = exc  # e.g. antiword cannot read .wps; LibreOffice may
    raise failure


def _antiword(exe: str, path: Path) -> str:
    """Text from antiword, in UTF-8 and without line wrapping."""
    result = _run([exe, "-m", "UTF-8.txt", "-w", "0", str(path.resolve())])
    if result.returncode != 0:
        raise UnreadableFile("antiword 无法读取此文件 (antiword failed)")
    return _decode(result.stdout)


def _libreoffice(exe: str, path: Path) -> str:
    """Text from a headless LibreOffice with a private profile, so concurrent runs don't clash."""
    with tempfile.TemporaryDirectory(prefix="duizhao-lo-") as tmp:
        outdir = Path(tmp, "out")
        cmd = [exe, f"-env:UserInstallation={Path(tmp, 'profile').as_uri()}", "--headless", "--norestore",
               "--convert-to", "txt:Text (encoded):UTF8", "--outdir", str(outdir), str(path.resolve())]
        _run(cmd)
        outputs = list(outdir.glob("*.txt"))  # LibreOffice exits 0 even when it could not load the file
        if not outputs:
            raise UnreadableFile("LibreOffice 无法转换此文件 (conversion failed)")
        return _decode(outputs[0].read_bytes())


def _run(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run a converter in its own process group so a timeout kills its children too."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=CONVERT_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        raise UnreadableFile(f"转换超时 (conversion took over {CONVERT_TIMEOUT} s)") from exc
    except BaseException:  # KeyboardInterrupt: don't leave a LibreOffice behind
        _kill_group(proc)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a converter and everything it started, and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


_READERS: dict[str, Callable[[Path], str]] = {
    ".txt": _read_plain,
    ".md": _read_plain,
    ".docx": _read_docx,
    ".pdf": _read_pdf,
    ".doc": _read_doc,
    ".wps": _read_doc,
}
