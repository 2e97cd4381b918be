"""The ``indexer`` command line: parse arguments, call the library, print the result."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from .cli_text import ChineseParser
from .errors import DuizhaoError
from .library import Library, default_index_path
from .search import MODES


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False))


STATUS_WORDS = {"added": "新增", "replaced": "新版本", "updated": "元数据已更新", "unchanged": "未变",
                "skipped": "跳过"}


def cmd_add(lib: Library, args) -> int:
    def show(res):
        if res.status == "skipped":
            print(f"跳过 {res.path}: {res.reason}", file=sys.stderr)
        elif res.status in ("replaced", "updated") and not args.json:
            doc = lib.resolve(res.id)
            what = "元数据已更新"
            if res.status == "replaced":
                what = f"新版本（第 {doc.version} 版，旧版本已保留）"
            print(f"{what}：{res.path}  id={res.id}")

    report = lib.add(args.paths, progress=not args.quiet, on_result=show)
    summary = {s: report.count(s) for s in STATUS_WORDS}
    if args.json:
        _print_json({"summary": summary, "files": [r.to_dict() for r in report.results]})
    else:
        counts = "，".join(f"{STATUS_WORDS[s]} {n}" for s, n in summary.items())
        print(f"{counts}；库中共 {len(lib)} 份材料")
    return 1 if report.failed else 0


def cmd_replace(lib: Library, args) -> int:
    res = lib.replace(args.id, args.file)
    if res.status == "skipped":
        raise DuizhaoError(f"未能读取 {args.file}：{res.reason}")
    doc = lib.resolve(res.id)
    if args.json:
        _print_json({**res.to_dict(), "version": doc.version})
    elif res.status == "unchanged":
        print(f"内容与当前版本相同，未改变：{doc.id}")
    else:
        print(f"新版本：{doc.id} 现为第 {doc.version} 版（{args.file.name}），旧版本已保留")
    return 0


def cmd_meta(lib: Library, args) -> int:
    values = {f: getattr(args, f) for f in ("title", "unit", "author", "role", "year", "meeting")
              if getattr(args, f) is not None}
    if not values:
        doc = lib.resolve(args.id)
    else:
        before = lib.resolve(args.id)
        doc = lib.update_metadata(args.id, **values)
        changed = [f for f in values if getattr(before, f) != getattr(doc, f)]
        if not args.json:
            print(f"元数据已更新：{doc.id}（{'、'.join(changed)}）" if changed
                  else f"元数据没有变化：{doc.id}")
    if args.json:
        _print_json(doc.to_dict())
    elif not values:
        for key in ("title", "unit", "author", "role", "year", "meeting"):
            print(f"{key}: {getattr(doc, key) or ''}")
    return 0


def cmd_versions(lib: Library, args) -> int:
    doc = lib.resolve(args.id)
    versions = lib.versions(doc.id)
    if args.json:
        _print_json({"id": doc.id, "version": doc.version, "versions": [v.to_dict() for v in versions]})
        return 0
    print(f"{doc.id}  当前第 {doc.version} 版  {doc.display_name}  {doc.title}")
    for v in versions:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(v.replaced))
        who = v.replaced_by or "命令行"
        print(f"  第 {v.version} 版  {v.chars:>7} 字  {v.name or v.source}  {when} 由 {who} 替换")
    return 0


def _print_hits(result) -> None:
    print(f"「{result.query}」({result.mode}) 共 {result.total} 份材料")
    for i, hit in enumerate(result.hits, start=result.offset + 1):
        meta = " ".join(f"{v}" for v in hit.metadata.values())
        print(f"{i:>3}. {hit.title}  [{hit.source}] {meta}  id={hit.id}  匹配 {len(hit.matches)} 处")
        snippet, out, pos = hit.snippet, [], 0
        for s, e in hit.snippet_matches:
            out += [snippet[pos:s], "【", snippet[s:e], "】"]
            pos = e
        out.append(snippet[pos:])
        print("     " + "".join(out))


def cmd_search(lib: Library, args) -> int:
    filters = {k: getattr(args, k) for k in ("unit", "year", "role", "meeting") if getattr(args, k)}
    options = dict(mode=args.mode, limit=args.limit, offset=args.offset, filters=filters)
    if args.batch:
        stream = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8-sig")
        failed = 0
        with stream:
            for line in stream:
                query = line.strip()
                if not query:
                    continue
                try:
                    _print_json(lib.search(query, **options).to_dict())
                except DuizhaoError as exc:
                    failed += 1
                    _print_json({"query": query, "error": str(exc)})
        return 1 if failed else 0
    if not args.query:
        raise DuizhaoError("请给出查询词，或用 --batch FILE")
    result = lib.search(" ".join(args.query), **options)
    if args.json:
        _print_json(result.to_dict())
    else:
        _print_hits(result)
    return 0


def cmd_ls(lib: Library, args) -> int:
    total, docs = lib.documents(limit=args.limit, offset=args.offset)
    if args.json:
        _print_json({"total": total, "documents": [d.to_dict() for d in docs]})
        return 0
    for d in docs:
        meta = " ".join(d.metadata.values())
        print(f"{d.id}  {d.chars:>7} 字  {d.display_name}  {d.title}  {meta}")
    print(f"共 {total} 份材料")
    return 0


def cmd_show(lib: Library, args) -> int:
    doc = lib.get(args.id)
    if args.json:
        _print_json(doc.to_dict(with_text=True))
    else:
        for key, value in doc.to_dict().items():
            print(f"{key}: {value}")
        print()
        print(doc.text)
    return 0


def cmd_rm(lib: Library, args) -> int:
    doc = lib.remove(args.id)
    print(f"已删除 {doc.id} ({doc.source})")
    return 0


def cmd_stats(lib: Library, args) -> int:
    stats = lib.stats()
    if args.json:
        _print_json(stats)
        return 0
    print(f"索引: {stats['index']}\n材料: {stats['documents']} 份，{stats['characters']} 字\n"
          f"短语段: {stats['segments']}，磁盘: {stats['disk_bytes'] / 1e6:.1f} MB")
    for field, counts in stats["facets"].items():
        if counts:
            print(f"{field}: " + "，".join(f"{k} {v}" for k, v in list(counts.items())[:10]))
    return 0


def cmd_compare(lib: Library, args) -> int:
    if args.engine == "spark" or args.import_result:  # see indexer.spark.command
        from .spark.command import run_compare

        status = run_compare(lib, args)
        if status is not None:
            return status
    if args.json and args.min_chars <= 0:  # as stored: no second serialization of a large result
        sys.stdout.flush()
        with open(lib.compare_json_file(), "rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer)
        sys.stdout.buffer.write(b"\n")
        return 0
    result = lib.compare()
    pairs = [p for p in result["pairs"] if p["shared_chars"] >= args.min_chars]
    if args.json:
        _print_json({**result, "pairs": pairs})
        return 0
    docs = {d["id"]: d for d in result["documents"]}
    print(f"{len(result['documents'])} 份材料，{len(pairs)} 对存在雷同段落，"
          f"{len(result['boilerplate'])} 段套话（出现在多份材料中）")
    print(f"{'雷同字数':>8} {'相似度':>6}  {'段落':>4}  材料 A ↔ 材料 B")
    for p in pairs[: args.limit]:
        a, b = docs[p["a"]], docs[p["b"]]
        print(f"{p['shared_chars']:>8} {p['similarity']:>6.1%}  {len(p['passages']):>4}  "
              f"{a['source']} ({a['id'][:8]}) ↔ {b['source']} ({b['id'][:8]})")
    if len(pairs) > args.limit:
        print(f"… 另有 {len(pairs) - args.limit} 对；用 --limit 调整显示的数量，用 --json 输出全部。")
    return 0


def _print_report(rep: dict) -> None:
    doc = rep["document"]
    print(f"查重报告: {doc.get('title') or doc.get('source')}  ({doc.get('source')})")
    print(f"  总文字复制比 {rep['copy_ratio_with_boilerplate']:.1%}（含套话）"
          f"  去除套话复制比 {rep['copy_ratio']:.1%}"
          f"  单篇最大复制比 {rep['max_single_ratio']:.1%}")
    print(f"  复制 {rep['copied_chars']} 字，去除套话后共 {rep['chars'] - rep['boilerplate_chars']} 字"
          f"（全文 {rep['chars']} 字，其中套话 {rep['boilerplate_chars']} 字）")
    if rep["sources"]:
        print("  来源:")
        for s in rep["sources"]:
            print(f"    {s['ratio']:>6.1%}  {s['copied_chars']:>6} 字  {s.get('source')}  {s.get('title')}"
                  f"  id={s.get('id')}")
    for p in rep["passages"]:
        print(f"\n  [{p['a'][0]}–{p['a'][1]}] ← {p.get('source')} [{p['b'][0]}–{p['b'][1]}]"
              f"  相似度 {p['similarity']:.0%}")
        print("    本文: " + p["text_a"].replace("\n", " "))
        print("    来源: " + p["text_b"].replace("\n", " "))
    if rep["boilerplate"]:
        print(f"\n  套话 {len(rep['boilerplate'])} 段（不计入复制比）")


def cmd_report(lib: Library, args) -> int:
    rep = lib.report(args.id)
    if args.pdf or args.docx:  # the same files as the portal's report.pdf / report.docx
        from . import export

        text = lib.get(rep["document"]["id"]).text or ""
        for path, render in ((args.pdf, export.report_pdf), (args.docx, export.report_docx)):
            if path is not None:
                path.write_bytes(render(rep, text, operator=os.environ.get("USER")))
                print(f"已写出 {path}", file=sys.stderr)
        return 0
    if args.json:
        _print_json(rep)
    else:
        _print_report(rep)
    return 0


def cmd_check(lib: Library, args) -> int:
    from . import sandbox

    rep = lib.report_text(sandbox.read_text(args.file), title=args.file.name)
    if args.json:
        _print_json(rep)
    else:
        _print_report(rep)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = ChineseParser(prog="indexer", description="对照：中文材料全文检索与查重（命令行）",
                       epilog="各子命令的说明：indexer 子命令 -h，例如 indexer search -h")
    ap.add_argument("--index", type=Path, metavar="文件夹",
                    help=f"索引文件夹，默认取环境变量 DUIZHAO_INDEX，否则为 {default_index_path()}")
    sub = ap.add_subparsers(dest="command", required=True, title="子命令", metavar="子命令")

    p = sub.add_parser("add", help="加入文件或文件夹，可读 .txt .md .docx .pdf .doc .wps 文件",
                       description="把文件或文件夹中的材料加入索引；同一份材料再次加入不会重复。")
    p.add_argument("paths", nargs="+", type=Path, metavar="路径", help="文件或文件夹，可给多个")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.add_argument("-q", "--quiet", action="store_true", help="不显示进度条")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("search", help="检索材料",
                       description="检索材料：短语（原文片段）、词语，或智能（两者结合）。")
    p.add_argument("query", nargs="*", metavar="检索词", help="要查找的词句；加引号则按原文片段检索")
    p.add_argument("--mode", choices=MODES, default="auto",
                   help="检索方式：auto 智能（默认）、phrase 短语、words 词语")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="显示的条数（默认 20）")
    p.add_argument("--offset", type=int, default=0, metavar="N", help="跳过前 N 条（翻页用）")
    p.add_argument("--unit", metavar="单位", help="只看这个单位的材料")
    p.add_argument("--year", metavar="年度", help="只看这一年度的材料")
    p.add_argument("--role", metavar="职务", help="只看这个职务的材料")
    p.add_argument("--meeting", metavar="会议", help="只看这个会议的材料")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.add_argument("--batch", metavar="文件",
                   help="批量检索：每行一个检索词（- 表示标准输入），每行输出一条 JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ls", help="列出材料", description="列出库中的材料。")
    p.add_argument("--limit", type=int, default=1_000_000, metavar="N", help="最多列出的份数")
    p.add_argument("--offset", type=int, default=0, metavar="N", help="跳过前 N 份")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("show", help="显示一份材料", description="显示一份材料的元数据与全文。")
    p.add_argument("id", metavar="编号", help="材料编号（可只写开头几位）")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("replace", help="用文件替换材料为新版本（旧版本保留）",
                       description="用一个文件作为材料的新版本；编号不变，旧版本保留但不再参与检索。")
    p.add_argument("id", metavar="编号", help="材料编号")
    p.add_argument("file", type=Path, metavar="文件", help="新版本的文件")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.set_defaults(func=cmd_replace)

    p = sub.add_parser("meta", help="查看或修改材料的标题与元数据（'' 清空一项）",
                       description="不带选项时显示材料的标题与元数据；带选项时修改，值为 '' 表示清空该项。")
    p.add_argument("id", metavar="编号", help="材料编号")
    for name, label in (("title", "标题"), ("unit", "单位"), ("author", "作者"), ("role", "职务"),
                        ("year", "年度"), ("meeting", "会议")):
        p.add_argument(f"--{name}", metavar=label, help=f"新的{label}")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.set_defaults(func=cmd_meta)

    p = sub.add_parser("versions", help="材料的历次版本", description="列出一份材料的历次版本。")
    p.add_argument("id", metavar="编号", help="材料编号")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("rm", help="删除一份材料", description="从库中删除一份材料。")
    p.add_argument("id", metavar="编号", help="材料编号")
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser("stats", help="索引概况", description="索引的材料数、字数、磁盘占用与元数据分布。")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("compare", help="全库查重：找出互相雷同的材料对",
                       description="全库两两比对，列出雷同材料对、材料群与反复出现的段落（套话）。"
                                   "结果按库状态缓存。")
    p.add_argument("--json", action="store_true", help="输出完整结果的 JSON，即 score_compare.py 读取的格式")
    p.add_argument("--min-chars", type=int, default=0, metavar="N", help="只列出重合至少 N 字的材料对")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="表格的行数，给了 --json 时不用")
    from .spark.command import add_arguments as spark_arguments

    spark_arguments(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="查重报告：库中一份材料与全库对照",
                       description="库中一份材料与全库对照的查重报告。")
    p.add_argument("id", metavar="编号", help="材料编号")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.add_argument("--pdf", type=Path, metavar="文件", help="写出 PDF 报告")
    p.add_argument("--docx", type=Path, metavar="文件", help="写出 Word 报告")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("check", help="查重报告：一份不在库中的文件与全库对照，不加入库中",
                       description="一份不在库中的文件与全库对照的查重报告；文件不加入库中。")
    p.add_argument("file", type=Path, metavar="文件", help="要检查的文件")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("upgrade", help="按新的参数重建索引存储的内容（可中断后继续）",
                       description="索引由旧版本写成、参数不同时，重建短语段与词索引；中断后重新运行即可继续。")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.add_argument("-q", "--quiet", action="store_true", help="不显示进度条")
    p.set_defaults(func=cmd_upgrade, opens_library=False)
    return ap


def cmd_upgrade(args) -> int:
    """Runs before any ``Library`` is opened: an index written with other parameters refuses to open."""
    from .upgrade import upgrade

    report = upgrade(args.index or default_index_path(), progress=not args.quiet)
    if args.json:
        _print_json(report.to_dict())
    elif not report.differences:
        print("索引格式已是最新，无需重建。")
    else:
        print(f"升级完成：重建短语段 {report.segments_rebuilt} 个（{report.documents_refolded} 份材料），"
              f"重建词索引 {report.words_rebuilt} 份材料。")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not getattr(args, "opens_library", True):
            return args.func(args)
        with Library(args.index) as lib:
            return args.func(lib, args)
    except DuizhaoError as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断；已提交的材料保留，重新运行即可继续。", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
