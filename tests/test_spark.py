"""The corpus compare as a Spark job (indexer/spark): the same result as the embedded engine.

The stage functions are checked against ``compare_corpus`` without Spark (any split of the corpus
into blocks and buckets), then the job itself in Spark local mode: on a folder (bad files skipped
with the reasons ``indexer add`` gives) and on an index, whose result is imported into the index's
compare cache only while the index still matches it. Outside CI the Spark tests are skipped when
pyspark or Java is missing; under CI (``CI=true``) they fail instead.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from indexer.cli import main as cli_main
from indexer.detect import DetectOptions, compare_corpus, fingerprints, normalize
from indexer.detect.corpus import CompareResult
from indexer.detect.sentences import candidate_pairs, sketch_text
from indexer.library import Library
from indexer.spark import stages
from indexer.store import digest

CHARS = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种"
         "面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把"
         "性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气")
TEMPLATE = ("会前，本人认真学习了党章党规和上级有关文件精神，广泛征求了干部群众的意见建议，"
            "与班子成员和分管部门负责同志逐一谈心谈话，深入查摆了自身存在的问题和不足。")


def babble(rng: random.Random, n: int) -> str:
    out = []
    while sum(map(len, out)) < n:
        out.append("".join(rng.choice(CHARS) for _ in range(rng.randint(8, 30))) + rng.choice("，。；\n"))
    return "".join(out)


def corpus(seed: int, n_docs: int = 18) -> dict[str, str]:
    """Random prose with a template in seven documents, verbatim, edited and shuffled copies, and a
    passage copied into three documents (a cluster)."""
    rng = random.Random(seed)
    texts = {f"{i:03d}": babble(rng, rng.randint(500, 1000)) for i in range(n_docs)}
    names = sorted(texts)
    for d in rng.sample(names, 7):
        t = texts[d]
        cut = t.index("。", len(t) // 2) + 1
        texts[d] = t[:cut] + TEMPLATE + t[cut:]
    for i in range(5):
        src, dst = names[2 * i], names[2 * i + 1]
        t = texts[src]
        s = t.index("。", rng.randint(0, 200)) + 1
        passage = t[s:s + rng.randint(80, 200)]
        if i == 1:  # edits
            passage = "".join("的" if rng.random() < 0.03 else c for c in passage)
        elif i == 2:  # clauses shuffled
            parts = passage.split("，")
            rng.shuffle(parts)
            passage = "，".join(parts)
        at = texts[dst].index("。", 100) + 1
        texts[dst] = texts[dst][:at] + passage + texts[dst][at:]
    shared = texts[names[12]][50:230]
    for d in names[13:15]:
        texts[d] = texts[d][:300] + shared + texts[d][300:]
    return texts


def run_embedded(texts: dict[str, str], opts: DetectOptions) -> CompareResult:
    fps = {d: fingerprints(normalize(texts[d]).text, k=opts.k, window=opts.window) for d in sorted(texts)}
    return compare_corpus(fps, texts.__getitem__, options=opts)


def run_stages(texts: dict[str, str], opts: DetectOptions, rng: random.Random, n_blocks: int,
               n_buckets: int, rewritten: set | None = None) -> CompareResult:
    """The job's data flow without Spark: random blocks, ``n_buckets`` hash/pair buckets; the
    candidates the sentence stage chose go into ``rewritten``."""
    ids = sorted(texts)
    blocks = defaultdict(list)
    for i, d in enumerate(ids):
        blocks[rng.randrange(n_blocks)].append((i, d, texts[d]))
    fp = {b: stages.fingerprint_block(v, opts) for b, v in blocks.items()}
    postings, sketches, stats = defaultdict(list), defaultdict(list), defaultdict(list)
    for b, docs in fp.items():
        for k, x in stages.block_postings(b, docs, n_buckets):
            postings[k].append(x)
        for k, x in stages.block_sketches(docs, n_buckets):
            sketches[k].append(x)
    for parts in postings.values():
        for b, x in stages.hash_stats(parts):
            stats[b].append(x)
    info, labels, seeds, by_pair = {}, [], defaultdict(list), defaultdict(list)
    for b, docs in fp.items():
        for tag, key, x in stages.block_boilerplate(docs, stats[b], opts, n_docs=len(ids), n_buckets=n_buckets):
            if tag == "doc":
                info[key] = x
            elif tag == "label":
                labels.append((key, x))
            else:
                seeds[key].append(x)
    for parts in seeds.values():
        for k, x in stages.bucket_seeds(parts, n_buckets):
            by_pair[k].append(x)
    usable, chosen = defaultdict(list), defaultdict(list)
    for parts in sketches.values():
        for k, x in stages.bucket_usable_sketches(parts, n_buckets, opts):
            usable[k].append(x)
    for parts in usable.values():
        for k, x in stages.doc_sketches(parts, n_buckets, opts):
            chosen[k].append(x)
    for parts in chosen.values():
        for k, x in stages.bucket_unit_pairs(parts, opts, n_buckets):
            by_pair[k].append(x)
    pairs = []
    for parts in by_pair.values():
        for da, (db, sd, units) in stages.candidate_pairs(parts, opts, len(texts)):
            if units and rewritten is not None:
                rewritten.add((da, db))
            pairs.extend(stages.align_pairs([(db, ((da, sd, units, info[da]), info[db]))], opts))
    labels.sort(key=lambda x: x[0])
    cut = len(labels) // 2  # two label ranges, as sortByKey makes them
    while 0 < cut < len(labels) and labels[cut][0] == labels[cut - 1][0]:
        cut += 1
    entries = stages.group_labels(labels[:cut]) + stages.group_labels(labels[cut:])
    entries.sort(key=lambda b: (-b.documents, -len(b.text)))
    return CompareResult([p for _, _, p in sorted(pairs, key=lambda x: x[:2])], entries)


@pytest.mark.parametrize(("seed", "knobs"), [(1, {}), (2, {}), (3, {}), (1, {"unit_rare_from": 1})])
def test_stages_give_the_embedded_result_however_the_corpus_is_split(seed, knobs):
    texts = corpus(seed)
    opts = DetectOptions(**knobs)  # unit_rare_from=1: rare sketch features count in this small corpus too
    expected = run_embedded(texts, opts)
    assert expected.pairs and expected.boilerplate  # the corpus exercises both
    rng = random.Random(seed)
    sketches = [(i, *sketch_text(normalize(texts[d]), opts)) for i, d in enumerate(sorted(texts))]
    embedded_rewritten = {tuple(p) for p in candidate_pairs(sketches, opts, len(texts)).tolist()}
    for n_blocks, n_buckets in ((1, 1), (3, 4), (len(texts), 7)):
        rewritten: set = set()
        assert run_stages(texts, opts, rng, n_blocks, n_buckets, rewritten) == expected
        # units are aligned for the pairs compare_corpus aligns them for, and only those
        assert rewritten == embedded_rewritten


def test_plan_blocks_packs_by_characters():
    from indexer.spark.job import plan_blocks

    assert plan_blocks([5, 5, 5, 20, 1, 1], budget=10) == [0, 0, 1, 2, 3, 3]
    assert plan_blocks([], budget=10) == []


def _result_folder(lib: Library, folder: Path, **meta) -> Path:
    """A result folder as the job writes it, holding the index's own embedded compare."""
    from indexer.spark.result import documents_digest, options_key

    folder.mkdir()
    (folder / "compare.json").write_text(json.dumps(lib.compare(), ensure_ascii=False), encoding="utf-8")
    meta = {"format": 1, "options_key": options_key(lib.detect_options),
            "documents_digest": documents_digest(d.id for d in lib.live.values()), **meta}
    (folder / "_duizhao.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def test_overview_imports_a_result_for_admins_only_and_refuses_one_of_another_state(tmp_path, samples_dir):
    from test_portal_support import ADMIN_PASSWORD, INSPECTOR, add_user, csrf_of, login, portal_config

    from portal import bootstrap, create_app

    with Library(tmp_path / "index") as lib:
        lib.add([samples_dir])
        good = _result_folder(lib, tmp_path / "good")
        other = _result_folder(lib, tmp_path / "other", options_key="another")
        expected = lib.compare()
        for name in ("compare.json", "compare.key"):  # the overview has nothing cached
            (tmp_path / "index" / name).unlink(missing_ok=True)
    app = create_app(portal_config(tmp_path / "index", tmp_path / "data"))
    bootstrap(app.config)
    add_user(app, *INSPECTOR)
    inspector, admin = app.test_client(), app.test_client()
    login(inspector, *INSPECTOR)
    login(admin, "admin", ADMIN_PASSWORD)
    assert "导入 Spark 比对结果" not in inspector.get("/duplicates").get_data(as_text=True)
    assert inspector.post("/duplicates/import", data={"result": str(good),
                                                      "csrf_token": csrf_of(inspector)}).status_code == 403
    r = admin.post("/duplicates/import", data={"result": str(other), "csrf_token": csrf_of(admin)},
                   follow_redirects=True)
    assert "未导入：结果所用的检测参数" in r.get_data(as_text=True)
    r = admin.post("/duplicates/import", data={"result": str(tmp_path), "csrf_token": csrf_of(admin)},
                   follow_redirects=True)
    assert "未导入：" in r.get_data(as_text=True) and "不是完整的 Spark 比对结果" in r.get_data(as_text=True)
    r = admin.post("/duplicates/import", data={"result": str(good), "csrf_token": csrf_of(admin)},
                   follow_redirects=True)
    assert r.status_code == 200 and "已导入 Spark 比对结果" in r.get_data(as_text=True)
    with Library(tmp_path / "index") as lib:
        assert lib.compare(wait=False) == expected
    assert "导入 Spark 比对结果" in admin.get("/admin/audit").get_data(as_text=True)


def test_import_of_no_result_is_refused_in_chinese(tmp_path, capsys):
    assert cli_main(["--index", str(tmp_path / "idx"), "compare", "--import", str(tmp_path / "nothing")]) == 2
    assert "不是完整的 Spark 比对结果" in capsys.readouterr().err


# -- Spark local mode ---------------------------------------------------------------------------

def _need_spark():
    """pyspark and Java: required under CI, else the Spark tests are skipped."""
    if os.environ.get("CI", "").lower() == "true":
        import pyspark  # noqa: F401  (CI must have it: make test installs the spark extra)

        assert shutil.which("java") or os.environ.get("JAVA_HOME"), "CI needs Java 17 for the Spark tests"
        return
    pytest.importorskip("pyspark")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("no Java runtime for Spark")


@pytest.fixture(scope="module")
def spark():
    _need_spark()
    from indexer.spark.session import session

    s = session(master="local[2]", conf=[("spark.ui.enabled", "false"), ("spark.sql.shuffle.partitions", "4"),
                                         ("spark.default.parallelism", "2")])
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def materials(tmp_path_factory):
    """A folder of the corpus with two bad files and a hidden one, and an index built from it."""
    root = tmp_path_factory.mktemp("spark")
    folder = root / "docs"
    folder.mkdir()
    for name, text in corpus(7).items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip archive")
    (folder / "empty.txt").write_bytes(b"")
    (folder / ".hidden.txt").write_text("不读隐藏文件", encoding="utf-8")
    (folder / "metadata.csv").write_text("文件,标题,单位,年度\n003.txt,第三份材料,市档案局,2021\n", encoding="utf-8")
    index = root / "index"
    with Library(index) as lib:
        report = lib.add([folder])
        reasons = {Path(r.path).name: r.reason for r in report.results if r.status == "skipped"}
        expected = lib.compare()
    return folder, index, reasons, expected


def _renamed(result: dict, names: dict[str, str]) -> dict:
    """Pairs, boilerplate and clusters with document ids replaced (index ids -> content ids)."""
    out = json.loads(json.dumps({k: result[k] for k in ("pairs", "minor_pairs", "own_pairs", "boilerplate",
                                                         "clusters")}))
    for key in ("pairs", "minor_pairs", "own_pairs"):
        for p in out[key]:
            p["a"], p["b"] = names[p["a"]], names[p["b"]]
        out[key].sort(key=lambda p: (-p["shared_chars"], p["a"], p["b"]))
    for b in out["boilerplate"]:
        for o in b["occurrences"]:
            o["doc"] = names[o["doc"]]
    for c in out["clusters"]:
        c["documents"] = sorted(names[d] for d in c["documents"])
    out["clusters"].sort(key=lambda c: (-len(c["documents"]), -c["shared_chars"], c["documents"]))
    return out


def test_spark_on_a_folder_equals_the_embedded_compare_and_skips_bad_files(spark, materials, tmp_path):
    from indexer.spark.job import JobSettings, run

    folder, index, reasons, expected = materials
    out = run(spark, str(folder), str(tmp_path / "result"), settings=JobSettings(partitions=3))
    assert {Path(s["source"]).name: s["reason"] for s in out["skipped"]} == reasons
    assert set(reasons) == {"broken.docx", "empty.txt"}
    with Library(index) as lib:
        names = {d.id: digest(lib.get(d.id).text)[:16] for d in lib.live.values()}
        sources = {d.id: d.source for d in lib.live.values()}
    assert sorted(d["source"] for d in out["documents"]) == sorted(sources.values())
    # metadata.csv rows, as indexer add reads them
    third = next(d for d in out["documents"] if d["source"].endswith("/003.txt"))
    assert (third["title"], third["unit"], third["year"]) == ("第三份材料", "市档案局", "2021")
    assert _renamed(out, {v: v for v in names.values()}) == _renamed(expected, names)
    assert expected["pairs"] and expected["boilerplate"] and expected["clusters"]
    # the Parquet datasets hold the same result
    pairs = spark.read.parquet(str(tmp_path / "result" / "pairs")).count()
    assert pairs == len(out["pairs"]) + len(out["minor_pairs"]) + len(out["own_pairs"])
    skipped = spark.read.parquet(str(tmp_path / "result" / "skipped")).collect()
    assert {Path(r.source).name for r in skipped} == {"broken.docx", "empty.txt"}


def test_spark_on_an_index_is_the_cached_compare_after_import(spark, materials, tmp_path):
    from indexer.spark.job import JobSettings, run
    from indexer.spark.result import ResultMismatch, import_result

    _, index, _, expected = materials
    work = tmp_path / "index"
    shutil.copytree(index, work)
    result_dir = tmp_path / "result"
    out = run(spark, str(work), str(result_dir), settings=JobSettings(partitions=2))
    assert {k: v for k, v in out.items() if k not in ("skipped", "_meta")} == expected
    for name in ("compare.json", "compare.key"):  # forget the embedded result
        (work / name).unlink(missing_ok=True)
    with Library(work) as lib:
        assert lib.compare(wait=False) is None
        info = import_result(lib, result_dir)
        assert info["documents"] == len(expected["documents"])
    with Library(work) as lib:
        assert lib.compare(wait=False) == expected
        (work / "stock_phrases.txt").write_text("我们单位自己的一句口号\n", encoding="utf-8")
        with pytest.raises(ResultMismatch, match="检测参数"):
            import_result(lib, result_dir)
        (work / "stock_phrases.txt").unlink()
        lib.remove(expected["documents"][0]["id"])
        with pytest.raises(ResultMismatch, match="材料不一致"):
            import_result(lib, result_dir)
