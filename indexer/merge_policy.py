"""Which phrase segments to merge: a tiered policy in the spirit of Lucene's ``TieredMergePolicy``.

Every commit writes a new segment, so an index fed one upload at a time would hold one segment per
upload (each costing open files and a binary search per phrase), while merging everything into one
segment makes memory grow with the corpus. The policy sits in between:

- Segments are grouped into size tiers by their *live* bytes (dead documents do not count):
  tier 0 is everything below ``floor_bytes``, tier ``t`` holds sizes in
  ``[floor_bytes * per_tier**(t-1), floor_bytes * per_tier**t)``.
- When a tier holds more than ``per_tier`` segments, its smallest ones are merged into one, which
  lands in a higher tier. So each tier holds at most ``per_tier`` segments and the count grows with
  the logarithm of the corpus.
- No merge ever produces more than ``max_segment_bytes``; a segment already over half of that is
  *full* and only rewritten to drop deletions. Memory of a merge is therefore bounded by this knob,
  never by the corpus (beyond it the count grows by one segment per ``max_segment_bytes / 2``).
- A segment whose dead share exceeds ``deletes_allowed`` is rewritten without its dead documents.

``plan`` is a pure function of the segments' sizes; the caller executes the merges it returns, and
asks again (a merge may fill the next tier) until nothing is left to do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MergePolicy:
    """The knobs of the tiered merge policy; sizes are bytes of folded UTF-8 text."""

    per_tier: int = 8  # segments a tier may hold before its smallest are merged
    floor_bytes: int = 2 << 20  # smaller segments all count as one tier (one upload is ~10 KB)
    max_segment_bytes: int = 64 << 20  # no merge writes more: a merge peaks at roughly 8× this
    deletes_allowed: float = 0.3  # a segment with a larger share of dead bytes is rewritten

    def __post_init__(self) -> None:
        if self.per_tier < 2 or self.floor_bytes < 1 or self.max_segment_bytes < self.floor_bytes:
            raise ValueError("merge policy: per_tier >= 2 and floor_bytes <= max_segment_bytes")


DEFAULT_POLICY = MergePolicy()


@dataclass(frozen=True)
class SegmentSize:
    """What the policy knows of a segment: its name, total and live bytes, documents and dead ones."""

    name: str
    bytes: int
    live_bytes: int
    docs: int = 1
    dead_docs: int = 0


def tier(live_bytes: int, policy: MergePolicy = DEFAULT_POLICY) -> int:
    """The size tier of a segment holding ``live_bytes``."""
    if live_bytes < policy.floor_bytes:
        return 0
    return 1 + int(math.log(live_bytes / policy.floor_bytes, policy.per_tier) + 1e-9)


def plan(segments: Sequence[SegmentSize], policy: MergePolicy = DEFAULT_POLICY) -> list[list[str]]:
    """Disjoint merges to run now, each a list of segment names (a single name: rewrite it without
    its dead documents). Empty when the segments already satisfy the policy."""
    merges: list[list[str]] = []
    taken: set[str] = set()
    for seg in segments:
        dead_share = 1 - seg.live_bytes / max(seg.bytes, 1)
        if seg.dead_docs and (seg.dead_docs >= seg.docs or dead_share > policy.deletes_allowed):
            merges.append([seg.name])
            taken.add(seg.name)
    tiers: dict[int, list[SegmentSize]] = {}
    for seg in segments:
        if seg.name not in taken and seg.live_bytes * 2 < policy.max_segment_bytes:
            tiers.setdefault(tier(seg.live_bytes, policy), []).append(seg)
    for _, members in sorted(tiers.items()):
        if len(members) <= policy.per_tier:
            continue
        members.sort(key=lambda s: (s.live_bytes, s.name))
        # the smallest that fit under the cap; ``per_tier + 1`` of them at most, so a merge is bounded
        chosen, total = [], 0
        for seg in members[: policy.per_tier + 1]:
            if total + seg.live_bytes > policy.max_segment_bytes:
                break
            chosen.append(seg.name)
            total += seg.live_bytes
        if len(chosen) >= 2:
            merges.append(chosen)
    return merges


def max_segments(corpus_bytes: int, policy: MergePolicy = DEFAULT_POLICY) -> int:
    """An upper bound on the live segments of a corpus of ``corpus_bytes`` under ``policy`` (after its
    merges ran): ``per_tier`` in each non-full tier, plus the full segments."""
    top = tier(max(policy.max_segment_bytes // 2 - 1, 0), policy)
    full = corpus_bytes // max(policy.max_segment_bytes // 2, 1)
    return policy.per_tier * (top + 1) + full


# The word index (Whoosh) has segments too: one per commit. Whoosh's own policy merges only small
# ones, so bulk adds left one Whoosh segment per batch; the same tiers, counted in documents.
WORDS_POLICY = MergePolicy(per_tier=8, floor_bytes=64, max_segment_bytes=64_000, deletes_allowed=0.3)


def whoosh_merge(writer, segments: list) -> list:
    """A Whoosh ``mergetype`` (``writer.commit(mergetype=whoosh_merge)``): the segments ``plan`` picks
    under ``WORDS_POLICY``, sizes counted in documents, are merged into the segment being written
    (Whoosh streams them through its pool, whose memory ``limitmb`` bounds); returns the others."""
    from whoosh.reading import SegmentReader

    sizes = [SegmentSize(str(i), s.doc_count_all(), s.doc_count(), docs=s.doc_count_all(),
                         dead_docs=s.deleted_count()) for i, s in enumerate(segments)]
    chosen = {int(name) for merge in plan(sizes, WORDS_POLICY) for name in merge}
    for i in sorted(chosen):
        reader = SegmentReader(writer.storage, writer.schema, segments[i])
        writer.add_reader(reader)
        reader.close()
    return [s for i, s in enumerate(segments) if i not in chosen]
