"""StoryGenerator end to end: a real run's lineage (and its OTLP/JSON span/log file) to HTML.

The run has a failing node (fail_fast=False), a node skipped because of it, a filter that drops
rows, a schema change and an HTML payload in a sample value. Each test checks the written page.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import odibi_otel
from odibi_otel import EventBus, Orchestrator, Step
from odibi_otel.errors import StoryInputError
from odibi_otel.otel.otlp_json import OtlpJsonFile
from odibi_otel.story.generator import KIND_CODES, StoryGenerator, script_json

PAYLOAD = "<script>window.__xss=1</script>"
ERROR_MESSAGE = "amount <b>negative</b> for id 2"
STEP_NAMES = ["read_customers", "clean", "validate", "publish", "write_clean"]


def clean(customers: pd.DataFrame) -> pd.DataFrame:
    """Drops a column, changes a dtype, adds a column and filters a row out."""
    frame = customers[customers["amount"] > 0].drop(columns=["email"])
    return frame.assign(id=frame["id"].astype(str), amount_x2=frame["amount"] * 2)


def validate(customers: pd.DataFrame) -> pd.DataFrame:
    raise ValueError(ERROR_MESSAGE)


def publish(validated: pd.DataFrame) -> pd.DataFrame:
    return validated


@dataclass(frozen=True)
class Run:
    result: dict[str, Any]
    lineage: Path
    telemetry: Path
    folder: Path


def pipeline_steps(folder: Path) -> list[Step]:
    pd.DataFrame(
        {
            "id": [1, 2, 3],
            "name": [PAYLOAD, "Bob", "Carol"],
            "email": ["a@example.com", "b@example.com", "c@example.com"],
            "amount": [10.5, -3.0, 7.0],
        }
    ).to_csv(folder / "customers.csv", index=False)
    return [
        Step("read_customers", "ingest", "read", str(folder / "customers.csv"), outputs=["customers"]),
        Step("clean", "transform", "function", clean, inputs=["customers"], outputs=["clean"]),
        Step("validate", "quality", "function", validate, inputs=["customers"], outputs=["validated"]),
        Step("publish", "publish", "function", publish, inputs=["validated"], outputs=["published"]),
        Step("write_clean", "store", "write", str(folder / "clean.csv"), inputs=["clean"]),
    ]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("story_run")
    telemetry = OtlpJsonFile(folder / "run.otlp.jsonl", truncate=True)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(telemetry.span_exporter))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(telemetry.log_exporter))
    result = Orchestrator(
        pipeline_steps(folder),
        enable_tracker=True,
        fail_fast=False,
        max_workers=2,
        pipeline_name="customer_pipeline",
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
    ).execute()
    result["tracker"].export_lineage(folder / "lineage.json")
    tracer_provider.shutdown()
    logger_provider.shutdown()
    yield Run(result, folder / "lineage.json", folder / "run.otlp.jsonl", folder)


@pytest.fixture(scope="module")
def page(run: Run) -> str:
    output = StoryGenerator().generate_story(run.lineage, run.folder / "story.html")
    return output.read_text("utf-8")


def cards(page: str) -> dict[str, str]:
    """Each step card's HTML by step name (data-name, unescaped)."""
    found = re.findall(r'(<article class="card[^>]*data-name="([^"]*)".*?</article>)', page, flags=re.S)
    return {html.unescape(name): body for body, name in found}


def card_ids(page: str) -> dict[str, str]:
    """Each step card's id by step name."""
    found = re.findall(r'<article class="card[^>]* id="([^"]*)" data-name="([^"]*)"', page)
    return {html.unescape(name): card_id for card_id, name in found}


def page_data(page: str) -> dict[str, Any]:
    """The page's JSON data block (schema and sample tables), parsed."""
    blocks = re.findall(r'<script type="application/json" id="story-data">(.*?)</script>', page, flags=re.S)
    assert len(blocks) == 1
    data: dict[str, Any] = json.loads(blocks[0])
    return data


def samples(page: str, name: str, role: str) -> list[dict[str, Any]]:
    """The ``role`` ("before"/"after") snapshots of step ``name`` as the page's script sees them."""
    data = page_data(page)
    entry = data["cards"].get(card_ids(page)[name], {})
    found = []
    for index in entry.get(role, []):
        key, summary, table = data["snapshots"][index]
        found.append(
            {"key": key, "summary": summary, "table": data["tables"][table] if table is not None else None}
        )
    return found


def executable_scripts(page: str) -> list[str]:
    """The text of every ``<script>`` that runs (not the JSON data block)."""
    return re.findall(r"<script>(.*?)</script>", page, flags=re.S)


# -- content ---------------------------------------------------------------------------------------


def test_the_run_is_what_the_story_expects(run: Run) -> None:
    assert run.result["failed_nodes"] == ["validate"]
    assert run.result["skipped_nodes"] == ["publish"]


def test_header_names_the_pipeline_status_and_counts(page: str, run: Run) -> None:
    assert "<title>customer_pipeline · execution story</title>" in page
    assert "<dd>customer_pipeline</dd>" in page
    assert re.search(r'class="badge tone-failed">.*?failed</span>', page)
    for count in ("3 success", "1 failed", "1 skipped"):
        assert count in page
    assert run.result["trace_id"] in page
    assert "3 → 2" in page  # rows in (read) → out (write)


def test_one_card_per_step_in_pipeline_order(page: str) -> None:
    found = cards(page)
    assert list(found) == STEP_NAMES
    for number, name in enumerate(STEP_NAMES, start=1):
        assert found[name].startswith('<article class="card tone-')
        assert f'id="step-{number}" data-name="{name}"' in found[name]
        assert f"<h3>{name}</h3>" in found[name]
    assert "tone-failed" in found["validate"] and "tone-skipped" in found["publish"]
    assert "Not run (skipped)" in found["publish"]


def test_failed_card_shows_the_escaped_error_and_traceback(page: str) -> None:
    card = cards(page)["validate"]
    assert '<div class="etype">ValueError</div>' in card
    assert html.escape(ERROR_MESSAGE, quote=False) in card
    assert ERROR_MESSAGE not in page
    assert "<summary>Traceback</summary>" in card and "Traceback (most recent call last)" in card


def test_schema_markers_and_row_delta(page: str) -> None:
    card = cards(page)["clean"]
    data = page_data(page)
    schema = data["schemas"][data["cards"][card_ids(page)["clean"]]["schema"]]
    assert {column: marker for marker, column, _, _ in schema} == {
        "id": "changed",
        "name": "same",
        "amount": "same",
        "amount_x2": "added",
        "email": "removed",
    }
    assert ["changed", "id", "int64", "str"] in schema
    assert ["added", "amount_x2", None, "float64"] in schema
    assert ["removed", "email", "str", None] in schema
    assert '<details class="collapsible schema-block" open>' in card
    assert "+1 added · -1 removed · ~1 changed" in card
    assert "1 row removed" in card and "-1 rows" not in card and "1 rows" not in card
    assert "3 rows · 4 columns" in card and "2 rows · 4 columns" in card


def test_sample_values_are_in_the_data_block_and_escaped(page: str) -> None:
    (after,) = samples(page, "read_customers", "after")
    table = after["table"]
    assert after["key"] == "customers" and after["summary"].startswith("3 rows · 4 columns")
    assert table["columns"] == ["id", "name", "email", "amount"]
    assert table["rows"][0] == ["1", PAYLOAD, "a@example.com", "10.5"]
    assert table["kinds"][0] == "".join(KIND_CODES[kind] for kind in ("num", "str", "str", "num"))
    assert PAYLOAD not in page and "\\u003cscript\\u003ewindow.__xss=1\\u003c/script\\u003e" in page
    assert page.count("<script") == 2  # the page's own script and its JSON data block
    assert len(executable_scripts(page)) == 1


def test_a_steps_input_sample_is_its_producers_output_stored_once(page: str) -> None:
    (produced,) = samples(page, "read_customers", "after")
    for consumer in ("clean", "validate"):
        (received,) = samples(page, consumer, "before")
        assert received == produced
    data = page_data(page)
    ids = card_ids(page)
    assert data["cards"][ids["clean"]]["before"] == data["cards"][ids["read_customers"]]["after"]
    assert len(data["tables"]) == len({json.dumps(table) for table in data["tables"]})
    assert len(data["schemas"]) == len({json.dumps(schema) for schema in data["schemas"]})


@pytest.mark.parametrize(
    "value",
    [
        "</script><script>window.__xss=1</script>",
        "</SCRIPT >",
        "<!-- <script>",
        "a & b > c",
        "line\u2028separator\u2029",
        "lone \ud800 surrogate",
        "emoji \U0001f600 and \\u003c",
    ],
)
def test_json_in_the_page_cannot_end_its_element_and_parses_back(value: str) -> None:
    text = str(script_json({"v": [value]}))
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert not any("\ud800" <= char <= "\udfff" for char in text)
    text.encode("utf-8")  # always valid UTF-8
    assert json.loads(text) == {"v": [value]}


def test_page_is_self_contained_and_its_script_is_pinned_by_the_csp(page: str) -> None:
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert csp is not None
    policy = html.unescape(csp.group(1))
    assert "default-src 'none'" in policy and "connect-src" not in policy
    script = re.search(r"<script>(.*?)</script>", page, flags=re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    assert "unsafe-inline'; img-src" not in policy.split("script-src")[1].split(";")[0]
    assert not re.search(r"\s(src|srcset)=", page)
    assert not re.search(r"""(href|url\()\s*=?\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    for unsafe in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert unsafe not in script.group(1)


def test_readable_without_javascript(page: str) -> None:
    assert re.search(r'<div id="toolbar"[^>]*hidden>', page)  # only the script shows the filters
    assert page.count('class="dag-node') == len(STEP_NAMES)
    assert page.count('<a href="#step-') == len(STEP_NAMES)  # waterfall labels link to the cards
    found = cards(page)
    assert "Duration <b>" in found["clean"] and "3 rows · 4 columns" in found["clean"]
    assert "No output (failed)" in found["validate"] and "ValueError" in found["validate"]
    # schema summaries are HTML; the tables and samples are drawn by the script, which says so
    assert page.count('<details class="collapsible schema-block" open>') == 4
    assert "<noscript>" in page and "allow JavaScript to see them" in page


def test_story_from_the_otlp_file_equals_the_story_from_the_lineage_file(run: Run, page: str) -> None:
    rebuilt = StoryGenerator().render_html(run.telemetry)
    assert rebuilt == page


# -- scale -----------------------------------------------------------------------------------------


def wide_run(chains: int, depth: int) -> dict[str, Any]:
    """A lineage document shaped like the benchmark's: one source, then ``chains`` chains of
    ``depth`` steps, each passing on a 100-row frame with a 5-row sample (as case 4 of
    ``benchmarks/`` does, without running a pipeline)."""
    schema = {"id": "int64", "value": "float64", "label": "str"}
    sample = {
        "columns": list(schema),
        "rows": [[k, k * 1.5 + 0.25, f"item-{k:03d}"] for k in range(5)],
    }

    def snapshot() -> dict[str, Any]:
        return {"rows": 100, "columns": 3, "schema": schema, "size_bytes": 3_400, "sample": sample}

    def step(index: int, name: str, layer: str, inputs: list[str]) -> dict[str, Any]:
        start = f"2024-05-01T12:00:{index // 1000:02d}.{index % 1000:03d}000+00:00"
        return {
            "name": name,
            "layer": layer,
            "type": "function",
            "status": "success",
            "inputs": inputs,
            "outputs": [f"d{index}"],
            "start_time": start,
            "end_time": start,
            "duration_ms": 0.25,
            "before": {key: snapshot() for key in inputs},
            "after": {f"d{index}": snapshot()},
        }

    steps = [step(0, "source", "ingest", [])]
    for index in range(1, chains * depth + 1):
        chain, level = (index - 1) % chains, (index - 1) // chains
        parent = 0 if level == 0 else index - chains
        layer = "transform" if level % 2 == 0 else "publish"
        steps.append(step(index, f"b{chain:02d}_step{level:03d}", layer, [f"d{parent}"]))
    return {
        "format": "odibi_otel.lineage",
        "version": 1,
        "pipeline_name": "wide",
        "status": "success",
        "steps": steps,
    }


def test_a_2000_step_story_stays_small_and_stores_each_sample_once(tmp_path: Path) -> None:
    path = tmp_path / "lineage.json"
    path.write_text(json.dumps(wide_run(50, 40)), "utf-8")
    page = StoryGenerator().render_html(path)
    assert page.count('<article class="card') == 2_001
    assert len(page.encode("utf-8")) < 4_000_000  # benchmark case 4's target is 5 MB
    data = page_data(page)
    assert len(data["tables"]) == 1 and len(data["schemas"]) == 2  # the source's schema is all added
    assert len(data["snapshots"]) == 2_001  # one per data key: d0 … d2000
    (received,) = samples(page, "b07_step012", "before")
    (produced,) = samples(page, "b07_step011", "after")
    assert received == produced


# -- API -------------------------------------------------------------------------------------------


def test_seed_call_forms(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lineage.json").write_bytes(run.lineage.read_bytes())
    generator = odibi_otel.StoryGenerator()
    assert generator.generate_story("lineage.json", "story.html") == Path("story.html")
    assert generator.generate_story(
        lineage_file="lineage.json", output_file="execution_story.html", title="Customer Pipeline Execution"
    ) == Path("execution_story.html")
    assert generator.generate_story("lineage.json") == Path("story.html")
    assert "<title>Customer Pipeline Execution</title>" in Path("execution_story.html").read_text("utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "execution_story.html",
        "lineage.json",
        "story.html",
    ]


def test_seed_auto_generate_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    generated: list[str] = []

    def generate_story_hook(event_data: dict[str, Any]) -> None:
        tracker = event_data.get("tracker")
        if tracker:
            tracker.export_lineage("lineage.json")
            story_gen = StoryGenerator()
            story_gen.generate_story("lineage.json", output_file="story.html")
            generated.append("story.html")

    event_bus = EventBus()
    event_bus.register_hook("pipeline_complete", generate_story_hook)
    provider = TracerProvider()
    steps = [
        Step("make", "ingest", "function", lambda: pd.DataFrame({"x": [1, 2]}), outputs=["x"]),
        Step("double", "transform", "function", lambda x: x * 2, inputs=["x"], outputs=["y"]),
    ]
    Orchestrator(steps, enable_tracker=True, event_bus=event_bus, tracer_provider=provider).execute()
    provider.shutdown()
    assert generated == ["story.html"]
    story = (tmp_path / "story.html").read_text("utf-8")
    assert 'data-name="make"' in story and 'data-name="double"' in story


def test_trace_link_from_a_template(run: Run, tmp_path: Path) -> None:
    generator = StoryGenerator(trace_url_template="http://localhost:16686/trace/{trace_id}")
    page = generator.generate_story(run.lineage, tmp_path / "s.html").read_text("utf-8")
    trace_id = run.result["trace_id"]
    assert f'href="http://localhost:16686/trace/{trace_id}" target="_blank" rel="noopener noreferrer"' in page


@pytest.mark.parametrize("template", ["javascript:alert(1)/{trace_id}", "http://jaeger/no-placeholder"])
def test_bad_trace_url_template_is_rejected_at_once(template: str) -> None:
    with pytest.raises(ValueError, match="trace_url_template"):
        StoryGenerator(trace_url_template=template)


def test_output_folders_are_created_and_no_temporary_file_is_left(run: Run, tmp_path: Path) -> None:
    output = StoryGenerator().generate_story(run.lineage, tmp_path / "a" / "b" / "story.html")
    assert output.is_file()
    assert [p.name for p in output.parent.iterdir()] == ["story.html"]


def test_rendering_is_deterministic(run: Run) -> None:
    generator = StoryGenerator()
    assert generator.render_html(run.lineage) == generator.render_html(run.lineage)


def test_template_ships_inside_the_package() -> None:
    assert (resources.files("odibi_otel.story") / "templates" / "story.html.j2").is_file()


# -- bad input -------------------------------------------------------------------------------------


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{\n  "steps": [\n    {"name": "a",}\n  ]\n}\n',
            r"bad\.json: line 3, column 18: invalid JSON: Expecting property name",
        ),
        ("", r"bad\.json: the file is empty"),
        (b"\xff\xfe{", r"bad\.json: line 1: not UTF-8 text"),
        ("[1, 2]", r"bad\.json: expected a lineage JSON object or OTLP/JSON lines, got a JSON array"),
        (
            '{"steps": [{"name": "a", "after": {"k": {"rows": "3"}}}]}',
            r"bad\.json: steps\[0\]\.after\.k\.rows: expected an integer",
        ),
        ('{"steps": 3}', r"bad\.json: steps: expected an array of steps, got number 3"),
        ("[" * 100_000, r"bad\.json: invalid JSON: nested too deeply"),
    ],
)
def test_malformed_input_names_the_file_and_the_place(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = write(tmp_path, "bad.json", content)
    output = tmp_path / "story.html"
    output.write_text("old story", "utf-8")
    with pytest.raises(StoryInputError, match="^" + re.escape(f"{tmp_path}{os.sep}") + message):
        StoryGenerator().generate_story(path, output)
    assert output.read_text("utf-8") == "old story"  # the old story is left alone


def test_missing_file_is_a_story_input_error(tmp_path: Path) -> None:
    with pytest.raises(StoryInputError, match=r"nope\.json: cannot read the file: No such file or directory"):
        StoryGenerator().generate_story(tmp_path / "nope.json", tmp_path / "story.html")
    assert not (tmp_path / "story.html").exists()


def test_malformed_otlp_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "run.jsonl", '{"resourceSpans": []}\n{"resourceSpans": [{"scopeSpans": 5}]}\n{"resou'
    )
    with pytest.raises(StoryInputError, match=r"run\.jsonl: line [23]: ") as caught:
        StoryGenerator().generate_story(path, tmp_path / "story.html")
    assert caught.value.source.endswith("run.jsonl")


# -- OTLP/JSON input detection (with a stand-in for odibi_otel.lineage.from_telemetry) ---------------------


@pytest.fixture()
def fake_telemetry_file(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    module = types.ModuleType("odibi_otel.lineage.from_telemetry")

    def lineage_from_otlp_file(path: Any) -> dict[str, Any]:
        calls.append(Path(path))
        return {
            "pipeline_name": "checkout",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "steps": [],
            "timeline": [
                {
                    "name": "GET <cart>",
                    "span_id": "a1",
                    "parent_span_id": None,
                    "start_time": "2024-05-01T12:00:00+00:00",
                    "end_time": "2024-05-01T12:00:00.250000+00:00",
                    "duration_ms": 250.0,
                    "status": "error",
                    "attributes": {"http.route": "/cart", "note": PAYLOAD},
                }
            ],
        }

    module.lineage_from_otlp_file = lineage_from_otlp_file  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "odibi_otel.lineage.from_telemetry", module)
    return calls


@pytest.mark.parametrize(
    "content",
    [
        '{"resourceSpans": [{"scopeSpans": []}]}\n{"resourceLogs": []}\n',
        '\n{"resourceLogs": []}\n',
        json.dumps({"resourceSpans": []}, indent=2),  # one pretty-printed export request
    ],
)
def test_otlp_json_files_are_detected_and_rebuilt(
    tmp_path: Path, fake_telemetry_file: list[Path], content: str
) -> None:
    path = write(tmp_path, "spans.jsonl", content)
    page = StoryGenerator().generate_story(path, tmp_path / "story.html").read_text("utf-8")
    assert fake_telemetry_file == [path]
    assert "Trace timeline" in page and "<h3>GET &lt;cart&gt;</h3>" in page
    assert html.escape(PAYLOAD, quote=False) in page and PAYLOAD not in page
    assert "Pipeline DAG" not in page


def test_a_lineage_file_is_not_sent_to_the_otlp_reader(run: Run, fake_telemetry_file: list[Path]) -> None:
    StoryGenerator().render_html(run.lineage)
    assert fake_telemetry_file == []
