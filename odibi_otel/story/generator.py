"""The HTML story of a pipeline run: one self-contained page rebuilt from exported telemetry.

``StoryGenerator().generate_story("lineage.json", "story.html")`` reads a lineage JSON document
(:meth:`Tracker.export_lineage <odibi_otel.lineage.tracker.Tracker.export_lineage>`) or an OTLP/JSON lines
file of spans and log events (detected automatically), builds the view model
(:mod:`odibi_otel.story.model`) and renders ``templates/story.html.j2`` with jinja2 (autoescaping
on). The page has inline CSS and JavaScript only and makes no network request; its
Content-Security-Policy allows the one inline script by hash, so nothing else can run.

The header, waterfall, DAG and each step's summary (status, timings, rows, error) are HTML, so
they read without JavaScript. The bulky per-step details, the schema table and the sample tables,
are one compact JSON data block (:func:`story_data`; identical schema and sample tables are stored
once, so a step's input sample is not repeated when it is its producer's output) that the page's
script draws with DOM text APIs when a section is opened. With JavaScript, steps can also be
filtered and searched, and DAG nodes lead to cards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2
import jinja2.ext
from markupsafe import Markup

from odibi_otel._internal.atomic import write_text_atomic
from odibi_otel.errors import OdibiError, StoryInputError
from odibi_otel.story._build import build_story
from odibi_otel.story._format import check_trace_url_template
from odibi_otel.story._history_view import MAX_HISTORY_POINTS
from odibi_otel.story.model import SampleTable, SchemaRow, Story

__all__ = [
    "KIND_CODES",
    "OTLP_KEYS",
    "StoryGenerator",
    "load_story_document",
    "render_story",
    "script_json",
    "story_data",
]

#: Top-level keys of an OTLP/JSON export request (one per line in an OTLP/JSON lines file).
OTLP_KEYS: Final = ("resourceSpans", "resourceLogs", "resourceMetrics")
_TEMPLATE: Final = "story.html.j2"
#: One-letter codes of the sample cell kinds in the data block (the page's script maps them back).
KIND_CODES: Final = {"str": "s", "num": "n", "null": "z", "bool": "b", "json": "j", "redacted": "r"}
#: Characters escaped in JSON embedded in a ``<script>`` element: markup (no ``</script>`` or
#: ``<!--`` can form), the JavaScript line separators, and lone surrogates (not valid UTF-8).
_SCRIPT_UNSAFE: Final = re.compile("[<>&\u2028\u2029\ud800-\udfff]")


class StoryGenerator:
    """Turns a lineage file (or an OTLP/JSON span/log file) into an HTML story.

    Args:
        trace_url_template: A link to the trace in a tracing UI, with a ``{trace_id}``
            placeholder, e.g. ``http://localhost:16686/trace/{trace_id}`` (Jaeger) or
            ``http://localhost:3000/explore?...{trace_id}...`` (Grafana Tempo). Only http(s).
        history: A run history (URL, path or ``HistoryStore``): the story gains a "compared with
            history" view of the pipeline's runs up to the story's run (sparklines of rows and
            duration, changes since the previous run). Unreachable: the view says so.
    """

    def __init__(self, trace_url_template: str | None = None, history: Any = None) -> None:
        if trace_url_template is not None:
            check_trace_url_template(trace_url_template)
        self.trace_url_template = trace_url_template
        self.history = history

    def generate_story(
        self,
        lineage_file: str | os.PathLike[str],
        output_file: str | os.PathLike[str] = "story.html",
        title: str | None = None,
    ) -> Path:
        """Write the story of ``lineage_file`` to ``output_file`` (atomically) and return its path.

        Args:
            lineage_file: A lineage JSON document or an OTLP/JSON lines file of spans and logs.
            output_file: Where the HTML goes; parent folders are created.
            title: The page title; default ``"<pipeline> · execution story"``.

        Raises:
            StoryInputError: The input cannot be read or is malformed; the message names the file
                and the line or field.
        """
        html = self.render_html(lineage_file, title=title)
        output = Path(output_file)
        write_text_atomic(output, html)
        return output

    def render_html(self, lineage_file: str | os.PathLike[str], title: str | None = None) -> str:
        """The story of ``lineage_file`` as an HTML string (see :meth:`generate_story`)."""
        document = load_story_document(lineage_file)
        story = build_story(
            document,
            source=os.fspath(lineage_file),
            title=title,
            trace_url_template=self.trace_url_template,
            history=_recorded_runs(self.history, document),
        )
        return render_story(story)


def _recorded_runs(history: Any, document: Any) -> Any:
    """The pipeline's recorded runs up to the document's run, or why they cannot be read."""
    if history is None or not isinstance(document, dict) or not document.get("steps"):
        return None
    from odibi_otel.history.store import HistoryError, open_history

    pipeline, started = document.get("pipeline_name"), document.get("start_time")
    if not isinstance(pipeline, str):
        return None
    try:
        store = open_history(history)
        before = datetime.fromisoformat(started).timestamp() + 1e-3 if isinstance(started, str) else None
        return store.runs(pipeline, limit=MAX_HISTORY_POINTS + 1, before=before)
    except (HistoryError, ValueError, OSError) as exc:
        return f"the run history could not be read ({' '.join(str(exc).split())})"


def load_story_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a lineage document from ``path``: lineage JSON as is, OTLP/JSON lines rebuilt.

    An OTLP/JSON lines file (first line a JSON object with ``resourceSpans``/``resourceLogs``) is
    handed to :func:`odibi_otel.lineage.from_telemetry.lineage_from_otlp_file`.

    Raises:
        StoryInputError: Unreadable file, not UTF-8, invalid JSON (with line and column), or not
            a JSON object.
    """
    source = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise StoryInputError(source, None, f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise StoryInputError(source, f"line {line}", "not UTF-8 text") from None
    if not text.strip():
        raise StoryInputError(source, None, "the file is empty")
    if _looks_like_otlp(text):
        return _from_otlp(path, source)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoryInputError(
            source, f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise StoryInputError(source, None, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise StoryInputError(source, None, f"invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise StoryInputError(
            source,
            None,
            f"expected a lineage JSON object or OTLP/JSON lines, got a JSON {_json_kind(document)}",
        )
    if any(key in document for key in OTLP_KEYS):
        return _from_otlp(path, source)
    return document


def _looks_like_otlp(text: str) -> bool:
    """Whether the first non-blank line is a complete JSON object of an OTLP export request."""
    first = text.lstrip().partition("\n")[0]
    if not first.startswith("{"):
        return False
    try:
        head = json.loads(first)
    except (ValueError, RecursionError):  # not JSON (or a number Python will not convert)
        return False
    return isinstance(head, dict) and any(key in head for key in OTLP_KEYS)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number"


def _from_otlp(path: str | os.PathLike[str], source: str) -> dict[str, Any]:
    from odibi_otel.lineage.from_telemetry import lineage_from_otlp_file

    try:
        document = lineage_from_otlp_file(path)
    except StoryInputError:
        raise
    except (OdibiError, ValueError) as exc:
        # TelemetryFileError carries source, line and problem: keep them as they are.
        problem = getattr(exc, "problem", None)
        if isinstance(problem, str):
            line = getattr(exc, "line", None)
            place = f"line {line}" if isinstance(line, int) else None
            raise StoryInputError(str(getattr(exc, "source", source)), place, problem) from exc
        raise StoryInputError(source, None, f"cannot rebuild the lineage from OTLP/JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise StoryInputError(source, None, "the OTLP/JSON file holds no odibi_otel lineage or spans")
    return document


def render_story(story: Story) -> str:
    """Render a story view model to the self-contained HTML page.

    Lone surrogates (JSON ``\\udXXX`` escapes that encode no character) are written as such
    escapes, so the page can always be saved as UTF-8.
    """
    data = script_json(story_data(story)) if story.cards else None
    html = _environment().get_template(_TEMPLATE).render(story=story, data=data)
    try:
        html.encode("utf-8")
    except UnicodeEncodeError:
        return html.encode("utf-8", "backslashreplace").decode("utf-8")
    return html


def story_data(story: Story) -> dict[str, Any]:
    """The per-step details the page's script draws: schema and sample tables, each stored once.

    The result (embedded by :func:`script_json`) is::

        {"schemas": [[[marker, column, before, after], ...], ...],
         "tables": [{"columns": [...], "redacted": [column index, ...],
                     "rows": [[cell text, ...], ...], "kinds": ["<one code per cell>", ...]}, ...],
         "snapshots": [[data key, summary, table index or null], ...],
         "cards": {card id: {"schema": schema index, "before": [snapshot index, ...],
                             "after": [snapshot index, ...]}}}

    ``before``/``after`` of a schema row are ``null`` when the column is absent on that side; the
    kinds are :data:`KIND_CODES`; a table index is ``null`` when no sample values were captured.
    Identical schema tables, sample tables and snapshots are stored once: a step's input is
    usually its producer's output. A card without schema or samples has no entry; a timeline
    story (no step cards) has none at all.
    """
    schemas: dict[tuple[SchemaRow, ...], int] = {}
    tables: dict[tuple[Any, ...], int] = {}
    snapshots: dict[tuple[str, str, int | None], int] = {}
    cards: dict[str, dict[str, Any]] = {}
    for card in story.cards:
        entry: dict[str, Any] = {}
        if card.schema:
            entry["schema"] = schemas.setdefault(card.schema, len(schemas))
        for table in card.samples:
            index = tables.setdefault(_table_key(table), len(tables)) if table.captured else None
            snapshot = snapshots.setdefault((table.key, table.summary, index), len(snapshots))
            entry.setdefault(table.role, []).append(snapshot)
        if entry:
            cards[card.id] = entry
    return {
        "schemas": [[[r.marker, r.column, r.before, r.after] for r in rows] for rows in schemas],
        "tables": [
            {"columns": list(columns), "redacted": list(redacted), "rows": list(rows), "kinds": list(kinds)}
            for columns, redacted, rows, kinds in tables
        ],
        "snapshots": [list(snapshot) for snapshot in snapshots],
        "cards": cards,
    }


def _table_key(table: SampleTable) -> tuple[Any, ...]:
    """A sample table's content as hashable plain values: (columns, redacted, rows, kinds)."""
    codes = KIND_CODES
    return (
        tuple(column.name for column in table.headers),
        tuple(index for index, column in enumerate(table.headers) if column.redacted),
        tuple(tuple(cell.text for cell in row) for row in table.body),
        tuple("".join(codes.get(cell.kind, "s") for cell in row) for row in table.body),
    )


def script_json(value: Any) -> Markup:
    """``value`` as compact JSON that is safe as the text of a ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` are written as ``\\u003c``-style escapes (so data can never close the
    element or start a comment), as are U+2028/U+2029 and lone surrogates; ``JSON.parse`` restores
    every one of them.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Markup(_SCRIPT_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text))


def _csp_hash(script: str) -> Markup:
    """The CSP source expression (``'sha256-…'``) that allows exactly this inline script."""
    digest = hashlib.sha256(str(script).encode("utf-8")).digest()
    return Markup("'sha256-{}'").format(base64.b64encode(digest).decode("ascii"))


def _percent(value: float | None) -> str:
    """A CSS percentage from a model number (always a plain decimal, never text from the input)."""
    return _number(value) + "%"


def _number(value: float | None) -> str:
    """A model number as short decimal text: ``16``, ``0.345`` (at most 3 decimals, no exponent)."""
    text = f"{float(value or 0.0):.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _compact_markup(source: str) -> str:
    """Template source without its own indentation and line breaks between tags.

    A line break goes when the line ends with a tag or an expression (``>``, ``}}``) and the next
    one starts with one (``<``, ``{{``, ``{%``).

    Applied to the template when it is loaded, so only the template's layout whitespace goes;
    values rendered into the page are untouched.
    """
    lines: list[str] = []
    for line in source.split("\n"):
        line = line.lstrip(" ")
        if lines and lines[-1].endswith((">", "}}")) and line.startswith(("<", "{{", "{%")):
            lines[-1] += line
        else:
            lines.append(line)
    return "\n".join(lines)


class _CompactTemplate(jinja2.ext.Extension):
    """Loads ``story.html.j2`` through :func:`_compact_markup`."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        """The template source as jinja2 compiles it."""
        return _compact_markup(source) if name == _TEMPLATE else source


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("odibi_otel.story", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_CompactTemplate],
    )
    environment.filters["csp_hash"] = _csp_hash
    environment.filters["percent"] = _percent
    environment.filters["number"] = _number
    return environment
