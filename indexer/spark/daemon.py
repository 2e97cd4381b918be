"""Spark's Python daemon with the detection code already loaded (``spark.python.daemon.module``).

Spark starts one daemon per executor and forks a Python worker from it for every task slot (and
again whenever a worker was not reused). A fresh worker pays for the imports and for the tables the
detection code builds on first use: the normalization's code-point map (~3 s of CPU), 同义词词林, the
stock-phrase matchers, the readers' libraries. Loading them here, before the daemon forks, gives
every worker a warm copy for free (copy-on-write), as ``indexer add`` preloads its readers.

The daemon must not start threads before it forks: numpy's BLAS is kept to one thread (the stages
sort and count; they do no linear algebra).
"""

from __future__ import annotations

import os


def warm() -> None:
    """Run a small document through every stage function once, so each lazy table is built."""
    from indexer import sandbox
    from indexer.copies import document_figures
    from indexer.detect.boilerplate import text_stock_mask
    from indexer.detect.options import DEFAULTS
    from indexer.detect.units import features
    from indexer.spark import stages

    sandbox.preload()
    text = "会前，本人认真学习了党章党规和上级有关文件精神，广泛征求了意见建议。第二，帮助困难群众。\n"
    stages.fingerprint_block([(0, "warm", text)], DEFAULTS)
    norm = stages.normalize(text)
    features(norm, DEFAULTS)
    text_stock_mask(norm, DEFAULTS)
    document_figures(norm, DEFAULTS)


if __name__ == "__main__":
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    warm()
    from pyspark.daemon import manager

    manager()
