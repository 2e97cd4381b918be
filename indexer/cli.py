"""The ``indexer`` command line: parse arguments, call the library, print the result."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

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
          f"  单篇最大复制比 {rep['max_single_ratio']:.1%}  复制字数 {rep['copied_chars']} / {rep['chars']}")
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
    ap = argparse.ArgumentParser(prog="indexer", description="对照 Duizhao: 中文材料全文检索与查重")
    ap.add_argument("--index", type=Path,
                    help=f"index folder (default: $DUIZHAO_INDEX or {default_index_path()})")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("add", help="add files or folders (.txt .md .docx .pdf .doc .wps)")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--json", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("search", help="search the library")
    p.add_argument("query", nargs="*")
    p.add_argument("--mode", choices=MODES, default="auto")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--unit")
    p.add_argument("--year")
    p.add_argument("--role")
    p.add_argument("--meeting")
    p.add_argument("--json", action="store_true")
    p.add_argument("--batch", metavar="FILE", help="one query per line ('-' for stdin); JSON lines out")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ls", help="list documents")
    p.add_argument("--limit", type=int, default=1_000_000)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("show", help="show a document")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("replace", help="a new version of a material from a file (the old one is kept)")
    p.add_argument("id")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_replace)

    p = sub.add_parser("meta", help="show or edit a material's title and metadata ('' clears a field)")
    p.add_argument("id")
    for name in ("title", "unit", "author", "role", "year", "meeting"):
        p.add_argument(f"--{name}")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_meta)

    p = sub.add_parser("versions", help="a material's earlier versions")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("rm", help="remove a document")
    p.add_argument("id")
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser("stats", help="index statistics")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("compare", help="copy detection over the whole library")
    p.add_argument("--json", action="store_true", help="the JSON read by score_compare.py")
    p.add_argument("--min-chars", type=int, default=0, help="only pairs sharing at least N characters")
    p.add_argument("--limit", type=int, default=50, help="rows of the table (not with --json)")
    from .spark.command import add_arguments as spark_arguments

    spark_arguments(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="查重报告：库中一份材料与全库对照")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.add_argument("--pdf", type=Path, metavar="FILE", help="写出 PDF 报告")
    p.add_argument("--docx", type=Path, metavar="FILE", help="写出 Word 报告")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("check", help="查重报告：一份不在库中的文件与全库对照，不加入库中")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("upgrade", help="rebuild what an index stores with other parameters (resumable)")
    p.add_argument("--json", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
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
