"""The story of a Spark run: job and stage bars under their node, Spark figures, "not computed".

The same page comes from the tracker's lineage file and from the OTLP/JSON telemetry file alone
(byte for byte), as for pandas runs: the jobs travel in the steps' lineage log events.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from test_spark_engine import _steps

from odibi_otel import Orchestrator, StoryGenerator
from odibi_otel.otel.otlp_json import OtlpJsonFile

pytestmark = [pytest.mark.spark, pytest.mark.integration]

#: A waterfall row's label: (work marker, depth, target card, name).
WATERFALL_LABEL = (
    r'<div class="wf-row tone-\w+( is-work)?">\s*<div class="wf-label"(?: style="--depth:(\d)")?[^>]*>'
    r'<a href="#(step-\d+)">([^<]+)</a>'
)


@pytest.fixture(scope="module")
def spark_run(spark_session: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("spark_story")
    telemetry = OtlpJsonFile(folder / "run.otlp.jsonl", truncate=True)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(telemetry.span_exporter))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(telemetry.log_exporter))
    steps = _steps(folder)[:2] + _steps(folder)[2:]  # read, transform, sql, write
    never_used = _steps(folder)[1]
    steps.append(
        type(never_used)(
            name="unused_copy",
            layer="transform",
            type="function",
            value=never_used.value,
            inputs=["raw"],
            outputs=["unused"],
        )
    )
    result = Orchestrator(
        steps,
        engine_type="spark",
        spark=spark_session,
        enable_tracker=True,
        pipeline_name="spark_story",
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
    ).execute()
    assert result["success"], result["errors"]
    result["tracker"].export_lineage(folder / "lineage.json")
    tracer_provider.shutdown()
    logger_provider.shutdown()
    page = StoryGenerator().generate_story(folder / "lineage.json", folder / "story.html").read_text("utf-8")
    return folder / "lineage.json", folder / "run.otlp.jsonl", page


def _card(page: str, name: str) -> str:
    start = page.index(f'data-step="{name}"') if f'data-step="{name}"' in page else page.index(f">{name}<")
    return page[start : start + 6000]


def test_the_waterfall_has_each_job_and_stage_under_its_node(spark_run: tuple[Path, Path, str]) -> None:
    _, _, page = spark_run
    labels = re.findall(WATERFALL_LABEL, page)
    names = [(depth or "0", target, name) for _, depth, target, name in labels]
    store = next(target for depth, target, name in names if name == "store")
    under_store = [(depth, name) for depth, target, name in names if target == store and depth != "0"]
    assert under_store and under_store[0][0] == "1" and under_store[0][1].startswith("spark job ")
    assert any(depth == "2" and name.startswith("spark stage ") for depth, name in under_store)


def test_cards_show_spark_figures_and_say_not_computed(spark_run: tuple[Path, Path, str]) -> None:
    _, _, page = spark_run
    assert 'aria-label="Spark figures"' in page
    figures = page[page.index('aria-label="Spark figures"') :][:2000]
    assert "Spark jobs" in figures and "Tasks" in figures and "Records written" in figures
    assert "Shuffle written" in figures
    # the unused branch was never computed: its card says so instead of a 0
    assert "rows not computed" in page or "Rows not computed" in page
    assert ">0 rows" not in page


def test_the_story_rebuilt_from_the_telemetry_file_is_the_same_page(
    spark_run: tuple[Path, Path, str],
) -> None:
    _, telemetry, page = spark_run
    assert StoryGenerator().render_html(telemetry) == page
