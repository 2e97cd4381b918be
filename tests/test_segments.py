"""Phrase segments under the tiered merge policy: bounded count and open files, dead documents dropped,
merges that never lose a document (also when killed), and orphans of crashed writers reclaimed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer import ingest, merge_policy
from indexer.library import Library
from indexer.merge_policy import MergePolicy, SegmentSize, max_segments, plan, tier
from indexer.segments import SegmentSet
from indexer.text import fold

ROOT = Path(__file__).resolve().parent.parent
SMALL = MergePolicy(per_tier=3, floor_bytes=2_000, max_segment_bytes=40_000, deletes_allowed=0.3)


# -- the policy, as a pure function -----------------------------------------------------------

def test_tiers_grow_by_a_factor_of_per_tier():
    assert tier(0, SMALL) == tier(1_999, SMALL) == 0
    assert tier(2_000, SMALL) == tier(5_999, SMALL) == 1
    assert tier(6_000, SMALL) == 2 and tier(18_000, SMALL) == 3


def test_a_tier_over_its_limit_merges_its_smallest_under_the_cap():
    segs = [SegmentSize(f"s{i}", 100 + i, 100 + i) for i in range(5)]
    assert plan(segs, SMALL) == [["s0", "s1", "s2", "s3"]]
    assert plan(segs[:3], SMALL) == []
    big = [SegmentSize(f"b{i}", 15_000, 15_000) for i in range(5)]  # tier 3; two fit under the cap
    assert plan(big, SMALL) == [["b0", "b1"]]
    full = [SegmentSize(f"f{i}", 30_000, 30_000) for i in range(9)]  # over half the cap: never merged
    assert plan(full, SMALL) == []


def test_dead_documents_get_a_segment_rewritten_early():
    segs = [SegmentSize("a", 30_000, 19_000, docs=10, dead_docs=4), SegmentSize("b", 30_000, 25_000, 10, 1),
            SegmentSize("gone", 500, 0, docs=2, dead_docs=2)]
    assert plan(segs, SMALL) == [["a"], ["gone"]]


def test_policy_knobs_are_checked():
    with pytest.raises(ValueError):
        MergePolicy(per_tier=1)
    with pytest.raises(ValueError):
        MergePolicy(floor_bytes=10, max_segment_bytes=5)


def _settle(segs: list[SegmentSize], policy: MergePolicy, merged: list[int]) -> list[SegmentSize]:
    """Run ``plan`` as the writer does, until it has nothing left (merges make one segment)."""
    for _ in range(1000):
        todo = plan(segs, policy)
        if not todo:
            return segs
        names = [n for m in todo for n in m]
        assert len(names) == len(set(names)), "merges must be disjoint"
        by_name = {s.name: s for s in segs}
        for m in todo:
            live = sum(by_name[n].live_bytes for n in m)
            assert len(m) == 1 or live <= policy.max_segment_bytes
            merged.append(live)
            if live:
                segs.append(SegmentSize(f"m{len(merged)}", live, live, docs=1))
        segs = [s for s in segs if s.name not in set(names)]
    raise AssertionError("the policy never settles")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30_000), st.booleans(), st.floats(0, 1)), min_size=1, max_size=120))
def test_any_mix_of_adds_and_deletions_keeps_the_count_logarithmic(steps):
    segs: list[SegmentSize] = []
    merged: list[int] = []
    for i, (size, delete, share) in enumerate(steps):
        segs.append(SegmentSize(f"n{i}", size, size))
        if delete and segs:  # some documents of the largest segment die
            victim = max(segs, key=lambda s: s.bytes)
            dead = int(victim.live_bytes * share)
            segs = [s for s in segs if s is not victim]
            segs.append(SegmentSize(victim.name, victim.bytes, victim.live_bytes - dead, docs=10,
                                    dead_docs=10 if dead == victim.live_bytes else int(10 * share)))
        segs = _settle(segs, SMALL, merged)
        total = sum(s.live_bytes for s in segs)
        assert len(segs) <= max_segments(total, SMALL)
        for t in {tier(s.live_bytes, SMALL) for s in segs if s.live_bytes * 2 < SMALL.max_segment_bytes}:
            assert sum(tier(s.live_bytes, SMALL) == t and s.live_bytes * 2 < SMALL.max_segment_bytes
                       for s in segs) <= SMALL.per_tier
        assert all(1 - s.live_bytes / s.bytes <= SMALL.deletes_allowed or not s.dead_docs for s in segs)
    assert all(m <= SMALL.max_segment_bytes for m in merged)


def test_default_bound_is_logarithmic_then_linear_in_max_segment():
    p = merge_policy.DEFAULT_POLICY
    assert max_segments(10 << 20, p) == max_segments(1 << 20, p)  # same tiers below the cap
    assert max_segments(700 * 3 << 20, p) <= 24 + 700 * 3 // 32 + 1  # a provincial archive


# -- segments on disk --------------------------------------------------------------------------

def _doc(i: int) -> str:
    return f"第{i}号材料。" + "对照检查发现的问题" * (3 + i % 7) + f"整改措施第{i}条，落实到位。"


def test_merges_keep_every_live_document_findable_and_drop_dead_ones(tmp_path):
    segs = SegmentSet(tmp_path / "segments")
    segs.policy = SMALL
    texts = {i: _doc(i) for i in range(1, 61)}
    for i in range(1, 61, 3):  # twenty commits of three documents
        nums = [i, i + 1, i + 2]
        segs.add(nums, [fold(texts[n]) for n in nums], [ingest.fingerprint_text(texts[n]) for n in nums])
    assert len(segs.segments) == 20
    live = set(texts) - {5, 6, 7, 30}
    merges = segs.maybe_merge(live, lambda n: ingest.fingerprint_text(texts[n]))
    assert merges >= 1
    total = sum(len(fold(texts[n]).encode()) + 1 for n in live)
    assert len(segs.segments) <= max_segments(total, SMALL)
    assert segs.indexed_docnums() == live
    for n in live:
        assert segs.find(f"第{n}号材料").docnums.tolist() == [n]
        assert segs.folded(n) == fold(texts[n])
        want = ingest.fingerprint_text(texts[n])
        got = segs.fingerprints(n)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    hits = segs.find("对照检查发现的问题")
    assert sorted(hits.docnums.tolist()) == sorted(live)
    assert {int(d): int(c) for d, c in zip(hits.docnums, hits.counts)} == {n: 3 + n % 7 for n in live}
    h, docs, _ = segs.postings(np.unique(ingest.fingerprint_text(texts[8])[0]))
    assert 8 in docs.tolist() and 6 not in docs.tolist()
    names = {p.name for p in (tmp_path / "segments").iterdir() if p.is_dir()}
    assert names == {s.name for s in segs.segments}  # merged-away folders are gone
    segs.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_many_single_adds_keep_segments_and_open_files_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(merge_policy, "DEFAULT_POLICY", SMALL)
    index = tmp_path / "index"
    files = tmp_path / "files"
    files.mkdir()
    with Library(index) as lib:
        for i in range(1, 41):
            path = files / f"{i:03d}.txt"  # distinct names: identity rules are tested elsewhere
            path.write_text(_doc(i), encoding="utf-8")
            assert lib.add([path]).count("added") == 1
        chars = sum(len(fold(_doc(i)).encode()) + 1 for i in range(1, 41))
        assert len(lib.segments.segments) <= max_segments(chars, SMALL) < 40
        assert len(lib) == 40
    before = _open_fds()
    with Library(index) as lib:
        assert lib.search("第17号材料", mode="phrase").total == 1
        assert lib.search("对照检查发现的问题", mode="words").total == 40
        opened = _open_fds() - before
        whoosh_segments = len(lib.words.ix._segments())
        mapped = sum(s.nbytes >= 2 << 20 for s in lib.segments.segments)
    assert opened <= 2 * mapped + 12  # one map of text, one of arrays; small segments: none
    assert whoosh_segments <= 12  # Whoosh's own merge policy keeps its segments few as well


def test_orphans_of_crashed_writers_are_reclaimed_by_the_next_writer(tmp_path, tiny_dir):
    index = tmp_path / "index"
    with Library(index) as lib:
        lib.add([tiny_dir])
        clean = sum(p.stat().st_size for p in index.rglob("*") if p.is_file())
        count = len(lib)
    # what killed writers leave: a half-written segment, a merged one never listed, a stale manifest
    block = os.urandom(1 << 20)
    for name in [".tmp-seg-0123456789ab", "seg-ba9876543210"]:
        folder = index / "segments" / name
        folder.mkdir()
        with open(folder / "text.bin", "wb") as fh:
            for _ in range(37):
                fh.write(block)
    (index / "segments" / ".manifest.json.deadbeef.tmp").write_text("{", encoding="utf-8")
    orphaned = sum(p.stat().st_size for p in index.rglob("*") if p.is_file())
    assert orphaned - clean >= 74_000_000  # as much as the issue saw
    (index / "dirty").unlink(missing_ok=True)  # even when no dirty marker was left behind
    with Library(index) as lib, lib.writer():
        pass
    after = sum(p.stat().st_size for p in index.rglob("*") if p.is_file())
    assert after < clean + (1 << 20)
    with Library(index) as lib:
        assert len(lib) == count and lib.search("政治站位", mode="phrase").total == 2


KILL_IN_MERGE = """
import os, signal, sys
from indexer import merge_policy, segments
from indexer.merge_policy import MergePolicy
merge_policy.DEFAULT_POLICY = MergePolicy(per_tier=3, floor_bytes=2_000, max_segment_bytes=40_000)
point = sys.argv[1]
real_write, real_commit = segments._write_segment, segments.SegmentSet._commit
def write(folder, docnums, *a, **k):
    if len(docnums) > 1 and point == "write":  # a merge, mid-way: its new segment half written
        os.makedirs(os.path.join(folder, ".tmp-seg-killed"), exist_ok=True)
        open(os.path.join(folder, ".tmp-seg-killed", "text.bin"), "wb").write(b"x" * 4096)
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write(folder, docnums, *a, **k)
def commit(self, names, next_docnum, drop=()):
    real_commit(self, names, next_docnum, drop=() if point == "drop" else drop)
    if drop and point in ("drop", "listed"):  # listed in the manifest; old folders not yet removed
        os.kill(os.getpid(), signal.SIGKILL)
segments._write_segment, segments.SegmentSet._commit = write, commit
from indexer.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("point", ["write", "drop"])
def test_sigkill_during_a_merge_loses_nothing_and_the_next_writer_completes_it(tmp_path, point, monkeypatch):
    monkeypatch.setattr(merge_policy, "DEFAULT_POLICY", SMALL)
    index = tmp_path / "index"
    files = []
    for i in range(1, 5):
        path = tmp_path / f"材料{i}.txt"
        path.write_text(_doc(i), encoding="utf-8")
        files.append(path)
    with Library(index) as lib:
        for path in files[:3]:  # three segments: the policy's limit for one tier
            lib.add([path])
        assert len(lib.segments.segments) == 3
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", KILL_IN_MERGE, point, "--index", str(index), "add", "-q",
                           str(files[3])], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    with Library(index) as lib:  # opens; the fourth material was committed before its merge
        assert len(lib) == 4
        for i in range(1, 5):
            assert lib.search(f"第{i}号材料", mode="phrase").total == 1
        with lib.writer():
            pass
        folders = {p.name for p in (index / "segments").iterdir() if p.is_dir()}
        assert folders == {s.name for s in lib.segments.segments}  # orphans reclaimed
        assert len(lib.segments.segments) <= 3  # the merge was completed
        assert lib.search("对照检查发现的问题", mode="phrase").total == 4


def test_segments_written_one_npy_file_per_array_still_open(tmp_path):
    from indexer import segments as segments_module

    segs = SegmentSet(tmp_path / "segments")
    texts = {i: _doc(i) for i in (1, 2, 3)}
    segs.add(list(texts), [fold(t) for t in texts.values()], [ingest.fingerprint_text(t) for t in texts.values()])
    folder = segs.segments[0].path
    for name, arr in segments_module._load_arrays(folder, mapped=False).items():
        np.save(folder / f"{name}.npy", arr)
    (folder / segments_module.ARRAYS).unlink()
    (folder / segments_module.LAYOUT).unlink()
    segs.close()
    segs = SegmentSet(tmp_path / "segments")
    assert segs.find("第2号材料").docnums.tolist() == [2]
    got = segs.fingerprints(3)
    assert np.array_equal(got[0], ingest.fingerprint_text(texts[3])[0])
    segs.close()


def test_a_large_segment_holds_two_open_files(tmp_path, monkeypatch):
    from indexer import segments as segments_module

    monkeypatch.setattr(segments_module, "IN_MEMORY_BELOW", 1)
    segs = SegmentSet(tmp_path / "segments")
    before = _open_fds()
    texts = {i: _doc(i) for i in range(1, 9)}
    segs.add(list(texts), [fold(t) for t in texts.values()], [ingest.fingerprint_text(t) for t in texts.values()])
    assert _open_fds() - before == 2
    assert segs.find("第8号材料").docnums.tolist() == [8]
    segs.close()


def test_ingest_never_prepares_more_than_a_window_ahead_of_the_writer():
    """A plain ``imap`` queued every prepared document while the writer was busy committing."""
    submitted: list[int] = []

    class Done:
        def __init__(self, value):
            self.value = value

        def get(self):
            return self.value

    class Pool:
        def apply_async(self, func, args):
            submitted.append(args[0])
            return Done(args[0] * 10)

    out = []
    for i, result in enumerate(ingest._imap_bounded(Pool(), list(range(1000)), 16), 1):
        out.append(result)
        assert len(submitted) <= i + 16
    assert out == [j * 10 for j in range(1000)]


def test_the_word_index_merges_in_tiers_too(tmp_path):
    """Whoosh's own policy merges only tiny segments: batches of a bulk add stayed one segment each."""
    from whoosh import fields, index

    from indexer.merge_policy import WORDS_POLICY, whoosh_merge

    ix = index.create_in(tmp_path, fields.Schema(id=fields.ID(stored=True, unique=True)))
    for batch in range(20):
        writer = ix.writer()
        for i in range(70):
            writer.add_document(id=f"{batch}-{i}")
        writer.commit(mergetype=whoosh_merge)
        assert len(ix._segments()) <= 2 * (WORDS_POLICY.per_tier + 1)  # two tiers: 70 and 700 documents
    for i in range(30):  # single adds, and deletions
        writer = ix.writer()
        writer.add_document(id=f"single-{i}")
        writer.delete_by_term("id", f"{i}-5")
        writer.commit(mergetype=whoosh_merge)
    assert len(ix._segments()) <= 3 * (WORDS_POLICY.per_tier + 1)
    with ix.searcher() as s:
        assert s.doc_count() == 20 * 70 + 30 - 20


def test_posting_figures_count_what_postings_would_return(sample_lib):
    """Documents and postings per hash among the counted documents, at most ``limit`` read per hash
    and segment: the figures of ``postings``, without building them."""
    segs = sample_lib.segments
    hashes = np.unique(np.concatenate([s.fp_hash[::7] for s in segs.segments] + [np.array([1, 2], np.uint64)]))
    rng = np.random.default_rng(3)
    for limit in (1, 2, 33):
        counted = rng.random(segs.next_docnum + 5) < 0.7
        h, docs, _ = segs.postings(hashes, limit)
        keep = counted[docs]
        h, docs = h[keep], docs[keep]
        df, counts = segs.posting_figures(hashes, limit, counted)
        at = np.searchsorted(hashes, h)
        assert counts.tolist() == np.bincount(at, minlength=len(hashes)).tolist()
        pairs = np.unique(np.stack([at, docs]), axis=1)
        assert df.tolist() == np.bincount(pairs[0], minlength=len(hashes)).tolist()
