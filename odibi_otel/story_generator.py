"""The HTML story of a pipeline run: one self-contained page rebuilt from exported telemetry.

``StoryGenerator().generate_story("lineage.json", "story.html")`` reads a lineage JSON document
(:meth:`Tracker.export_lineage <odibi_otel.tracker.Tracker.export_lineage>`) or an OTLP/JSON lines
file of spans and log events (detected automatically), builds the view model
(:mod:`odibi_otel.story_model`) and renders ``templates/story.html.j2`` with jinja2 (autoescaping
on). The page has inline CSS and JavaScript only and makes no network request; its
Content-Security-Policy allows the one inline script by hash, so nothing else can run. It reads
fine without JavaScript; with it, steps can be filtered and searched and DAG nodes lead to cards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2
from markupsafe import Markup

from odibi_otel.atomic import write_text_atomic
from odibi_otel.errors import OdibiError, StoryInputError
from odibi_otel.story_model import Story, build_story, check_trace_url_template

__all__ = ["OTLP_KEYS", "StoryGenerator", "load_story_document", "render_story"]

#: Top-level keys of an OTLP/JSON export request (one per line in an OTLP/JSON lines file).
OTLP_KEYS: Final = ("resourceSpans", "resourceLogs", "resourceMetrics")
_TEMPLATE: Final = "story.html.j2"


class StoryGenerator:
    """Turns a lineage file (or an OTLP/JSON span/log file) into an HTML story.

    Args:
        trace_url_template: A link to the trace in a tracing UI, with a ``{trace_id}``
            placeholder, e.g. ``http://localhost:16686/trace/{trace_id}`` (Jaeger) or
            ``http://localhost:3000/explore?...{trace_id}...`` (Grafana Tempo). Only http(s).
    """

    def __init__(self, trace_url_template: str | None = None) -> None:
        if trace_url_template is not None:
            check_trace_url_template(trace_url_template)
        self.trace_url_template = trace_url_template

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
        )
        return render_story(story)


def load_story_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a lineage document from ``path``: lineage JSON as is, OTLP/JSON lines rebuilt.

    An OTLP/JSON lines file (first line a JSON object with ``resourceSpans``/``resourceLogs``) is
    handed to :func:`odibi_otel.telemetry_file.lineage_from_otlp_file`.

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
    from odibi_otel.telemetry_file import lineage_from_otlp_file

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
    html = _environment().get_template(_TEMPLATE).render(story=story)
    try:
        html.encode("utf-8")
    except UnicodeEncodeError:
        return html.encode("utf-8", "backslashreplace").decode("utf-8")
    return html


def _csp_hash(script: str) -> Markup:
    """The CSP source expression (``'sha256-…'``) that allows exactly this inline script."""
    digest = hashlib.sha256(str(script).encode("utf-8")).digest()
    return Markup("'sha256-{}'").format(base64.b64encode(digest).decode("ascii"))


def _percent(value: float | None) -> str:
    """A CSS percentage from a model number (always a plain decimal, never text from the input)."""
    return f"{float(value or 0.0):.3f}%"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("odibi_otel", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["csp_hash"] = _csp_hash
    environment.filters["percent"] = _percent
    return environment
