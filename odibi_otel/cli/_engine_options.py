"""The options of ``run`` and ``demo`` that choose the engine (docs/spark.md)."""

from __future__ import annotations

import argparse

__all__ = ["add_engine_options"]


def add_engine_options(command: argparse.ArgumentParser) -> None:
    """``--engine``, ``--spark-master``, ``--spark-conf`` (docs/spark.md)."""
    spark = command.add_argument_group("engine")
    spark.add_argument(
        "--engine",
        choices=["pandas", "spark"],
        default=None,
        help="the engine that runs the pipeline (default: the file's engine:, else pandas)",
    )
    spark.add_argument(
        "--spark-master",
        default=None,
        metavar="URL",
        help="Spark cluster of the session: local[N], spark://host:port, yarn, k8s://... "
        "(default: the file's, else SPARK_MASTER, else local[*])",
    )
    spark.add_argument(
        "--materialize",
        action="store_true",
        help="Spark: cache and count every step's outputs at its node (per-node timings and rows, "
        "one more job per output)",
    )
    spark.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting of the session (repeatable)",
    )
