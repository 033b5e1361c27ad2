"""The story: a self-contained interactive HTML report of a run, rebuilt offline from its
lineage document or its exported span/log file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.story._build import build_story
    from odibi_otel.story._format import check_trace_url_template
    from odibi_otel.story.generator import (
        StoryGenerator,
        load_story_document,
        render_story,
    )
    from odibi_otel.story.model import Story

__all__ = [
    "Story",
    "StoryGenerator",
    "build_story",
    "check_trace_url_template",
    "load_story_document",
    "render_story",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        **dict.fromkeys(
            (
                "StoryGenerator",
                "load_story_document",
                "render_story",
            ),
            "odibi_otel.story.generator",
        ),
        "Story": "odibi_otel.story.model",
        "build_story": "odibi_otel.story._build",
        "check_trace_url_template": "odibi_otel.story._format",
    },
)
