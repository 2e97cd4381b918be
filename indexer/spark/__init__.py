"""The corpus compare on Apache Spark (``pip install '.[spark]'``, Java 17).

``indexer.spark.job`` runs the embedded pipeline of ``indexer.detect`` stage by stage on a cluster
(``spark-submit indexer/spark/job.py`` or ``indexer compare --engine spark``); ``stages`` holds the
per-partition work, ``sources`` the readers of folders, Parquet datasets and indexes, ``result`` the
result on disk and its import into an index (``indexer compare --import``), ``session`` the Spark
session and the settings people give it, ``daemon`` the Python daemon whose workers fork warm,
``stagelog`` each stage's time and figures.
Nothing here imports pyspark until a job runs, so the package is importable without it.
"""
