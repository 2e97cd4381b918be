"""Copy detection (抄袭检测): which passages of a material were copied from which other materials.

The pipeline, one small module per noun:

- ``normalize``: the matching view of a text (width, traditional→simplified, no spaces or
  punctuation) with an offset map back to the original text.
- ``fingerprint``: hashed character k-grams and winnowing; deterministic hashes the index stores.
- ``postings``: the inverted index of fingerprints and each pair of documents' seeds.
- ``boilerplate``: fingerprints in many documents or in the stock-phrase list (套话).
- ``units`` / ``lexicon`` / ``sentences``: the second seeding stage for rewritten copies — sentence
  units as bags of bigrams and 同义词词林 synonym classes, compared by tf-idf cosine and Dice, with a
  sketch index for the corpus's candidate pairs.
- ``cluster`` / ``align``: seeds of both stages to copied passages (shuffled sentences and edits included).
- ``corpus``: every pair of a corpus; ``report``: one document against the library (复制比).

Every tuning knob lives in ``options.DetectOptions``.
"""

from indexer.detect.align import Passage, align_pair
from indexer.detect.boilerplate import Boilerplate
from indexer.detect.corpus import CompareResult, PairResult, compare_corpus
from indexer.detect.fingerprint import fingerprints, kgram_hashes
from indexer.detect.normalize import Normalized, char_count, normalize
from indexer.detect.options import DEFAULTS, DetectOptions
from indexer.detect.postings import FingerprintIndex
from indexer.detect.report import CopyReport, DocumentMatches, Source, copy_report, match_document

__all__ = [
    "DEFAULTS", "Boilerplate", "CompareResult", "CopyReport", "DetectOptions", "DocumentMatches",
    "FingerprintIndex", "Normalized", "PairResult", "Passage", "Source", "align_pair", "char_count",
    "compare_corpus", "copy_report", "fingerprints", "kgram_hashes", "match_document", "normalize",
]
