"""A 查重 report as files an inspector can sign and file: PDF (rendered on the server with embedded
CJK fonts, offline), Word (.docx) and a zip of several reports; each file is named for its material.

The PDF is WeasyPrint over ``export_templates/report_print.html`` (fonts from fontconfig: Debian's
``fonts-noto-cjk``, installed by the project's set-up; WeasyPrint embeds the subset it uses, and no
URL is ever fetched). The Word file is built with python-docx. Both carry the same figures as the
report page: they read the same report dict (``Library.report``).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path

from .errors import DuizhaoError
from .store import file_name as source_file_name

TEMPLATES = Path(__file__).resolve().parent / "export_templates"
FONTS = ('"WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", '
         'sans-serif')  # TrueType first: it subsets several times faster than Noto's CFF
TIER_NAMES = {"copying": "抄袭", "minor": "少量雷同", "own": "与本人往年材料重复"}
KIND_NAMES = {"stock": "套话", "recurring": "多份材料共有"}


class ExportUnavailable(DuizhaoError):
    """The PDF renderer (WeasyPrint and its system libraries) is not installed."""


def file_name(report: dict, ext: str) -> str:
    """``查重报告-单位-标题.ext`` (the id only when the material has neither), safe on every system."""
    doc = report.get("document") or {}
    parts = [p for p in (doc.get("unit"), doc.get("title") or doc.get("source")) if p]
    stem = "-".join(["查重报告", *parts]) if parts else f"查重报告-{str(doc.get('id') or '')[:16]}"
    stem = unicodedata.normalize("NFC", stem)
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f\x7f]+', "_", stem).strip(" ._")[:80]
    return f"{stem}.{ext}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * float(value):.1f}%"


def text_pieces(text: str, report: dict) -> list[tuple[str, str]]:
    """The full text cut into (piece, class): ``copy`` (red), ``stock`` (grey) or plain."""
    cls = [""] * (len(text) + 1)
    for b in report.get("boilerplate", []):
        for i in range(max(0, b["span"][0]), min(len(text), b["span"][1])):
            cls[i] = "stock"
    for p in report.get("passages", []):
        for i in range(max(0, p["a"][0]), min(len(text), p["a"][1])):
            if cls[i] != "stock":
                cls[i] = "copy"
    out: list[tuple[str, str]] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or cls[i] != cls[start]:
            out.append((text[start:i], cls[start]))
            start = i
    return out


def side_pieces(passage: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The two versions of a passage cut into (piece, class): ``chg`` changed, ``own`` only here
    (本文独有), ``src`` only in the source (来源独有), plain where equal."""
    def cut(text: str, marks: Iterable[tuple[int, int, str]]) -> list[tuple[str, str]]:
        cls = [""] * len(text)
        for s, e, c in marks:
            for i in range(max(0, s), min(len(text), e)):
                cls[i] = c
        out, start = [], 0
        for i in range(1, len(text) + 1):
            if i == len(text) or cls[i] != cls[start]:
                out.append((text[start:i], cls[start]))
                start = i
        return out

    left, right = [], []
    for tag, a0, a1, b0, b1 in passage.get("edits") or []:
        if tag == "replace":
            left.append((a0, a1, "chg"))
            right.append((b0, b1, "chg"))
        elif tag == "delete":
            left.append((a0, a1, "own"))
        elif tag == "insert":
            right.append((b0, b1, "src"))
    return cut(passage.get("text_a", ""), left), cut(passage.get("text_b", ""), right)


def report_html(report: dict, text: str, *, operator: str | None = None) -> str:
    """The printable report as one self-contained HTML page (what the PDF renders)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters["pct"] = pct
    env.filters["file_name"] = source_file_name
    return env.get_template("report_print.html").render(
        r=report, doc=report.get("document") or {}, check=report.get("check") or {}, operator=operator,
        text_pieces=text_pieces(text, report), side_pieces=side_pieces, fonts=FONTS,
        tier_names=TIER_NAMES, kind_names=KIND_NAMES)


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"报告不取用外部资源：{url[:80]}")


def report_pdf(report: dict, text: str, *, operator: str | None = None) -> bytes:
    """The report as PDF, fonts embedded; nothing is fetched from anywhere."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: pango/cairo missing
        raise ExportUnavailable("服务器未安装 PDF 渲染组件，暂不能导出 PDF；可下载 Word 报告") from exc
    html = weasyprint.HTML(string=report_html(report, text, operator=operator), url_fetcher=_no_fetch)
    return html.write_pdf()


def report_docx(report: dict, text: str, *, operator: str | None = None) -> bytes:
    """The report as a Word file with the same sections as the PDF."""
    from .export_docx import build

    buf = io.BytesIO()
    build(report, text, operator=operator, tier_names=TIER_NAMES).save(buf)
    return buf.getvalue()


def reports_zip(items: Iterable[tuple[dict, str]], *, fmt: str = "pdf", operator: str | None = None) -> bytes:
    """A zip of the reports (``(report, text)`` pairs) in ``fmt`` (pdf or docx), one file per material,
    names made unique."""
    render = report_pdf if fmt == "pdf" else report_docx
    buf = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for report, text in items:
            name = file_name(report, fmt)
            n = 2
            while name in seen:
                name = f"{name.rsplit('.', 1)[0]}-{n}.{fmt}"
                n += 1
            seen.add(name)
            zf.writestr(name, render(report, text, operator=operator))
    return buf.getvalue()
