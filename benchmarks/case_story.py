"""Case 4: story scale: a 2,000-node run turned into the HTML story.

The run: 50 parallel chains of 40 steps under one source (2,000 nodes; every step keeps a
100-row frame with a 5-row sample), tracker on, spans and lineage log events written to an
OTLP/JSON lines file. Then, each timed several times:

* story generation from the lineage file (``StoryGenerator().generate_story(lineage.json)``),
  and the HTML's size;
* rebuilding the story from the span/log file (``generate_story(run.otlp.jsonl)``: decode,
  rebuild the lineage, render).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.case_tiny_nodes import make_source, trivial
from benchmarks.common import CaseResult, Measurement, Settings, Telemetry, everything_on, format_bytes

TARGET_STORY_S = 3.0
TARGET_HTML_MB = 5.0
TARGET_REBUILD_S = 5.0
BRANCHES = 50


def story_steps(nodes: int) -> list[Any]:
    from odibi_otel import Step

    branches = min(BRANCHES, nodes - 1)
    steps = [Step("source", "ingest", "function", make_source, outputs=["d0"])]
    for index in range(1, nodes):
        branch, depth = (index - 1) % branches, (index - 1) // branches
        parent = 0 if depth == 0 else index - branches
        layer = "transform" if depth % 2 == 0 else "publish"
        steps.append(
            Step(
                f"b{branch:02d}_step{depth:03d}",
                layer,
                "function",
                trivial,
                inputs=[f"d{parent}"],
                outputs=[f"d{index}"],
            )
        )
    return steps


def run(settings: Settings) -> CaseResult:
    from odibi_otel import StoryGenerator

    nodes = 60 if settings.quick else 2_000
    repeats = 1 if settings.quick else 3
    result = CaseResult(4, f"Story scale: {nodes:,}-node run (50 chains under one source), tracker on")
    telemetry_path = settings.workdir / "case4.otlp.jsonl"
    telemetry = Telemetry(telemetry_path)
    orchestrator = everything_on(story_steps(nodes), telemetry, tracker=True, pipeline_name="story-scale")
    started = time.perf_counter()
    outcome = orchestrator.execute()
    telemetry.flush()
    result.facts["pipeline run incl. export"] = f"{(time.perf_counter() - started):.2f} s"
    telemetry.shutdown()
    lineage = settings.workdir / "case4-lineage.json"
    outcome["tracker"].export_lineage(lineage)
    result.facts["lineage file"] = format_bytes(lineage.stat().st_size)
    result.facts["span/log file"] = format_bytes(telemetry_path.stat().st_size)

    generator = StoryGenerator()
    story_times: list[float] = []
    rebuild_times: list[float] = []
    html_mb: list[float] = []
    for attempt in range(repeats):
        out = settings.workdir / f"case4-story-{attempt}.html"
        begin = time.perf_counter()
        generator.generate_story(lineage, out)
        story_times.append(time.perf_counter() - begin)
        html_mb.append(out.stat().st_size / 1e6)
        rebuilt = settings.workdir / f"case4-rebuilt-{attempt}.html"
        begin = time.perf_counter()
        generator.generate_story(telemetry_path, rebuilt)
        rebuild_times.append(time.perf_counter() - begin)
        rebuilt_mb = rebuilt.stat().st_size / 1e6
    result.facts["rebuilt story size"] = f"{rebuilt_mb:.2f} MB"
    result.add(Measurement("story generation from the lineage file", "s", story_times, target=TARGET_STORY_S))
    result.add(Measurement("story HTML size", "MB", html_mb, target=TARGET_HTML_MB, digits=2))
    result.add(
        Measurement("story rebuilt from the span/log file", "s", rebuild_times, target=TARGET_REBUILD_S)
    )
    return result
