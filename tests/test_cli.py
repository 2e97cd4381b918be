"""The `indexer` command line: parse, call the library, print; errors are messages, not tracebacks."""

import json

import pytest

from indexer.cli import main


@pytest.fixture
def index(tmp_path):
    return str(tmp_path / "index")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_search_show_rm_cycle(capsys, index, tiny_dir):
    code, out, _ = run(capsys, "--index", index, "add", "-q", str(tiny_dir))
    assert code == 0 and "新增 3" in out
    code, out, _ = run(capsys, "--index", index, "search", "--json", "政治站位")
    result = json.loads(out)
    assert result["mode"] == "auto" and result["total"] == 2
    assert set(result) >= {"query", "mode", "total", "hits"}
    hit = result["hits"][0]
    assert {"id", "source", "title", "score", "matches", "snippet"} <= set(hit)
    code, out, _ = run(capsys, "--index", index, "show", "--json", hit["id"])
    doc = json.loads(out)
    for s, e in hit["matches"]:
        assert doc["text"][s:e].replace("\n", "") == "政治站位"
    code, out, _ = run(capsys, "--index", index, "rm", hit["id"])
    assert code == 0
    code, out, err = run(capsys, "--index", index, "show", hit["id"])
    assert code == 2 and "没有这份材料" in err


def test_human_search_output_marks_matches(capsys, index, tiny_dir):
    run(capsys, "--index", index, "add", "-q", str(tiny_dir))
    code, out, _ = run(capsys, "--index", index, "search", "往心里走")
    assert code == 0 and "【往心里走】" in out and "共 1 份材料" in out


def test_batch_queries_print_json_lines(capsys, index, tiny_dir, tmp_path, monkeypatch):
    run(capsys, "--index", index, "add", "-q", str(tiny_dir))
    batch = tmp_path / "q.txt"
    batch.write_text("政治站位不够高\n\n形式主义、官僚主义\n不存在的句子\n", encoding="utf-8")
    code, out, _ = run(capsys, "--index", index, "search", "--mode", "phrase", "--batch", str(batch))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["total"] for r in lines] == [2, 1, 0]
    monkeypatch.setattr("sys.stdin", open(batch, encoding="utf-8"))
    code, out, _ = run(capsys, "--index", index, "search", "--batch", "-")
    assert len(out.splitlines()) == 3


def test_bad_files_make_exit_status_nonzero(capsys, index, tiny_dir):
    (tiny_dir / "empty.txt").write_bytes(b"")
    code, out, err = run(capsys, "--index", index, "add", "-q", str(tiny_dir))
    assert code == 1 and "empty.txt" in err and "新增 3" in out


def test_bad_query_is_a_message(capsys, index, tiny_dir):
    run(capsys, "--index", index, "add", "-q", str(tiny_dir))
    code, _, err = run(capsys, "--index", index, "search", "   ")
    assert code == 2 and "查询为空" in err and "Traceback" not in err


def test_ls_and_stats(capsys, index, tiny_dir):
    run(capsys, "--index", index, "add", "-q", str(tiny_dir))
    code, out, _ = run(capsys, "--index", index, "ls", "--json")
    assert json.loads(out)["total"] == 3
    code, out, _ = run(capsys, "--index", index, "stats", "--json")
    assert json.loads(out)["documents"] == 3


def test_index_from_environment(capsys, tmp_path, tiny_dir, monkeypatch):
    monkeypatch.setenv("DUIZHAO_INDEX", str(tmp_path / "envindex"))
    run(capsys, "add", "-q", str(tiny_dir))
    assert (tmp_path / "envindex" / "documents.sqlite").exists()


def _help_of(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_help_is_chinese_with_the_option_names_kept(capsys):
    """Regression: ``indexer --help`` and every subcommand's help were English (argparse's own words
    too: usage, options, "show this help message and exit")."""
    import re

    from indexer.cli import build_parser

    top = _help_of(capsys)
    assert top.startswith("用法：indexer") and "选项：" in top and "显示本帮助并退出" in top
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"add", "search", "compare", "report", "check", "upgrade"} <= set(commands)
    for name in commands:
        text = _help_of(capsys, name)
        assert text.startswith(f"用法：indexer {name}") and "显示本帮助并退出" in text
        words = re.sub(r"-?-[\w-]+|\{[^}]*\}|indexer \w+|pip install|Spark master|Java 17", "", text)
        assert not re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", words), (name, text)  # no English phrase left
        for line in text.splitlines():  # every option explained
            if line.startswith("  --") and not line.startswith("  --mode") and not line.startswith("  --engine"):
                assert len(line.split(None, 2)) == 3 or "--index" in line, line
    assert "--index" in top and "--mode {auto,phrase,words}" in _help_of(capsys, "search")


def test_usage_errors_are_chinese(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["add"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "错误：缺少必需的参数：路径" in err and "usage" not in err
    with pytest.raises(SystemExit):
        main(["search", "x", "--bogus"])
    assert "无法识别的参数：--bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["nonsense"])
    assert "无效的选择 'nonsense'" in capsys.readouterr().err


def test_other_parsers_keep_their_words():
    """The Chinese words apply to our parsers only (gunicorn's, in the same process, keeps its own)."""
    import argparse

    from indexer.cli import build_parser

    build_parser().format_help()
    assert "show this help message and exit" in argparse.ArgumentParser(prog="x").format_help()
