"""The odibi_core tutorial's import path ``odibi_otel.story_generator``, kept as it is.

The code lives in :mod:`odibi_otel.story.generator`; this module re-exports it.
"""

from odibi_otel.story.generator import StoryGenerator

__all__ = ["StoryGenerator"]
