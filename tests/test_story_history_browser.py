"""The story's checks and "compared with history" view in headless Chromium: drawn, clean, and
never running markup from check names, column names or failing values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from opentelemetry.sdk.trace import TracerProvider
from test_story_browser import ATTR, IMG, SCRIPT, Opened, browser, open_story

from odibi_otel import Orchestrator, Step, StoryGenerator
from odibi_otel.history import open_history
from odibi_otel.quality import custom, expression, not_null

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with test_story_browser

CHECK = f"no nulls {SCRIPT}"
COLUMN = f"col {IMG}"


def _frame(rows: int, *, extra: bool) -> pd.DataFrame:
    frame = pd.DataFrame({"id": range(rows), COLUMN: [ATTR if i % 2 else None for i in range(rows)]})
    return frame.assign(**{f"new {ATTR}": 1}) if extra else frame


@pytest.fixture(scope="module")
def story_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("history_story")
    store = open_history(folder / "history.sqlite")
    provider = TracerProvider()
    result = None
    for rows, extra in ((6, False), (6, False), (6, False), (9, True)):
        frame = _frame(rows, extra=extra)
        checks = [
            not_null(COLUMN, severity="warn", name=CHECK),
            expression("id >= 0"),
            custom(lambda f: (False, f.head(2)), severity="warn", name=f"custom {IMG}"),
        ]
        steps = [Step("load", "ingest", "function", lambda f=frame: f, outputs=["raw"], checks=checks)]
        result = Orchestrator(
            steps, history=store, enable_tracker=True, pipeline_name="history story", tracer_provider=provider
        ).execute()
    assert result is not None and result["success"]
    result["tracker"].export_lineage(folder / "lineage.json")
    return StoryGenerator(history=store).generate_story(folder / "lineage.json", folder / "story.html")


@pytest.fixture()
def story(browser: object, story_file: Path) -> Iterator[Opened]:
    yield from open_story(browser, story_file)  # type: ignore[arg-type]


def test_history_view_and_checks_render_without_errors(story: Opened) -> None:
    page = story.page
    assert page.locator(".history-note", has_text="Compared with previous run").count() == 1
    assert page.locator(".history-block svg polyline").count() == 2  # rows and duration
    assert (
        page.locator(
            ".history-block figcaption", has_text="rows out: now 9; over 3 earlier runs 6 to 6"
        ).count()
        == 1
    )
    assert page.locator(".history-block li", has_text="rows out 6 → 9 (+3)").count() == 1
    assert page.locator("table.checks tbody > tr.tone-interrupted").count() == 2  # two warn checks
    assert page.locator("table.checks tbody > tr.tone-success").count() == 1
    assert page.locator(".failing-rows").count() == 2
    story.assert_clean()


def test_check_names_columns_and_failing_values_show_as_text(story: Opened) -> None:
    page = story.page
    text = page.inner_text("body")
    for payload in (CHECK, COLUMN, ATTR, f"custom {IMG}", f"column new {ATTR} added (int64)"):
        assert payload in text, payload
    assert page.locator("table.checks td.mono", has_text=CHECK).count() == 1
    assert page.locator(".failing-rows th", has_text=COLUMN).count() == 2
    assert page.locator(".failing-rows td", has_text=ATTR).count() >= 1
    story.assert_clean()


def test_readable_without_javascript(browser: object, story_file: Path) -> None:
    for opened in open_story(browser, story_file, javascript=False):  # type: ignore[arg-type]
        assert opened.page.locator(".history-block svg polyline").count() == 2
        assert opened.page.locator("table.checks").count() == 1
        assert opened.errors == [] and opened.xss_flag() is None
