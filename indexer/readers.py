"""Reading one file into text for ``indexer add``: plain text in any common Chinese encoding, .docx, .pdf,
and legacy .doc/.wps through antiword or LibreOffice. Every refusal is an ``UnreadableFile`` whose message
says, in one plain Chinese sentence, why the file was skipped.

Every reader is bounded by ``limits.Limits``: file size, a .docx's unpacked size and XML (checked while
streaming, before python-docx loads anything), PDF pages, and the characters extracted. Memory and time
are bounded by running the readers in a child process: see ``sandbox``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .encoding import BINARY, decode
from .errors import UnreadableFile
from .limits import LIMITS, Limits, count_text, over_limit

if TYPE_CHECKING:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

MAX_BYTES = LIMITS.max_file_bytes
SUFFIXES = {".txt", ".md", ".docx", ".pdf", ".doc", ".wps"}
CONVERT_TIMEOUT = LIMITS.convert_seconds  # seconds for one antiword / LibreOffice run

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # control characters that no text file contains
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97-2003 / WPS container
_NO_CONVERTER = "请先转换为 .docx 再导入：本机没有安装 antiword 或 LibreOffice"
_CORRUPT_DOCX = "docx 文件已损坏"
_ERRNO = {errno.ENOENT: "文件不存在", errno.EACCES: "没有读取权限", errno.EPERM: "没有读取权限",
          errno.EISDIR: "不是普通文件", errno.ELOOP: "符号链接循环"}


def read_text(path: Path, *, max_bytes: int | None = None, limits: Limits = LIMITS) -> str:
    """The text of ``path``; raises ``UnreadableFile`` saying why not. Runs in this process: untrusted
    files go through ``sandbox.read_text``, which calls this in a child with memory and time limits."""
    path = Path(path)
    max_bytes = limits.max_file_bytes if max_bytes is None else max_bytes
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        kinds = "、".join(sorted(SUFFIXES))
        raise UnreadableFile(f"不支持的文件类型“{path.suffix or '无后缀'}”；可导入：{kinds}")
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UnreadableFile("不是普通文件")
        with path.open("rb") as fh:
            magic = fh.read(8)
    except OSError as exc:
        raise UnreadableFile(os_reason(exc)) from exc
    if size == 0:
        raise UnreadableFile("空文件")
    if size > max_bytes:
        raise UnreadableFile(over_limit("文件", size, max_bytes))
    # Offices rename files freely; trust the bytes over the suffix for the two Word container formats.
    if reader in (_read_docx, _read_doc):
        reader = _read_doc if magic == _OLE_MAGIC else _read_docx if magic.startswith(_ZIP_MAGIC) else reader
    text = reader(path, limits)
    if not text.strip():
        raise UnreadableFile("没有文字内容")
    return check_chars(text, limits)


def os_reason(exc: OSError) -> str:
    """An operating-system error in Chinese: '无法读取文件：没有读取权限'."""
    why = _ERRNO.get(exc.errno or 0, f"系统错误 {exc.errno}" if exc.errno else "系统错误")
    return f"无法读取文件：{why}"


def check_chars(text: str, limits: Limits) -> str:
    """``text`` if it is within the character limit."""
    if len(text) > limits.max_chars:
        raise UnreadableFile(f"文字过多：{count_text(len(text))} 个字符，"
                             f"上限 {count_text(limits.max_chars)} 个")
    return text


# ---------------------------------------------------------------- plain text


def _read_plain(path: Path, limits: Limits) -> str:
    """A .txt/.md file, its encoding detected from the bytes; binary data is refused."""
    size = path.stat().st_size
    if size > 4 * limits.max_chars:  # no encoding needs more than 4 bytes a character
        raise UnreadableFile(f"文字过多：超过 {count_text(limits.max_chars)} 个字符的上限")
    text = decode(path.read_bytes())
    if len(_CONTROL.findall(text)) > len(text) / 10:
        raise UnreadableFile(BINARY)
    return text


# ---------------------------------------------------------------- .docx


def check_docx(path: Path, limits: Limits) -> None:
    """Refuse a .docx whose package unpacks too large or holds too much XML, before anything loads it.

    Declared sizes are checked first (a zip bomb is refused without inflating a byte); then every XML
    part is streamed through a counting parser, so actual sizes and element counts are checked too, in
    constant memory. ``zipfile`` never inflates past a part's declared size (and then fails its CRC)."""
    from lxml import etree

    try:
        with zipfile.ZipFile(path) as zf:
            parts = zf.infolist()
            if len(parts) > limits.max_zip_entries:
                raise UnreadableFile(f"docx 文件内部件过多：{count_text(len(parts))} 个，"
                                     f"上限 {count_text(limits.max_zip_entries)} 个")
            declared = sum(p.file_size for p in parts)
            if declared > limits.max_unzipped_bytes:
                raise UnreadableFile(over_limit("docx 解压后", declared, limits.max_unzipped_bytes))
            xml_parts = [p for p in parts if p.filename.lower().endswith((".xml", ".rels"))]
            for part in xml_parts:
                if part.file_size > limits.max_xml_bytes:
                    raise UnreadableFile(over_limit(f"docx 中的 {_part_name(part)} ", part.file_size,
                                                    limits.max_xml_bytes))
            elements = 0
            for part in xml_parts:
                with zf.open(part) as raw:
                    stream = _Counting(raw, limits.max_xml_bytes, part)
                    parser = etree.iterparse(stream, events=("end",), resolve_entities=False,
                                             no_network=True, load_dtd=False, huge_tree=False)
                    for _event, element in parser:
                        elements += 1
                        if elements > limits.max_xml_elements:
                            raise UnreadableFile(f"docx 内容过于复杂：XML 元素超过 "
                                                 f"{count_text(limits.max_xml_elements)} 个的上限")
                        element.clear(keep_tail=False)
    except UnreadableFile:
        raise
    except Exception as exc:  # BadZipFile (also a failed CRC), lxml syntax errors, EOFError, ...
        raise UnreadableFile(_CORRUPT_DOCX) from exc


def _part_name(part: zipfile.ZipInfo) -> str:
    return part.filename.rsplit("/", 1)[-1][:60]


class _Counting:
    """A file-like view of one zip part that refuses to yield more than ``limit`` bytes."""

    def __init__(self, raw: IO[bytes], limit: int, part: zipfile.ZipInfo):
        self.raw, self.limit, self.part, self.seen = raw, limit, part, 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n if n and n > 0 else 1 << 16)
        self.seen += len(data)
        if self.seen > self.limit:
            raise UnreadableFile(over_limit(f"docx 中的 {_part_name(self.part)} ", self.seen, self.limit))
        return data


def _read_docx(path: Path, limits: Limits) -> str:
    """Paragraphs and tables of a .docx in document order, one line per paragraph or table row."""
    check_docx(path, limits)
    import docx  # python-docx; imported here so plain-text users don't pay for lxml

    try:
        document = docx.Document(str(path))
        lines = [line for block in document.iter_inner_content() for line in _block_lines(block)]
    except Exception as exc:  # zipfile.BadZipFile, KeyError, ValueError, lxml errors, ...
        raise UnreadableFile(_CORRUPT_DOCX) from exc
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


def _read_pdf(path: Path, limits: Limits) -> str:
    """The text layer of every page of a PDF; a scanned PDF without one is refused.

    The page count is checked before any page is read, and extraction stops once the text passes the
    character limit."""
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise UnreadableFile("PDF 有打开密码")
        declared = _declared_pages(reader)
        if declared > limits.max_pdf_pages:
            raise UnreadableFile(_too_many_pages(declared, limits))
        count = len(reader.pages)
        if count > limits.max_pdf_pages:
            raise UnreadableFile(_too_many_pages(count, limits))
        pages, chars = [], 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            chars += len(pages[-1]) + 1
            if chars > limits.max_chars:
                raise UnreadableFile(f"文字过多：超过 {count_text(limits.max_chars)} 个字符的上限")
    except UnreadableFile:
        raise
    except DependencyError as exc:  # AES needs the `cryptography` package
        raise UnreadableFile("PDF 已加密，需要安装 cryptography 才能解密") from exc
    except FileNotDecryptedError as exc:
        raise UnreadableFile("PDF 有打开密码") from exc
    except Exception as exc:  # pypdf raises many kinds: PdfReadError, ValueError, KeyError, ...
        raise UnreadableFile("PDF 文件已损坏") from exc
    text = "\n".join(pages)
    if len("".join(text.split())) < 3 * len(pages):  # at most a page number per page
        raise UnreadableFile("扫描件 PDF，没有文字层")
    return text


def _declared_pages(reader) -> int:
    """The page count the PDF's page tree claims (0 if it claims nothing readable)."""
    try:
        return int(reader.trailer["/Root"]["/Pages"]["/Count"])
    except Exception:
        return 0


def _too_many_pages(n: int, limits: Limits) -> str:
    return f"PDF 页数过多：{count_text(n)} 页，上限 {count_text(limits.max_pdf_pages)} 页"


# ---------------------------------------------------------------- .doc / .wps


def _read_doc(path: Path, limits: Limits) -> str:
    """A Word 97-2003 or WPS file, converted by antiword or else LibreOffice, whichever is installed."""
    office = shutil.which("libreoffice") or shutil.which("soffice")
    converters = [(exe, convert) for exe, convert in ((shutil.which("antiword"), _antiword),
                                                      (office, _libreoffice)) if exe]
    failure = UnreadableFile(_NO_CONVERTER)
    for exe, convert in converters:
        try:
            return convert(exe, path, limits)
        except UnreadableFile as exc:
            failure = exc  # e.g. antiword cannot read .wps; LibreOffice may
    raise failure


def _antiword(exe: str, path: Path, limits: Limits) -> str:
    """Text from antiword, in UTF-8 and without line wrapping."""
    result = _run([exe, "-m", "UTF-8.txt", "-w", "0", str(path.resolve())], limits)
    if result.returncode != 0:
        raise UnreadableFile("antiword 无法读取此文件")
    return decode(result.stdout)


def _libreoffice(exe: str, path: Path, limits: Limits) -> str:
    """Text from a headless LibreOffice with a private profile, so concurrent runs don't clash."""
    with tempfile.TemporaryDirectory(prefix="duizhao-lo-") as tmp:
        outdir = Path(tmp, "out")
        cmd = [exe, f"-env:UserInstallation={Path(tmp, 'profile').as_uri()}", "--headless", "--norestore",
               "--convert-to", "txt:Text (encoded):UTF8", "--outdir", str(outdir), str(path.resolve())]
        _run(cmd, limits)
        outputs = list(outdir.glob("*.txt"))  # LibreOffice exits 0 even when it could not load the file
        if not outputs:
            raise UnreadableFile("LibreOffice 无法转换此文件")
        if outputs[0].stat().st_size > 4 * limits.max_chars:
            raise UnreadableFile(f"文字过多：超过 {count_text(limits.max_chars)} 个字符的上限")
        return decode(outputs[0].read_bytes())


def _run(cmd: list[str], limits: Limits = LIMITS) -> subprocess.CompletedProcess[bytes]:
    """Run a converter in its own process group (a timeout kills its children too), with its own
    memory limit (the reader child's is sized for Python, not for LibreOffice)."""
    memory = limits.convert_memory_bytes

    def confine() -> None:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (memory, resource.getrlimit(resource.RLIMIT_AS)[1]))

    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=confine)
    try:
        out, err = proc.communicate(timeout=limits.convert_seconds)
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        raise UnreadableFile(f"转换超时：超过 {limits.convert_seconds} 秒") from exc
    except BaseException:  # KeyboardInterrupt: don't leave a LibreOffice behind
        _kill_group(proc)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a converter and everything it started, and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


_READERS: dict[str, Callable[[Path, Limits], str]] = {
    ".txt": _read_plain,
    ".md": _read_plain,
    ".docx": _read_docx,
    ".pdf": _read_pdf,
    ".doc": _read_doc,
    ".wps": _read_doc,
}
PLAIN = frozenset(s for s, r in _READERS.items() if r is _read_plain)  # read without docx or pypdf
