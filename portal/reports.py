"""查重 reports (``/documents/<id>/report`` + ``.html``/``.csv`` downloads) and ``/compare?a=&b=``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from flask import Blueprint, Response, g, render_template, request
from markupsafe import Markup

from indexer import export
from indexer.errors import BadQuery
from indexer.store import file_name

from .audit import audit
from .index import detection, get_index
from .views import attachment, doc_id_arg

bp = Blueprint("reports", __name__)
CSS = Path(__file__).resolve().parent / "static" / "style.css"
DOWNLOAD_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
SUMMARY_HEAD = ["材料编号", "标题", "总字数", "总文字复制比", "含套话复制比", "单篇最大复制比", "复制字数"]
PASSAGE_HEAD = ["来源编号", "来源", "本文起", "本文止", "来源起", "来源止", "相似度", "重合字数",
                "本文片段", "来源片段"]
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ZIP_MAX = {"docx": 200, "pdf": 20}  # PDF renders take seconds each
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def report_context(doc_id: str, fmt: str | None = None) -> dict:
    """The copy report of one library document (``lib.report``); audited as a view or a download."""
    report = detection("report")
    doc = get_index().resolve(doc_id_arg(doc_id))
    audit("download" if fmt else "report", doc.id, title=doc.title, format=fmt)
    return report(doc.id)


def compare_context() -> dict:
    """Two documents and the passages they share (``lib.compare_pair``)."""
    a, b = request.args.get("a", "").strip(), request.args.get("b", "").strip()
    if not a or not b:
        raise BadQuery("请给出要比对的两份材料: /compare?a=编号&b=编号")
    lib = get_index()
    compare_pair = detection("compare_pair")
    a_id, b_id = lib.resolve(doc_id_arg(a)).id, lib.resolve(doc_id_arg(b)).id
    audit("compare", f"{a_id} {b_id}")
    return compare_pair(a_id, b_id)


def download_name(report: dict, ext: str) -> str:
    """A download's file name: 查重报告-<unit>-<title>.<ext> (see ``views.attachment``)."""
    return export.file_name(report, ext)


def operator() -> str | None:
    """Who asks for the report (its 检测人): the logged-in user's name."""
    user = g.get("user")
    return getattr(user, "name", None) if user is not None else None


def _file(rep: dict, data: bytes, ext: str, mimetype: str) -> Response:
    resp = Response(data, mimetype=mimetype)
    resp.headers["Content-Disposition"] = attachment(download_name(rep, ext), str(rep["document"]["id"]))
    return resp


@bp.get("/documents/<doc_id>/report.pdf")
def report_pdf(doc_id: str) -> Response:
    """The report as PDF, rendered on the server with embedded CJK fonts."""
    rep = report_context(doc_id, "pdf")
    data = export.report_pdf(rep, get_index().get(rep["document"]["id"]).text or "", operator=operator())
    return _file(rep, data, "pdf", "application/pdf")


@bp.get("/documents/<doc_id>/report.docx")
def report_docx(doc_id: str) -> Response:
    """The report as a Word file."""
    rep = report_context(doc_id, "docx")
    data = export.report_docx(rep, get_index().get(rep["document"]["id"]).text or "", operator=operator())
    return _file(rep, data, "docx", DOCX_MIME)


@bp.get("/reports.zip")
def reports_zip() -> Response:
    """The reports of the materials of one unit and/or year (``?unit=&year=&format=docx|pdf``) in one
    zip; at most ``ZIP_MAX[format]`` materials, so no request runs unbounded."""
    fmt = request.args.get("format", "docx")
    if fmt not in ZIP_MAX:
        raise BadQuery("格式只能是 docx 或 pdf")
    unit, year = request.args.get("unit", "").strip(), request.args.get("year", "").strip()
    lib = get_index()
    docs = sorted((d for d in lib.live.values()
                   if (not unit or d.unit == unit) and (not year or d.year == year)),
                  key=lambda d: (d.unit or "", d.title or ""))
    if not docs:
        raise BadQuery("没有符合条件的材料")
    if len(docs) > ZIP_MAX[fmt]:
        raise BadQuery(f"一次最多打包 {ZIP_MAX[fmt]} 份材料的报告，请按单位或年度缩小范围")
    audit("download", None, format=f"zip-{fmt}", unit=unit or None, year=year or None, count=len(docs))
    report = detection("report")
    items = [(report(d.id), lib.get(d.id).text or "") for d in docs]
    data = export.reports_zip(items, fmt=fmt, operator=operator())
    resp = Response(data, mimetype="application/zip")
    label = "-".join(x for x in (unit, year) if x) or "全部"
    resp.headers["Content-Disposition"] = attachment(f"查重报告-{label}.zip", "reports")
    return resp


@bp.get("/documents/<doc_id>/report")
def report(doc_id: str) -> str:
    """The 查重 report page."""
    rep = report_context(doc_id)
    return render_template("report.html", report=rep, printable=False, operator=operator(),
                           fulltext=get_index().get(rep["document"]["id"]).text or "")


@bp.get("/documents/<doc_id>/report.html")
def report_html(doc_id: str) -> Response:
    """The report as one self-contained printable HTML file (styles inline, no script)."""
    rep = report_context(doc_id, "html")
    html = render_template("report.html", report=rep, printable=True, css=stylesheet(), operator=operator(),
                           fulltext=get_index().get(rep["document"]["id"]).text or "")
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Disposition"] = attachment(download_name(rep, "html"), rep["document"]["id"])
    resp.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    return resp


def stylesheet() -> Markup:
    """The portal's own stylesheet, to inline in the downloadable report (not user data)."""
    return Markup(CSS.read_text(encoding="utf-8").replace("</", "<\\/"))


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


@bp.get("/documents/<doc_id>/report.csv")
def report_csv(doc_id: str) -> Response:
    """The report's passages as CSV (UTF-8 with BOM, so Excel reads the Chinese)."""
    rep = report_context(doc_id, "csv")
    buf = io.StringIO()
    out = csv.writer(buf)
    doc = rep["document"]
    out.writerow(SUMMARY_HEAD)
    out.writerow([csv_cell(v) for v in (
        doc["id"], doc.get("title"), rep["chars"], f"{rep['copy_ratio']:.4f}",
        f"{rep['copy_ratio_with_boilerplate']:.4f}", f"{rep['max_single_ratio']:.4f}", rep["copied_chars"])])
    out.writerow([])
    out.writerow(PASSAGE_HEAD)
    for p in rep["passages"]:
        out.writerow([csv_cell(v) for v in (
            p["source_id"], p.get("source_name") or file_name(p.get("source")), *p["a"], *p["b"],
            f"{p['similarity']:.4f}", p["shared_chars"], p["text_a"], p["text_b"])])
    resp = Response("\ufeff" + buf.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = attachment(download_name(rep, "csv"), rep["document"]["id"])
    return resp


@bp.get("/compare")
def compare() -> str:
    """Two documents side by side with their shared passages aligned; without both, the picker."""
    if not (request.args.get("a", "").strip() and request.args.get("b", "").strip()):
        return render_template("compare.html", pair=None, texts=None)
    pair = compare_context()
    lib = get_index()
    texts = {side: lib.get(pair[side]["id"]).text or "" for side in ("a", "b")}
    return render_template("compare.html", pair=pair, texts=texts)
