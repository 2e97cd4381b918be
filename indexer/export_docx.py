"""The 查重 report as a Word document (python-docx): the same sections and figures as the PDF."""

from __future__ import annotations

from docx import Document
from docx.enum.text import WD_COLOR_INDEX
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor

from .export import pct, side_pieces, text_pieces
from .store import file_name

RED, GREY = RGBColor(0xCC, 0x00, 0x00), RGBColor(0x88, 0x88, 0x88)
HIGHLIGHT = {"chg": WD_COLOR_INDEX.YELLOW, "own": WD_COLOR_INDEX.TURQUOISE,
             "src": WD_COLOR_INDEX.BRIGHT_GREEN}


def _font(doc: Document) -> None:
    style = doc.styles["Normal"]
    style.font.size = Pt(10.5)
    style.font.name = "SimSun"
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")


def _table(doc: Document, rows: list[list[str]]) -> None:
    table = doc.add_table(rows=len(rows), cols=len(rows[0]))
    table.style = "Table Grid"
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            table.cell(i, j).text = str(value)


def _runs(paragraph, pieces, colours: dict[str, RGBColor] | None = None) -> None:
    for text, cls in pieces:
        run = paragraph.add_run(text)
        if colours and cls in colours:
            run.font.color.rgb = colours[cls]
        if cls in HIGHLIGHT:
            run.font.highlight_color = HIGHLIGHT[cls]
        if cls == "own":
            run.font.underline = True


def build(report: dict, text: str, *, operator: str | None, tier_names: dict[str, str]) -> Document:
    doc = Document()
    _font(doc)
    d, check = report.get("document") or {}, report.get("check") or {}
    doc.add_paragraph("对照 · 文字复制检测报告")
    doc.add_heading(d.get("title") or d.get("source") or "", level=1)
    _table(doc, [
        ["报告编号", check.get("number", ""), "检测时间", check.get("checked_at_text", "")],
        ["检测人", operator or "—", "比对范围",
         f"库中 {check.get('library_documents', '')} 份材料（库状态 {check.get('library_state', '')}）"],
        ["单位", d.get("unit") or "—", "作者", d.get("author") or "—"],
        ["年度", d.get("year") or "—", "会议", d.get("meeting") or "—"],
        ["文本 SHA-256", check.get("sha256", ""), "来源文件",
         d.get("name") or file_name(d.get("source")) or "—"],
    ])
    doc.add_paragraph(check.get("definition", ""))
    if report.get("web_traces"):
        evidence = "、".join(f"“{w['text']}”" for w in report["web_traces"])
        doc.add_paragraph().add_run(f"疑似下载自网络范文：文中有范文网站留下的痕迹——{evidence}。").bold = True
    doc.add_heading("检测结果", level=2)
    _table(doc, [["总文字复制比", "去除套话复制比", "单篇最大复制比", "字数", "复制字数", "套话字数"],
                 [pct(report["copy_ratio_with_boilerplate"]), pct(report["copy_ratio"]),
                  pct(report["max_single_ratio"]), report["chars"], report["copied_chars"],
                  report["boilerplate_chars"]]])
    if report.get("sections"):
        doc.add_heading("分节复制比", level=2)
        _table(doc, [["章节", "字数", "复制字数", "复制比"]] + [
            [s["title"], s["chars"], s["copied_chars"], pct(s["ratio"])] for s in report["sections"]])
    doc.add_heading(f"相似来源（{len(report['sources'])} 份）", level=2)
    if report["sources"]:
        _table(doc, [["#", "来源材料", "关系", "与本文重合", "计入字数", "计入复制比"]] + [
            [i + 1, f"{s.get('title', '')} {s.get('unit') or ''} {s.get('year') or ''}",
             tier_names.get(s.get("tier"), "") + ("（来源在先）" if s.get("earlier") else ""),
             f"{s['pair_chars']} 字 · {pct(s['pair_ratio'])}", s["copied_chars"], pct(s["ratio"])]
            for i, s in enumerate(report["sources"])])
    else:
        doc.add_paragraph("未发现与库中其他材料重合的段落。")
    doc.add_heading("全文标注", level=2)
    doc.add_paragraph("红色：与来源重合；灰色：套话；黑色：本文独有。")
    _runs(doc.add_paragraph(), text_pieces(text, report), {"copy": RED, "stock": GREY})
    if report.get("passages"):
        doc.add_heading(f"复制片段对照（{len(report['passages'])} 处）", level=2)
        doc.add_paragraph("黄底：改写；青底下划线：本文独有；绿底：来源独有。")
        for i, p in enumerate(report["passages"]):
            table = doc.add_table(rows=2, cols=2)
            table.style = "Table Grid"
            swap = " 换名照搬" if p.get("name_swap") else ""
            table.cell(0, 0).text = f"{i + 1}. 本文（第 {p['a'][0] + 1}–{p['a'][1]} 字）{swap}"
            table.cell(0, 1).text = (f"来源：{p.get('source_title') or p.get('source', '')}"
                                     f"（第 {p['b'][0] + 1}–{p['b'][1]} 字） · 相似度 {pct(p['similarity'])}")
            left, right = side_pieces(p)
            _runs(table.cell(1, 0).paragraphs[0], left)
            _runs(table.cell(1, 1).paragraphs[0], right)
            doc.add_paragraph()
    return doc
