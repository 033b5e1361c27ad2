"""Security: the story cannot reach the network, /metrics stays on loopback, nothing is unpickled,
redacted values reach no artifact or signal, metric labels are bounded and escaped.

Already proven elsewhere: XSS payloads everywhere text appears never run in headless Chromium
(``tests/test_story_browser.py::test_payloads_show_as_text_and_never_run``); the cache holds only
Arrow IPC and JSON files (``tests/test_cache.py::test_cache_holds_only_arrow_ipc_and_json_never_pickle``);
redaction in-process (``tests/test_tracker.py::test_redacted_secret_appears_in_no_output``); the
cardinality limit folds extra series into one overflow series
(``tests/test_metrics_manager.py::test_cardinality_limit_folds_extra_series_into_an_overflow_series``);
promtool accepts the exposition of ordinary runs (``tests/test_prometheus_format.py``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pickle
import socket
import subprocess
import textwrap
import tokenize
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

import odibi_otel
from odibi_otel import MetricsManager, Orchestrator, Step, StoryGenerator
from odibi_otel.lineage.from_telemetry import lineage_from_otlp_file

from .harness import Observed, run_python

pytestmark = pytest.mark.reliability

PAYLOAD = (
    '"><script>alert(1)</script><img src=//evil.example/x.png>'
    '<meta http-equiv="refresh" content="0;url=//evil.example">'
)


# -- the story's Content-Security-Policy ------------------------------------------------------------


#: The one ``<script type>`` a browser does not run: a JSON data block (read by the page's script).
DATA_BLOCK_TYPE = "application/json"


class _Page(HTMLParser):
    """Every start tag (with its attributes and whether it was inside <head>), inline script text
    (``scripts``: what runs; ``data_blocks``: ``<script type="application/json">`` text) and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str], bool]] = []
        self.scripts: list[str] = []
        self.data_blocks: list[str] = []
        self.styles: list[str] = []
        self._in_head = False
        self._open: list[str] | None = None
        self._open_tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self._in_head = True
        if tag == "body":
            self._in_head = False
        attributes = {key: value or "" for key, value in attrs}
        self.tags.append((tag, attributes, self._in_head))
        if tag in ("script", "style"):
            if tag == "style":
                self._open = self.styles
            elif attributes.get("type", "").strip().lower() == DATA_BLOCK_TYPE:
                self._open = self.data_blocks
            else:
                assert "type" not in attributes, f"a script of another type: {attributes}"
                self._open = self.scripts
            self._open_tag = tag
            self._open.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self._in_head = False
        if tag == self._open_tag:
            self._open = self._open_tag = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open[-1] += data


#: Fetch directives: each falls back to default-src when absent.
FETCH_DIRECTIVES = ("default-src", "script-src", "style-src", "img-src", "font-src", "connect-src",
                    "media-src", "object-src", "frame-src", "child-src", "worker-src", "manifest-src",
                    "prefetch-src", "script-src-elem", "script-src-attr", "style-src-elem",
                    "style-src-attr")  # fmt: skip
#: Source expressions that allow no network access.
LOCAL_SOURCES = ("'none'", "'unsafe-inline'", "data:")


def _policy(page: str) -> tuple[dict[str, list[str]], _Page]:
    parser = _Page()
    parser.feed(page)
    metas = [
        (attrs, head)
        for tag, attrs, head in parser.tags
        if tag == "meta" and attrs.get("http-equiv", "").lower() == "content-security-policy"
    ]
    assert len(metas) == 1, "exactly one CSP meta tag"
    attrs, in_head = metas[0]
    assert in_head
    first_active = next(
        i for i, (tag, _, _) in enumerate(parser.tags) if tag in ("script", "style", "link", "img")
    )
    meta_index = next(i for i, (tag, a, _) in enumerate(parser.tags) if a is attrs)
    assert meta_index < first_active, "the policy must come before anything it governs"
    directives: dict[str, list[str]] = {}
    for part in attrs["content"].split(";"):
        words = part.split()
        if words:
            assert words[0].lower() not in directives, f"duplicate directive {words[0]}"
            directives[words[0].lower()] = words[1:]
    return directives, parser


def _check_no_network(page: str) -> None:
    directives, parser = _policy(page)
    assert directives["default-src"] == ["'none'"]
    for name in FETCH_DIRECTIVES:
        # script-src-elem falls back to script-src, the others straight to default-src
        fallback = directives.get(name.rsplit("-", 1)[0]) if name.endswith(("-elem", "-attr")) else None
        sources = directives.get(name) or fallback or directives["default-src"]
        if name.startswith("script-src"):
            hashes = sorted(
                "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"
                for script in parser.scripts
            )
            assert sorted(sources) == hashes, "only the page's own inline script may run"
            assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
        else:
            assert all(source in LOCAL_SOURCES for source in sources), (name, sources)
    assert directives["base-uri"] == ["'none'"] and directives["form-action"] == ["'none'"]
    assert "report-uri" not in directives and "report-to" not in directives  # no reports sent anywhere
    # nothing in the markup that fetches, navigates by itself or overrides the policy
    for tag, attrs, _ in parser.tags:
        assert tag not in ("iframe", "frame", "object", "embed", "img", "video", "audio", "source", "base",
                           "form", "portal"), tag  # fmt: skip
        if tag == "meta":
            assert attrs.get("http-equiv", "").lower() in ("", "content-security-policy"), attrs
        if tag == "link":
            assert attrs.get("href", "").startswith("data:"), attrs
        for attribute in ("src", "srcset", "poster", "data", "action", "formaction", "ping", "background"):
            assert attribute not in attrs, (tag, attribute)
        href = attrs.get("href") or attrs.get("xlink:href")
        if href is not None and tag != "link":
            assert href.startswith("#"), (tag, href)  # in-page links only (no trace URL was given)
        assert "url(" not in attrs.get("style", "")
    for style in parser.styles:
        assert "@import" not in style and "url(" not in style.replace("url(data:", "")
    # data blocks are not run (so they need no hash); hostile data stays inside them, whole
    assert len(parser.data_blocks) <= 1
    for block in parser.data_blocks:
        assert not set(block) & set("<>&"), "markup characters are escaped in the data block"
        json.loads(block)  # the block ends where the page's JSON ends: nothing broke out of it


def _hostile_lineage(tmp_path: Path) -> Path:
    def make() -> pd.DataFrame:
        return pd.DataFrame({PAYLOAD: [PAYLOAD, "</style><style>@import url(//evil.example)</style>"]})

    def explode(frame: pd.DataFrame) -> pd.DataFrame:
        raise ValueError(PAYLOAD)

    steps = [
        Step(PAYLOAD, PAYLOAD, "function", make, outputs=["a"]),
        Step("explode" + PAYLOAD, "transform", "function", explode, inputs=["a"], outputs=["b"]),
    ]
    result = Orchestrator(steps, pipeline_name=PAYLOAD, enable_tracker=True, fail_fast=False).execute()
    path = tmp_path / "hostile-lineage.json"
    result["tracker"].export_lineage(path)
    return path


def test_story_csp_forbids_all_network_access_even_with_hostile_content(tmp_path: Path) -> None:
    lineage = _hostile_lineage(tmp_path)
    for title in (None, PAYLOAD):
        page = StoryGenerator().render_html(lineage, title=title)
        assert "<script>alert(1)</script>" not in page
        _check_no_network(page)


def test_story_of_a_foreign_trace_timeline_keeps_the_policy(tmp_path: Path) -> None:
    document = {
        "pipeline_name": PAYLOAD,
        "status": "failed",
        "steps": [],
        "timeline": [
            {"name": PAYLOAD, "span_id": "ab" * 8, "parent_span_id": None, "status": "error",
             "status_message": PAYLOAD, "attributes": {PAYLOAD: PAYLOAD}},
        ],
    }  # fmt: skip
    path = tmp_path / "timeline.json"
    path.write_text(json.dumps(document), "utf-8")
    _check_no_network(StoryGenerator().render_html(path))


def test_trace_link_is_the_only_external_address_and_opens_without_referrer(tmp_path: Path) -> None:
    page = StoryGenerator("https://jaeger.example/trace/{trace_id}").render_html(_hostile_lineage(tmp_path))
    _, parser = _policy(page)
    external = [
        attrs for tag, attrs, _ in parser.tags if not attrs.get("href", "#").startswith(("#", "data:"))
    ]
    assert len(external) == 1 and external[0]["href"].startswith("https://jaeger.example/trace/")
    assert set(external[0]["rel"].split()) >= {"noopener", "noreferrer"}


# -- the Prometheus endpoint --------------------------------------------------------------------------


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, if it has one (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, nothing is sent
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_metrics_endpoint_binds_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_PROMETHEUS_HOST", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_PROMETHEUS_PORT", raising=False)
    with MetricsManager() as manager:
        server = manager.start_server(port=0)
        bound = server._server.socket.getsockname()
        assert bound[0] == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert response.status == 200
        other = _non_loopback_address()
        if other is not None:  # reachable on loopback only
            with pytest.raises(OSError), socket.create_connection((other, bound[1]), timeout=2):
                pass


def test_configure_serves_metrics_on_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    code = """
        import json, os, sys
        from odibi_otel import configure
        host = sys.argv[1] or None
        handle = configure(prometheus_port=0, prometheus_host=host)
        server = handle.metrics_manager._server
        print(json.dumps({"url": handle.prometheus_url, "bound": server._server.socket.getsockname()[0]}))
        handle.shutdown()
    """
    default = run_python(code, "", cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    facts = json.loads(default.stdout.strip().splitlines()[-1])
    assert facts["bound"] == "127.0.0.1" and facts["url"].startswith("http://127.0.0.1:")
    told = run_python(code, "0.0.0.0", cwd=tmp_path)  # only when asked
    assert told.returncode == 0, told.stderr
    assert json.loads(told.stdout.strip().splitlines()[-1])["bound"] == "0.0.0.0"


# -- no pickle, ever ------------------------------------------------------------------------------

#: Names whose use in the package's code would load (or write) pickles or run text as code.
FORBIDDEN_NAMES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal",
                   "read_pickle", "to_pickle", "Unpickler", "unsafe_load", "full_load", "FullLoader",
                   "UnsafeLoader", "eval", "exec"}  # fmt: skip


#: Uses of the names above that are not what the name suggests, each with why it is safe.
ALLOWED = {
    # DataFrame.eval: pandas' expression grammar for expression() checks (no calls, no imports,
    # locals and globals emptied), not the eval builtin
    ("_pandas_quality.py", "frame.eval"),
}


def test_the_package_source_never_uses_pickle_or_unsafe_loaders() -> None:
    package = Path(odibi_otel.__file__).parent
    found: list[str] = []
    files = sorted(package.rglob("*.py"))
    assert len(files) > 20
    for path in files:
        source = path.read_text("utf-8")
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        for index, token in enumerate(tokens):
            if token.type == tokenize.NAME and token.string in FORBIDDEN_NAMES:
                qualified = "".join(t.string for t in tokens[max(0, index - 2) : index + 1])
                if (path.name, qualified) in ALLOWED:
                    continue
                found.append(f"{path.name}:{token.start[0]}: {token.string}")
            # yaml.load(...) is only safe with SafeLoader; the package uses yaml.SafeLoader directly
            if token.string == "load" and index >= 2 and tokens[index - 2].string == "yaml":
                found.append(f"{path.name}:{token.start[0]}: yaml.load")
    assert found == []
    templates = [path for path in package.rglob("*") if path.is_file() and path.suffix in (".pkl", ".pickle")]
    assert templates == []


def test_no_unpickling_happens_in_a_full_cached_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("something tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pd, "read_pickle", refuse)
    source = tmp_path / "in.csv"
    pd.DataFrame({"v": [1, 2, 3]}).to_csv(source, index=False)
    steps = [
        Step("read", "ingest", "read", str(source), outputs=["raw"]),
        Step("double", "transform", "function", lambda raw: raw * 2, inputs=["raw"], outputs=["d"]),
        Step("store", "store", "write", str(tmp_path / "out.parquet"), inputs=["d"]),
    ]
    for attempt in ("cold", "warm"):
        observed = Observed(tmp_path / attempt)
        try:
            result = observed.run(steps, enable_cache=True, cache_dir=tmp_path / "cache")
            assert result["success"]
            paths = observed.artifacts(result["tracker"])
            StoryGenerator().render_html(paths["telemetry"])
            lineage_from_otlp_file(paths["telemetry"])
        finally:
            observed.close()
    assert result["cache_hits"] == ["read", "double"]


# -- redaction: a planted secret reaches no artifact and no signal ---------------------------------

SECRET = "S3CR3T-VALUE-9d2f71"

REDACTION_RUN = """
    import json, sys
    from pathlib import Path
    from opentelemetry import _logs, metrics, trace
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    # the application's own providers, with in-memory exporters: configure() keeps them and
    # odibi_otel's spans, log events and metrics flow into them as well as into the files
    spans, logs, reader = InMemorySpanExporter(), InMemoryLogRecordExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    trace.set_tracer_provider(tracer_provider)
    _logs.set_logger_provider(logger_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    from odibi_otel import load_pipeline
    from odibi_otel.cli.run_folder import run_to_folder
    from odibi_otel.lineage.tracker import PII_PATTERN, TrackerConfig

    pipeline, out, dump = sys.argv[1:4]
    name, steps = load_pipeline(pipeline)
    config = TrackerConfig(redact_columns=["notes"], redact_pattern=PII_PATTERN)
    report = run_to_folder(steps, name, out, tracker_config=config)
    data = reader.get_metrics_data()
    Path(dump).write_text(json.dumps({
        "spans": [span.to_json() for span in spans.get_finished_spans()],
        "logs": [record.to_json() for record in logs.get_finished_logs()],
        "metrics": data.to_json() if data is not None else "",
        "success": report.result["success"],
    }))
"""

REDACTION_MODULE = """
    def enrich(people):
        return people.assign(score=people["id"] * 10)
"""


def test_a_redacted_secret_is_absent_from_every_artifact_and_every_exported_signal(tmp_path: Path) -> None:
    folder = tmp_path / "pipeline"
    folder.mkdir()
    (folder / "steps_module.py").write_text(textwrap.dedent(REDACTION_MODULE), "utf-8")
    pd.DataFrame(
        {
            "id": [1, 2, 3],
            "ssn": [SECRET, "000-00-0000", f"x{SECRET}x"],
            "Contact_Email": [f"{SECRET}@example.com", "b@example.com", "c@example.com"],
            "notes": [f"call about {SECRET}", "", "n/a"],
            "city": ["Oslo", "Lima", "Pune"],
        }
    ).to_csv(folder / "people.csv", index=False)
    pipeline = {
        "name": "people",
        "steps": [
            {"name": "read_people", "layer": "ingest", "type": "read", "value": "people.csv",
             "outputs": ["people"]},
            {"name": "enrich", "layer": "transform", "type": "function", "value": "steps_module:enrich",
             "inputs": ["people"], "outputs": ["enriched"]},
            {"name": "store", "layer": "store", "type": "write", "value": str(tmp_path / "data" / "out.csv"),
             "inputs": ["enriched"]},
        ],
    }  # fmt: skip
    (folder / "pipeline.json").write_text(json.dumps(pipeline), "utf-8")
    out, dump = tmp_path / "out", tmp_path / "signals.json"
    completed = run_python(REDACTION_RUN, str(folder / "pipeline.json"), str(out), str(dump), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    signals = json.loads(dump.read_text("utf-8"))
    assert signals["success"]

    artifacts = sorted(path for path in out.rglob("*") if path.is_file())
    expected = {"lineage.json", "story.html", "telemetry.jsonl", "metrics.json", "metrics_prometheus.txt",
                "odibi.log.jsonl"}  # fmt: skip
    assert {path.name for path in artifacts} >= expected
    leaks = [path.name for path in artifacts if SECRET in path.read_text("utf-8", errors="replace")]
    assert leaks == []
    assert SECRET not in completed.stdout + completed.stderr
    assert len(signals["spans"]) == 4 and len(signals["logs"]) >= 4 and signals["metrics"]
    for kind in ("spans", "logs"):
        assert [item for item in signals[kind] if SECRET in item] == [], kind
    assert SECRET not in signals["metrics"]

    # control: the secret was really in the data and the samples really were captured
    assert SECRET in (tmp_path / "data" / "out.csv").read_text("utf-8")
    lineage = json.loads((out / "lineage.json").read_text("utf-8"))
    snapshot = {step["name"]: step for step in lineage["steps"]}["read_people"]["after"]["people"]
    assert snapshot["redacted_columns"] == ["ssn", "Contact_Email", "notes"]
    assert snapshot["sample"]["rows"][0] == [1, "[REDACTED]", "[REDACTED]", "[REDACTED]", "Oslo"]


# -- metric labels: bounded and escaped ----------------------------------------------------------------

# Step and pipeline names cannot hold control characters (one line per node); a layer can.
ODD_NAMES = ['q"uote', "back\\slash", "ünïcødé ✓", "{a=b,c}", '\\"\\n', "x" * 300]


def test_label_values_with_quotes_backslashes_and_newlines_are_escaped(tmp_path: Path) -> None:
    def make() -> pd.DataFrame:
        return pd.DataFrame({"v": [1]})

    def explode() -> pd.DataFrame:
        raise RuntimeError("boom")

    layer = 'lay"er\\\n\tend'
    steps = [Step(name, layer, "function", make, outputs=[f"k{i}"]) for i, name in enumerate(ODD_NAMES)]
    steps.append(Step('fail"\\', layer, "function", explode, outputs=["f"]))
    pipeline = 'pipe"line\\name'
    with MetricsManager() as manager:
        Orchestrator(steps, pipeline_name=pipeline, metrics_manager=manager, fail_fast=False).execute()
        text = manager.generate_latest().decode("utf-8")
        manager.export_prometheus(tmp_path / "metrics_prometheus.txt")
        server = manager.start_server(port=0)
        request = urllib.request.Request(
            server.url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            openmetrics = response.read().decode("utf-8")
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0 and checked.stdout.strip() == "", checked.stdout + checked.stderr
    assert (tmp_path / "metrics_prometheus.txt").read_text("utf-8") == text
    for exposition, parse in ((text, text_string_to_metric_families), (openmetrics, openmetrics_families)):
        rows = [s for f in parse(exposition) for s in f.samples if s.name == "odibi_node_rows_total"]
        assert {s.labels["node"] for s in rows} == set(ODD_NAMES)  # every value round-trips exactly
        assert {s.labels["layer"] for s in rows} == {layer} and {s.labels["pipeline"] for s in rows} == {
            pipeline
        }
        errors = [s for f in parse(exposition) for s in f.samples if s.name == "odibi_node_errors_total"]
        assert [s.labels["node"] for s in errors] == ['fail"\\']


def test_series_do_not_grow_with_runs_error_messages_or_data() -> None:
    """Labels come from the pipeline definition only: never run ids, messages or row values."""
    counter = {"n": 0}

    def make() -> pd.DataFrame:
        counter["n"] += 1
        return pd.DataFrame({"v": range(counter["n"])})

    def flaky(frame: pd.DataFrame) -> pd.DataFrame:
        raise ValueError(f"bad row {counter['n']} at {id(frame)}")  # a new message every run

    steps = [
        Step("make", "ingest", "function", make, outputs=["a"]),
        Step("flaky", "transform", "function", flaky, inputs=["a"], outputs=["b"]),
    ]

    def series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        return {(s.name, tuple(sorted(s.labels.items())))
                for f in text_string_to_metric_families(text) for s in f.samples}  # fmt: skip

    with MetricsManager() as manager:
        Orchestrator(steps, metrics_manager=manager, pipeline_name="bounded").execute()
        after_one = series(manager.generate_latest().decode("utf-8"))
        run_ids = []
        for _ in range(30):
            run_ids.append(
                Orchestrator(steps, metrics_manager=manager, pipeline_name="bounded").execute()["run_id"]
            )
        text = manager.generate_latest().decode("utf-8")
    assert series(text) == after_one
    assert not any(run_id in text for run_id in run_ids)
    assert "bad row" not in text


def test_a_node_name_that_is_not_valid_unicode_does_not_break_the_exposition() -> None:
    with MetricsManager() as manager:
        steps = [Step("file-\udcff", "ingest", "function", lambda: pd.DataFrame({"v": [1]}), outputs=["a"])]
        assert Orchestrator(steps, metrics_manager=manager).execute()["success"]
        exposition = manager.generate_latest()
        assert b"odibi_node_rows_total" in exposition
        assert b'node="file-\\\\udcff"' in exposition  # escaped text, backslash doubled
