"""The run history: SQLite and a real PostgreSQL server, migrations, retention, concurrent runs,
stores that fail, the CLI's history and diff commands, and the story's history view."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.sdk.trace import TracerProvider
from servers import POSTGRES_BIN, PostgresServer

from odibi_otel import Orchestrator, Step, StoryGenerator, configure
from odibi_otel.cli import main
from odibi_otel.history import (
    HistoryError,
    HistoryStore,
    NodeRecord,
    RunRecord,
    compare_runs,
    open_history,
)
from odibi_otel.history._migrations import SCHEMA_VERSION
from odibi_otel.quality import not_null

# -- the stores ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    if POSTGRES_BIN is None:
        pytest.skip("PostgreSQL is not installed here (Debian package postgresql; .ci/run installs it)")
    server = PostgresServer(tmp_path_factory.mktemp("postgres") / "postgres.log")
    try:
        yield server
    finally:
        server.stop()


_database_counter = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    import psycopg

    name = f"runs_{next(_database_counter)}"
    with psycopg.connect(server.url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return server.url.rsplit("/", 1)[0] + f"/{name}"


def _run(
    run_id: str, started: float, *, pipeline: str = "p", status: str = "success", rows: int = 5
) -> RunRecord:
    node = NodeRecord(
        "load", status, 12.5, 0, rows, 400, {"id": "int64"}, {"id": {"null_fraction": 0.0, "min": 1.0}},
        ({"name": "not_null(id)", "status": "pass"},), ({"kind": "volume", "message": "m"},),
    )  # fmt: skip
    return RunRecord(run_id, pipeline, status, started, started + 1.5, "ab" * 16, "pandas", "host", (node,))


def test_a_run_reads_back_as_recorded(store_url: str) -> None:
    store = open_history(store_url)
    assert store.schema_version() == 0  # nothing created before first use
    record = _run("r1", 1_000.0)
    store.record_run(record)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.runs("p") == [record]
    assert store.run("r1") == record and store.run("latest") == record and store.run("r") == record
    assert store.pipelines() == ["p"]
    assert store.last_success("p") == 1_001.5
    with pytest.raises(HistoryError, match="there is no previous run"):
        store.run("previous")
    with pytest.raises(HistoryError, match="no run with id 'zz'"):
        store.run("zz")


def test_runs_are_newest_first_and_pruned_per_pipeline(store_url: str) -> None:
    store = open_history(store_url)
    for index in range(6):
        store.record_run(_run(f"p{index}", 100.0 + index), keep=3)
        store.record_run(_run(f"q{index}", 100.0 + index, pipeline="q"), keep=3)
    assert [run.run_id for run in store.runs("p")] == ["p5", "p4", "p3"]
    assert [run.run_id for run in store.runs()] == ["q5", "p5", "q4", "p4", "q3", "p3"]
    assert [run.run_id for run in store.runs("p", before=104.0)] == ["p4", "p3"]
    assert store.run("previous", "p").run_id == "p4"


def test_baselines_hold_only_successful_nodes_of_successful_runs(store_url: str) -> None:
    store = open_history(store_url)
    store.record_run(_run("ok", 1.0, rows=7))
    store.record_run(_run("bad", 2.0, status="failed", rows=9))
    assert [node.rows_out for node in store.baselines("p", 10)["load"]] == [7]


def test_concurrent_runs_lose_no_record(store_url: str) -> None:
    """8 threads x 20 real runs, one store object shared, each write its own transaction."""
    store = open_history(store_url)
    steps = [Step("load", "ingest", "function", lambda: pd.DataFrame({"a": [1, 2]}), outputs=["a"])]
    provider = TracerProvider()
    errors: list[BaseException] = []

    def runs() -> None:
        try:
            for _ in range(20):
                result = Orchestrator(
                    steps, history=store, pipeline_name="busy", tracer_provider=provider
                ).execute()
                assert result["success"]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=runs) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    recorded = store.runs("busy", limit=500)
    assert len(recorded) == 160 and len({run.run_id for run in recorded}) == 160
    assert all(run.nodes[0].rows_out == 2 for run in recorded)


def test_migrates_a_store_of_the_previous_schema_version(store_url: str) -> None:
    old = open_history(store_url)
    old.migrate(target=SCHEMA_VERSION - 1)  # what the previous release created
    assert old.schema_version() == SCHEMA_VERSION - 1
    with old._write() as cursor:  # a run the previous release recorded
        old._execute(
            cursor,
            "INSERT INTO odibi_runs (run_id, pipeline, trace_id, engine, status, started_at, ended_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("old", "p", None, "pandas", "success", 1.0, 2.0),
        )
        old._execute(
            cursor,
            "INSERT INTO odibi_nodes (run_id, position, node, status, duration_ms, rows_in, rows_out, "
            "output_bytes, schema_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("old", 0, "load", "success", 3.0, 0, 11, 100, '{"id": "int64"}'),
        )
    store = open_history(store_url)  # this release
    store.record_run(_run("new", 5.0))
    assert store.schema_version() == SCHEMA_VERSION
    previous = store.run("old")
    assert previous.nodes[0].rows_out == 11 and previous.nodes[0].schema == {"id": "int64"}
    assert previous.nodes[0].profile == {} and previous.host is None
    assert [run.run_id for run in store.runs("p")] == ["new", "old"]


def test_a_store_newer_than_this_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    open_history(path).record_run(_run("r", 1.0))
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE odibi_schema_version SET version = 99")
    with pytest.raises(HistoryError, match="schema version 99 is newer than this odibi_otel's"):
        open_history(path).runs()


def test_urls() -> None:
    assert open_history("sqlite:///tmp/x.sqlite")._target == "/tmp/x.sqlite"
    assert open_history("sqlite:runs.sqlite")._target == "runs.sqlite"
    assert open_history("sqlite:///tmp/x.sqlite?mode=ro")._target == "file:/tmp/x.sqlite?mode=ro"
    assert open_history("postgresql://u:secret@h:5/db").url == "postgresql://u:***@h:5/db"
    with pytest.raises(HistoryError, match="unknown history URL scheme 'mysql'"):
        open_history("mysql://h/db")
    store = open_history("runs.sqlite")
    assert isinstance(store, HistoryStore) and open_history(store) is store


# -- a store that fails never breaks a run ------------------------------------------------------------


def _steps() -> list[Step]:
    return [Step("load", "ingest", "function", lambda: pd.DataFrame({"a": [1, None]}), outputs=["a"])]


def _assert_run_completes_with_one_warning(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="odibi_otel")
    result = Orchestrator(_steps(), history=url, pipeline_name="p", enable_tracker=True).execute()
    assert result["success"] and result["tracker"].to_dict()["status"] == "success"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("was not recorded in the history" in message for message in warnings), warnings
    assert all("Traceback" not in message for message in warnings)


def test_a_stopped_postgresql_server(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    if POSTGRES_BIN is None:
        pytest.skip("PostgreSQL is not installed here (Debian package postgresql; .ci/run installs it)")
    server = PostgresServer(tmp_path / "pg.log")
    url = server.url
    server.stop()
    _assert_run_completes_with_one_warning(url, caplog)
    reads = [r.getMessage() for r in caplog.records if "is not readable" in r.getMessage()]
    assert len(reads) == 1 and "anomalies are not checked this run" in reads[0]


def test_a_read_only_sqlite_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "h.sqlite"
    open_history(path).record_run(_run("r", 1.0))
    _assert_run_completes_with_one_warning(f"sqlite:///{path}?mode=ro", caplog)
    assert [run.run_id for run in open_history(path).runs()] == ["r"]


def test_a_file_that_is_not_a_database(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"not a database" * 100)
    _assert_run_completes_with_one_warning(str(path), caplog)


def test_the_cli_exit_code_is_unchanged_by_a_broken_history(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"garbage" * 100)
    (tmp_path / "in.csv").write_text("a\n1\n2\n")
    (tmp_path / "p.yaml").write_text(
        "name: p\nsteps:\n  - {name: load, layer: ingest, type: read, value: in.csv, outputs: [a]}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "odibi_otel.cli.main", "run", "p.yaml", "--out", "out", "--history",
         str(path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "was not recorded in the history" in done.stderr
    assert (tmp_path / "out" / "story.html").is_file()


# -- library and CLI ----------------------------------------------------------------------------------


def test_configure_records_every_run(tmp_path: Path) -> None:
    handle = configure(history=tmp_path / "h.sqlite", history_keep=2)
    try:
        for _ in range(3):
            Orchestrator(_steps(), pipeline_name="configured").execute()
    finally:
        handle.shutdown()
    assert len(open_history(tmp_path / "h.sqlite").runs("configured")) == 2
    Orchestrator(_steps(), pipeline_name="configured").execute()  # after shutdown: not recorded
    assert len(open_history(tmp_path / "h.sqlite").runs("configured")) == 2


def test_the_library_records_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Orchestrator(_steps(), pipeline_name="quiet").execute()
    assert not (tmp_path / ".odibi").exists()


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().out


@pytest.fixture()
def cli_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """Three CLI runs of one pipeline into the default history (.odibi/ in the working directory)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ODIBI_HISTORY_URL")
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "p.yaml").write_text(
        "name: orders\nsteps:\n"
        "  - {name: load, layer: ingest, type: read, value: in.csv, outputs: [a], "
        "checks: [{not_null: [email], severity: warn}]}\n"
        "  - {name: keep, layer: store, type: write, value: out.csv, inputs: [a]}\n"
    )
    for rows in (["x@y", "z@w"], ["x@y", "z@w"], ["x@y", ""]):
        pd.DataFrame({"id": range(len(rows)), "email": rows}).to_csv(tmp_path / "in.csv", index=False)
        code, _ = _cli(capsys, "run", "p.yaml", "--out", "out")
        assert code == 0
    return tmp_path / ".odibi" / "history.sqlite"


def test_cli_records_by_default_and_lists_runs(cli_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_runs.is_file()
    code, text = _cli(capsys, "history")
    assert code == 0
    assert text.count("orders") == 3 and "success" in text
    code, text = _cli(capsys, "history", "orders", "--json")
    runs = json.loads(text)
    assert [len(run["nodes"]) for run in runs] == [2, 2, 2]
    assert [run["checks_failed"] for run in runs] == [1, 0, 0]  # the newest run has an empty email
    assert runs[0]["nodes"][0]["profile"]["email"]["null_fraction"] == 0.5
    assert runs[0]["nodes"][0]["profile"]["email"]["distinct_estimate"] == 1  # computed beside the run
    assert runs[0]["nodes"][0]["profile"]["id"] == {"null_fraction": 0.0, "min": 0.0, "max": 1.0, "mean": 0.5}


def test_cli_diff_latest_against_previous(cli_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _cli(capsys, "diff", "previous", "latest", "--json")
    assert code == 0
    load = json.loads(text)["nodes"][0]
    assert load["node"] == "load"
    assert load["checks"] == [{"name": "not_null(email)", "before": "pass", "after": "warn"}]
    assert load["profile_changes"] == ["email: nulls 0.0% -> 50.0%"]
    code, text = _cli(capsys, "diff", "previous", "latest")
    assert code == 0 and "not_null(email): pass→warn" in text


def test_cli_history_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ODIBI_HISTORY_URL")
    assert main(["history"]) == 2
    err = capsys.readouterr().err
    assert "error: no run history at .odibi/history.sqlite" in err and "hint:" in err
    open_history(tmp_path / "h.sqlite").record_run(_run("r1", 1.0))
    assert main(["diff", "r1", "nope", "--history", str(tmp_path / "h.sqlite")]) == 2
    assert "no run with id 'nope'" in capsys.readouterr().err


def test_no_history_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ODIBI_HISTORY_URL")
    (tmp_path / "in.csv").write_text("a\n1\n")
    (tmp_path / "p.yaml").write_text(
        "name: p\nsteps:\n  - {name: l, layer: i, type: read, value: in.csv, outputs: [a]}\n"
    )
    assert _cli(capsys, "run", "p.yaml", "--no-history")[0] == 0
    assert not (tmp_path / ".odibi").exists()


# -- comparing and the story's history view -------------------------------------------------------------


def test_compare_runs_lists_what_changed() -> None:
    before = _run("a", 1.0, rows=10)
    node = NodeRecord(
        "load", "success", 30.0, 0, 7, 1, {"id": "str", "new": "int64"}, {"id": {"null_fraction": 0.5}},
        ({"name": "not_null(id)", "status": "warn"},),
    )  # fmt: skip
    after = RunRecord("b", "p", "success", 2.0, 3.0, nodes=(node,))
    (load,) = compare_runs(before, after).nodes
    assert load.rows_delta == -3 and load.duration_ratio == pytest.approx(30 / 12.5)
    assert load.added_columns == ["new"] and load.changed_types == {"id": ("int64", "str")}
    assert load.profile_changes == ["id: nulls 0.0% -> 50.0%"]
    assert load.checks == [("not_null(id)", "pass", "warn")] and load.changed


def _story_runs(tmp_path: Path, history: Any) -> list[dict[str, Any]]:
    results = []
    for rows in (3, 3, 5):
        frame = pd.DataFrame({"id": range(rows)})
        steps = [
            Step("load", "ingest", "function", lambda f=frame: f, outputs=["a"], checks=[not_null("id")])
        ]
        results.append(
            Orchestrator(steps, history=history, pipeline_name="storied", enable_tracker=True).execute()
        )
    return results


def test_the_story_compares_with_history(tmp_path: Path) -> None:
    store = open_history(tmp_path / "h.sqlite")
    last = _story_runs(tmp_path, store)[-1]
    last["tracker"].export_lineage(tmp_path / "lineage.json")
    html = StoryGenerator(history=store).render_html(tmp_path / "lineage.json")
    assert "Compared with previous run" in html and "and 2 recorded runs in the history" in html
    assert "rows out 3 → 5 (+2)" in html
    assert html.count("<polyline") == 2  # rows and duration of the one step
    assert "rows out: now 5; over 2 earlier runs 3 to 3" in html
    plain = StoryGenerator().render_html(tmp_path / "lineage.json")
    assert "Compared with" not in plain and "<polyline" not in plain
    # later runs never change an earlier run's story
    _story_runs(tmp_path, store)
    assert StoryGenerator(history=store).render_html(tmp_path / "lineage.json") == html


def test_the_story_says_when_the_history_cannot_be_read(tmp_path: Path) -> None:
    last = _story_runs(tmp_path, tmp_path / "h.sqlite")[-1]
    last["tracker"].export_lineage(tmp_path / "lineage.json")
    (tmp_path / "bad.sqlite").write_bytes(b"garbage" * 50)
    html = StoryGenerator(history=tmp_path / "bad.sqlite").render_html(tmp_path / "lineage.json")
    assert "History not shown: the run history could not be read" in html
    assert "<polyline" not in html and "Checks" in html  # the run's own data is all there


def test_first_run_story_says_so(tmp_path: Path) -> None:
    store = open_history(tmp_path / "h.sqlite")
    steps = [Step("load", "ingest", "function", lambda: pd.DataFrame({"id": [1]}), outputs=["a"])]
    result = Orchestrator(steps, history=store, pipeline_name="new", enable_tracker=True).execute()
    result["tracker"].export_lineage(tmp_path / "lineage.json")
    assert "First recorded run of this pipeline" in StoryGenerator(history=store).render_html(
        tmp_path / "lineage.json"
    )
