"""The ``odibi-otel`` command line (run, validate, story, demo) and :func:`run_to_folder`, which
runs a pipeline with every artifact written to one folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.cli.main import main
    from odibi_otel.cli.run_folder import ARTIFACTS, OutputFolderError, RunReport, run_to_folder

__all__ = ["ARTIFACTS", "OutputFolderError", "RunReport", "main", "run_to_folder"]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "main": "odibi_otel.cli.main",
        **dict.fromkeys(
            ("ARTIFACTS", "OutputFolderError", "RunReport", "run_to_folder"), "odibi_otel.cli.run_folder"
        ),
    },
)
