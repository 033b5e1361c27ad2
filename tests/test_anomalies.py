"""Anomalies against the run history: the robust statistics, the rules on synthetic series, and
end to end through real runs recorded in SQLite."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from odibi_otel import EventBus, MetricsManager, Orchestrator, Step
from odibi_otel.history import HistoryConfig, open_history
from odibi_otel.otel import semconv
from odibi_otel.quality import AnomalyRules, NodeBaseline, detect_anomalies
from odibi_otel.quality.anomalies import NodeFacts
from odibi_otel.quality.stats import mad, median, modified_z_score

# -- robust statistics ------------------------------------------------------------------------------


def test_median_and_mad_of_known_series() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    assert mad([1, 1, 2, 2, 4, 6, 9]) == 1  # the textbook example: median 2, deviations 1,1,0,0,2,4,7
    with pytest.raises(ValueError):
        median([])


def test_modified_z_score() -> None:
    history = [10.0, 11.0, 9.0, 10.0, 12.0, 8.0, 10.0]  # median 10, MAD 1
    assert modified_z_score(10.0, history) == 0.0
    assert modified_z_score(15.0, history) == pytest.approx(0.6745 * 5)
    assert modified_z_score(5.0, history) == pytest.approx(-0.6745 * 5)
    assert modified_z_score(11.0, [5.0] * 5) == math.inf  # a constant history and no floor
    assert modified_z_score(11.0, [5.0] * 5, min_scale=2.0) == pytest.approx(0.6745 * 3)


def test_one_old_outlier_does_not_hide_the_next() -> None:
    history = [1000.0, 1010.0, 990.0, 5.0, 1005.0, 995.0, 1000.0]  # one broken run in the window
    assert abs(modified_z_score(400.0, history)) > 3.5


# -- the rules on synthetic series ------------------------------------------------------------------

RULES = AnomalyRules()
SCHEMA = {"id": "int64", "amount": "float64", "email": "str"}


def _steady(rng: random.Random, count: int) -> list[NodeFacts]:
    """Runs of a steady node: ~10,000 rows (±2%), ~800 ms (±10%), email ~2% null (±1 point)."""
    return [
        NodeFacts(
            rows_out=int(rng.gauss(10_000, 100)),
            duration_ms=rng.gauss(800, 40),
            schema=dict(SCHEMA),
            null_fractions={"id": 0.0, "amount": 0.0, "email": max(0.0, rng.gauss(0.02, 0.005))},
        )
        for _ in range(count)
    ]


def _replay(runs: list[NodeFacts]) -> list[list[str]]:
    """Each run judged against the runs before it (newest first), as the orchestrator does."""
    found = []
    for index, facts in enumerate(runs):
        baseline = NodeBaseline(tuple(reversed(runs[:index])))
        found.append([anomaly.kind for anomaly in detect_anomalies(facts, baseline, RULES)])
    return found


@pytest.mark.parametrize("seed", range(5))
def test_no_false_alarms_over_50_steady_noisy_runs(seed: int) -> None:
    assert _replay(_steady(random.Random(seed), 50)) == [[]] * 50


def test_each_injected_anomaly_is_found_exactly_once() -> None:
    runs = _steady(random.Random(7), 20)
    injected = {
        8: ("volume", NodeFacts(4_000, 800.0, dict(SCHEMA), {"email": 0.02})),
        11: ("schema", NodeFacts(10_000, 800.0, {"id": "int64", "amount": "float64"}, {})),
        14: ("schema", NodeFacts(10_000, 800.0, {"id": "int64", "amount": "str", "email": "str"}, {})),
        17: ("null_rate", NodeFacts(10_000, 800.0, dict(SCHEMA), {"email": 0.35})),
        19: ("duration", NodeFacts(10_000, 4_000.0, dict(SCHEMA), {"email": 0.02})),
    }
    for index, (_, facts) in injected.items():
        runs[index] = facts
    found = _replay(runs)
    expected = [[] for _ in runs]
    for index, (kind, _) in injected.items():
        expected[index] = [kind]
    # the run after a schema change compares with the changed run: the change back is news too
    expected[12] = ["schema"]  # the email column is back
    expected[15] = ["schema"]  # amount is float64 again
    assert found == expected


def test_volume_and_duration_need_enough_history() -> None:
    history = NodeBaseline(tuple(NodeFacts(100, 10.0) for _ in range(4)))
    assert detect_anomalies(NodeFacts(1, 5000.0), history, RULES) == []
    history = NodeBaseline(tuple(NodeFacts(100, 10.0) for _ in range(5)))
    assert {a.kind for a in detect_anomalies(NodeFacts(1, 5000.0), history, RULES)} == {"volume", "duration"}


def test_steady_counts_tolerate_tiny_changes_and_fast_nodes_their_jitter() -> None:
    history = NodeBaseline(tuple(NodeFacts(1_000, 2.0) for _ in range(10)))
    assert detect_anomalies(NodeFacts(1_001, 9.0), history, RULES) == []  # +1 row, +7 ms
    (volume,) = detect_anomalies(NodeFacts(900, 2.0), history, RULES)
    assert (
        volume.kind == "volume" and volume.expected == 1000 and "fewer than the usual 1,000" in volume.message
    )


def test_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown anomaly kind 'size'"):
        AnomalyRules(fail_on=["size"])
    with pytest.raises(ValueError, match="window"):
        AnomalyRules(window=3, min_history=5)


# -- end to end: runs recorded in SQLite ------------------------------------------------------------


class Source:
    """A step function whose output each test changes between runs."""

    def __init__(self) -> None:
        self.rows = 1_000
        self.drop_email = False
        self.sleep = 0.0

    def __call__(self) -> pd.DataFrame:
        if self.sleep:
            time.sleep(self.sleep)  # a slow upstream system, the thing duration anomalies catch
        frame = pd.DataFrame({"id": range(self.rows), "email": ["a@b.c"] * self.rows})
        return frame.drop(columns="email") if self.drop_email else frame


def _pipeline(source: Source) -> list[Step]:
    return [
        Step("load", "ingest", "function", source, outputs=["raw"]),
        Step("keep", "transform", "function", lambda frame: frame, inputs=["raw"], outputs=["kept"]),
    ]


def test_findings_are_span_events_attributes_metrics_and_hooks(tmp_path: Path) -> None:
    source = Source()
    history = HistoryConfig(open_history(tmp_path / "h.sqlite"))
    for _ in range(6):
        assert (
            Orchestrator(_pipeline(source), history=history, pipeline_name="p").execute()["anomalies"] == {}
        )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    manager, bus, seen = MetricsManager(), EventBus(), []
    bus.register_hook("anomaly_detected", seen.append)
    source.rows = 10
    result = Orchestrator(
        _pipeline(source), history=history, pipeline_name="p", tracer_provider=provider,
        metrics_manager=manager, event_bus=bus,
    ).execute()  # fmt: skip
    assert result["success"]  # findings are signals, not failures
    assert [a["kind"] for a in result["anomalies"]["load"]] == ["volume"]
    assert [a["kind"] for a in result["anomalies"]["keep"]] == ["volume"]
    load = next(span for span in exporter.get_finished_spans() if span.name == "node load")
    assert load.attributes[semconv.NODE_ANOMALIES] == 1
    assert load.attributes[semconv.NODE_ANOMALY_KINDS] == ("volume",)
    (event,) = [e for e in load.events if e.name == "odibi.anomaly"]
    assert (
        event.attributes[semconv.ANOMALY_VALUE] == 10 and event.attributes[semconv.ANOMALY_EXPECTED] == 1000
    )
    assert [(p["step_name"], p["kind"]) for p in seen] == [("load", "volume"), ("keep", "volume")]
    text = manager.exposition().decode()
    assert 'odibi_anomalies_total{kind="volume",layer="ingest",node="load"' in text


def test_a_dropped_column_is_found_once_and_fail_on_makes_it_fatal(tmp_path: Path) -> None:
    source = Source()
    store = open_history(tmp_path / "h.sqlite")
    runs: list[dict[str, Any]] = []
    for index in range(8):
        source.drop_email = index >= 5
        runs.append(Orchestrator(_pipeline(source), history=store, pipeline_name="p").execute())
    kinds = [sorted({a["kind"] for found in run["anomalies"].values() for a in found}) for run in runs]
    assert kinds == [[], [], [], [], [], ["schema"], [], []]
    assert "removed email" in runs[5]["anomalies"]["load"][0]["message"]
    source.drop_email = False  # the column comes back: a schema change again, now fatal
    strict = HistoryConfig(store, rules=AnomalyRules(fail_on=["schema"]))
    result = Orchestrator(_pipeline(source), history=strict, pipeline_name="p").execute()
    assert result["failed_nodes"] == ["load"] and result["skipped_nodes"] == ["keep"]
    assert result["errors"]["load"].startswith("AnomalyError: step 'load': schema anomaly (fail_on): ")


def test_a_slow_node_is_a_duration_anomaly(tmp_path: Path) -> None:
    source = Source()
    store = open_history(tmp_path / "h.sqlite")
    for _ in range(5):
        Orchestrator(_pipeline(source), history=store, pipeline_name="p").execute()
    source.sleep = 0.3
    result = Orchestrator(_pipeline(source), history=store, pipeline_name="p").execute()
    assert [a["kind"] for a in result["anomalies"]["load"]] == ["duration"]
    assert "keep" not in result["anomalies"]


def test_failed_runs_are_not_a_baseline(tmp_path: Path) -> None:
    store = open_history(tmp_path / "h.sqlite")
    source = Source()

    def broken(frame: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("down")

    for _ in range(5):  # five failed runs that produced 10 rows
        source.rows = 10
        steps = [_pipeline(source)[0], Step("keep", "t", "function", broken, inputs=["raw"], outputs=["k"])]
        assert not Orchestrator(steps, history=store, pipeline_name="p").execute()["success"]
    source.rows = 1_000
    assert Orchestrator(_pipeline(source), history=store, pipeline_name="p").execute()["anomalies"] == {}
    assert store.baselines("p", 20)["load"][0].rows_out == 1_000


def test_last_success_from_the_history_reaches_the_gauge_of_a_failed_run(tmp_path: Path) -> None:
    store = open_history(tmp_path / "h.sqlite")
    source = Source()
    first = Orchestrator(_pipeline(source), history=store, pipeline_name="p").execute()
    ended = store.run(first["run_id"]).ended_at

    def broken() -> pd.DataFrame:
        raise RuntimeError("down")

    manager = MetricsManager()  # a fresh process: it never saw the successful run
    steps = [Step("load", "ingest", "function", broken, outputs=["raw"])]
    assert not Orchestrator(steps, history=store, pipeline_name="p", metrics_manager=manager).execute()[
        "success"
    ]
    lines = [
        line
        for line in manager.exposition().decode().splitlines()
        if line.startswith("odibi_pipeline_last_success")
    ]
    (line,) = lines
    assert float(line.split()[-1]) == pytest.approx(ended)
