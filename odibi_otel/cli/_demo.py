"""The demo pipeline behind ``odibi-otel demo``: ``examples/customer_pipeline`` with fresh data.

The example lives in the repository's ``examples/customer_pipeline`` folder; wheels carry a copy
as ``odibi_otel/_demo``. Its raw CSV files are generated deterministically into ``<out>/raw`` and
the pipeline writes its tables under ``<out>/data``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from odibi_otel.errors import OdibiError
from odibi_otel.pipeline.pipeline_file import PipelineDefinition, load_pipeline

__all__ = ["DEMO_FILES", "demo_folder", "load_demo_pipeline"]


def demo_folder() -> Path:
    """The folder holding the demo's ``pipeline.yaml``, ``transforms.py`` and ``generate_data.py``."""
    package = Path(__file__).resolve().parents[1]  # odibi_otel/
    for candidate in (package / "_demo", package.parent / "examples" / "customer_pipeline"):
        if (candidate / "pipeline.yaml").is_file():
            return candidate
    raise OdibiError("the demo pipeline files are not installed (examples/customer_pipeline)")


#: The demo's pipeline file per engine.
DEMO_FILES = {"pandas": "pipeline.yaml", "spark": "pipeline_spark.yaml"}


def load_demo_pipeline(out_dir: str | os.PathLike[str], engine: str = "pandas") -> PipelineDefinition:
    """Generate the demo's raw data into ``out_dir/raw`` and load its pipeline for ``engine``."""
    folder = demo_folder()
    out = Path(out_dir).resolve()
    spec = importlib.util.spec_from_file_location("odibi_otel_demo_data", folder / "generate_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    module.generate(out / "raw")
    return load_pipeline(
        folder / DEMO_FILES[engine], {"raw_dir": str(out / "raw"), "out_dir": str(out / "data")}
    )
