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
    # -- reports (issue 10): adaptive boilerplate threshold and the copying / 少量雷同 tiers
    min_docs_share: float = 0.05  # in a corpus of min_docs_from or more, this share of documents ...
    min_docs_floor: int = 3  # ... (at least this many) is enough: a template 3 of 50 materials carry
    min_docs_from: int = 40  # smaller archives cannot tell a template from a copy passed round: min_docs
    # A pair is copying when it shares this many substantive characters (stock text and headings left
    # out) and this share of the smaller material; weaker pairs are 少量雷同. Chosen on make_corpus
    # corpora (synthetic and --base over the seeds, bench/report_eval.py): the shortest planted copy has
    # 33 such characters, while template leftovers share at most 25; any share floor (even 2 %)
    # demotes real short copies in long materials (plagdet of `pairs` 0.996 -> 0.908), so it is off.
    min_copy_chars: int = 30
    min_copy_share: float = 0.0
    # -- the sentence stage (issue 11): seeds that survive synonym spinning, clause swaps, OCR noise
    sentences: bool = True  # the second seeding stage on sentence units (False: winnowing seeds only)
    unit_min_chars: int = 8  # a shorter sentence joins the next one
    unit_max_chars: int = 80  # a longer sentence is cut at its clauses
    unit_synonyms: bool = True  # 同义词词林 words count by their synonym classes
    unit_cosine: float = 0.45  # tf-idf cosine of two units' feature bags needed for a seed ...
    unit_dice: float = 0.35  # ... and Dice of their feature sets (both, as in PAN 2014)
    unit_max_boilerplate: float = 0.5  # a unit this much boilerplate seeds nothing
    # Candidate index: each document stores its units' unit_sketch_stored lowest-hash features (at
    # ingest); a compare drops those in more than unit_max_postings units' stored sketches or in only
    # one, and keeps each unit's unit_sketch rarest of the rest (fewest postings, then lowest hash).
    # Before, each unit kept its 8 lowest and the cap dropped most of them: on c10k-s11's first 2,000
    # materials 89 % of those are over it. bench/sketch_evidence.py, candidate pairs and heavy copies
    # whose pair is a candidate, "8 lowest" -> 24 stored, 6 used: rw200s1..4 11,167 -> 11,439 and
    # 151 -> 162 of 164; held-out rw240s31h 3,980 -> 4,282 and 37 -> 41 of 43; c200s1+s7 6,787 ->
    # 8,712 and 86 -> 90 of 90; c10k-s11 2,000 materials 5,568 -> 3,099 and 19 -> 32 of 38 (a larger
    # corpus has more features over the cap: the selection helps most there). Choosing the lowest
    # hashes instead of the rarest, 5 used: 12,610 / 4,644 / 8,964 / 2,912 candidates, 161 / 41 / 89
    # / 32 reached, 1.7 times the unit-pair rows on the 200-document corpora; rarest, 5 used: 8,648 /
    # 3,406 / 6,149 / 2,741 but 159 / 40 / 89 / 32. compare_eval heavy recall, lowest-5 -> rarest-6:
    # rw200s2h 0.968 -> 0.993, rw240s31h 0.930 -> 0.929, the others within 0.001, precision equal or
    # higher. 16 stored: 6,168 candidates and 27 reached on 2,000 materials; 32 stored: about as 24
    # for a third more stored rows.
    unit_sketch_stored: int = 24
    unit_sketch: int = 6  # features per unit in the corpus-wide candidate index
    unit_max_postings: int = 48  # a sketch feature in more units than this finds no candidates
    unit_sketch_shared: int = 2  # sketch features two units must share to be a candidate unit pair
    # A single unit pair makes its documents a candidate pair when it shares unit_sketch_shared sketch
    # features of which one is in at most unit_rare_postings units (in a corpus of unit_rare_from
    # documents or more: in a small one every feature is that rare), or unit_solo_shared features of
    # which one is in at most unit_solo_postings units. On the labelled unit pairs of rw200s1..4
    # (bench/sketch_evidence.py), against "three shared features" alone: 10 more of 164 heavy copies
    # reach a candidate pair (single rewritten sentences), with 2 % fewer candidate pairs, since three
    # shared features all in more than 24 units are mostly same-genre stock phrasing.
    unit_solo_shared: int = 3
    unit_rare_postings: int = 3
    unit_rare_from: int = 100
    unit_solo_postings: int = 24
    unit_min_pairs: int = 2  # unit pairs two documents need to share to become a candidate pair ...
    unit_gap: int = 2  # ... each at most this many units after the last in both documents
    unit_merge_gap: int = 40  # a unit seed joins seeds this close in both documents (one missed sentence)
    unit_trim_slack: int = 6  # a unit seed drops an unmatched head or tail longer than this
    # A unit seed this long in both documents is a passage on its own (a long sentence copied alone and
    # rewritten); shorter ones need another seed. bench/compare_eval.py, 40 -> 36: heavy recall
    # rw200s2h 0.944 -> 0.968, rw200s3 0.967 -> 0.986, the other rewrite corpora unchanged, precision
    # unchanged everywhere (within 0.0003), c200s1/s7 unchanged; 32: c200s1 precision 0.981 -> 0.965
    # (plagdet under winnow-only's) and rw240s31h heavy recall 0.930 -> 0.907 (false lone units).
    unit_solo_chars: int = 36
    # Weakest passage reported when sentence units are among its seeds (min_similarity otherwise): a
    # heavy rewrite (every word spun, clauses swapped, fillers, OCR) aligns in order at 0.40-0.50 although
    # its units pass cosine and Dice. 0.5 -> 0.4, bench/compare_eval.py heavy recall: rw200s1 0.906 ->
    # 0.932, rw200s2h 0.919 -> 0.943, held-out rw240s31h 0.842 -> 0.859, rw200s3/s4h unchanged;
    # precision unchanged but rw200s4h 0.998 -> 0.992 (one stock phrase shared by two babbled sentences);
    # c200s1/c200s7 unchanged. At 0.45 only the held-out corpus gained.
    unit_min_similarity: float = 0.4
    unit_check_sources: int = 32  # a report looks at most this many single-seed sources with the stage


DEFAULTS = DetectOptions()
