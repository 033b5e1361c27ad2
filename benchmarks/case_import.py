"""Case 6: what ``import odibi_otel`` adds over ``import pandas``.

Each sample is a fresh interpreter that imports pandas, then odibi_otel, timing both with
``time.perf_counter`` (so both imports are measured in the same process, pandas first). Shown
too: the cost of going on to import what a run needs (``Orchestrator``, ``Step``) and everything
(MetricsManager, EventBus, StoryGenerator, the file exporter); those load on first use. One
``-X importtime`` run lists the slowest modules imported by ``import odibi_otel``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.common import CaseResult, Measurement, Settings

TARGET_IMPORT_MS = 40.0

CHILD = """
import json, time
t0 = time.perf_counter()
import pandas
t1 = time.perf_counter()
import odibi_otel
t2 = time.perf_counter()
from odibi_otel import Orchestrator, Step
t3 = time.perf_counter()
from odibi_otel import EventBus, MetricsManager, StoryGenerator
from odibi_otel.otel.otlp_json import OtlpJsonFile
t4 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2, t4 - t3]))
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def top_imports(cwd: str, limit: int = 8) -> list[str]:
    """The slowest modules (self time) that ``import odibi_otel`` loads after pandas."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pandas; import odibi_otel"],
        capture_output=True,
        text=True,
        env=_child_env(),
        cwd=cwd,
        check=True,
    )
    lines = completed.stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if line.rstrip().endswith("| pandas")), -1)
    rows: list[tuple[int, int, str]] = []
    for line in lines[start + 1 :]:
        if not line.startswith("import time:"):
            continue
        parts = line.split("|")
        try:
            self_us, cumulative_us = int(parts[0].split(":")[1]), int(parts[1])
        except (ValueError, IndexError):
            continue
        rows.append((self_us, cumulative_us, parts[2].rstrip()))
    rows.sort(reverse=True)
    return [f"{name.strip()} {self_us / 1000:.1f} ms self" for self_us, _, name in rows[:limit]]


def run(settings: Settings) -> CaseResult:
    samples = 2 if settings.quick else max(settings.pairs, 15)
    result = CaseResult(6, "Import time: import odibi_otel over import pandas (fresh interpreters)")
    cwd = os.fspath(settings.workdir)
    pandas_ms: list[float] = []
    odibi_ms: list[float] = []
    run_ms: list[float] = []
    rest_ms: list[float] = []
    for _ in range(samples):
        completed = subprocess.run(
            [sys.executable, "-c", CHILD],
            capture_output=True,
            text=True,
            env=_child_env(),
            cwd=cwd,  # not the repository root: "-c" puts the working folder first on sys.path
            check=True,
        )
        pandas_s, odibi_s, run_s, rest_s = json.loads(completed.stdout.strip().splitlines()[-1])
        pandas_ms.append(pandas_s * 1000)
        odibi_ms.append(odibi_s * 1000)
        run_ms.append(run_s * 1000)
        rest_ms.append(rest_s * 1000)
    result.add(
        Measurement("import odibi_otel (after pandas)", "ms", odibi_ms, target=TARGET_IMPORT_MS, digits=1)
    )
    result.add(Measurement("import pandas (reference)", "ms", pandas_ms, comparison=None, digits=1))
    result.add(
        Measurement(
            "then: from odibi_otel import Orchestrator, Step", "ms", run_ms, comparison=None, digits=1
        )
    )
    result.add(
        Measurement(
            "then: EventBus, MetricsManager, StoryGenerator, OtlpJsonFile",
            "ms",
            rest_ms,
            comparison=None,
            digits=1,
        )
    )
    result.facts["slowest modules of import odibi_otel"] = "; ".join(top_imports(cwd)) or "none"
    return result
