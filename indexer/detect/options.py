"""Every tuning knob of copy detection, with its default, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DetectOptions:
    """Tuning of the copy-detection pipeline; lengths count normalized characters."""

    k: int = 9  # characters per hashed k-gram
    window: int = 7  # winnowing window: runs of k + window - 1 shared characters always match
    min_docs: int = 5  # a fingerprint in at least this many documents is boilerplate (套话)
    max_postings: int = 32  # a fingerprint seen more often than this in the corpus is boilerplate too
    use_stock_phrases: bool = True  # the shipped list of official slogans never counts as copying
    stock_phrases: tuple[str, ...] = ()  # the user's own stock phrases, on top of the shipped list
    min_seeds: int = 2  # shared fingerprints a passage needs
    merge_gap: int = 80  # seeds closer than this in both documents belong to one passage
    fine_k: int = 5  # around found passages, runs of these short k-grams bring in short sentences (0: off)
    fine_min_run: int = 8  # shortest such run of equal characters
    fine_margin: int = 40  # how far around a passage such runs are looked for
    extend_window: int = 48  # how far an edge extension looks past the outermost seed
    extend_drop: int = 8  # an edge extension stops when its score falls this far below the best
    min_chars: int = 24  # shortest passage reported, in each document
    min_similarity: float = 0.5  # weakest passage reported (Passage.similarity)
    df_jump: float = 1.5  # a reported boilerplate passage ends where document frequency changes this much
    max_boilerplate_share: float = 0.8  # a passage this much boilerplate in both documents is dropped
    min_boilerplate_chars: int = 9  # shortest boilerplate passage reported: one k-gram (short headings)


DEFAULTS = DetectOptions()
