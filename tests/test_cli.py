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
