"""``odibi-otel lineage FILE``: the OpenLineage events of a run made earlier."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

from odibi_otel._internal.atomic import write_text_atomic
from odibi_otel.errors import OdibiError

__all__ = ["OpenLineageMissing", "convert_to_openlineage"]


class OpenLineageMissing(OdibiError, ImportError):
    """The optional ``openlineage-python`` package is not installed."""


def convert_to_openlineage(
    file: Path, output: Path | None, namespace: str, emit: bool, console: Console
) -> int:
    """Write (and with ``emit`` send) the OpenLineage events of the run in ``file``; returns 0."""
    try:
        from openlineage.client.serde import Serde

        from odibi_otel.openlineage import events_from_file
    except ImportError:
        raise OpenLineageMissing("OpenLineage needs the openlineage-python package") from None
    events = events_from_file(file, namespace=namespace)
    text = "".join(Serde.to_json(event) + "\n" for event in events)
    if output is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(output, text)
        console.print(Text(f"{len(events)} OpenLineage events written to {output}"), soft_wrap=True)
    if emit:
        from openlineage.client import OpenLineageClient

        client = OpenLineageClient()
        for event in events:
            client.emit(event)
        Console(stderr=True).print(Text(f"{len(events)} OpenLineage events sent"), soft_wrap=True)
    return 0
