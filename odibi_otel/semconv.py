"""The telemetry contract: every span name, attribute key and instrumentation scope in one place.

``docs/telemetry.md`` documents each name. Attribute keys live in the ``odibi.`` namespace unless
an OpenTelemetry semantic convention already defines them (``code.function.name``, ``error.type``).
"""

from __future__ import annotations

from typing import Final

from odibi_otel._version import __version__

INSTRUMENTATION_SCOPE: Final = "odibi_otel"
INSTRUMENTATION_VERSION: Final = __version__

PIPELINE_SPAN_PREFIX: Final = "pipeline "
NODE_SPAN_PREFIX: Final = "node "

# Pipeline span attributes.
PIPELINE_NAME: Final = "odibi.pipeline.name"
RUN_ID: Final = "odibi.run.id"
PIPELINE_STATUS: Final = "odibi.pipeline.status"
PIPELINE_NODES_TOTAL: Final = "odibi.pipeline.nodes.total"
PIPELINE_NODES_SUCCEEDED: Final = "odibi.pipeline.nodes.succeeded"
PIPELINE_NODES_FAILED: Final = "odibi.pipeline.nodes.failed"
PIPELINE_NODES_SKIPPED: Final = "odibi.pipeline.nodes.skipped"
PIPELINE_SKIPPED_NODES: Final = "odibi.pipeline.skipped_nodes"
PIPELINE_MAX_WORKERS: Final = "odibi.pipeline.max_workers"

# Node span attributes.
NODE_NAME: Final = "odibi.node.name"
NODE_LAYER: Final = "odibi.node.layer"
NODE_TYPE: Final = "odibi.node.type"
NODE_INPUTS: Final = "odibi.node.inputs"
NODE_OUTPUTS: Final = "odibi.node.outputs"
NODE_ROWS_IN: Final = "odibi.node.rows_in"
NODE_ROWS_OUT: Final = "odibi.node.rows_out"
NODE_COLUMNS_OUT: Final = "odibi.node.columns_out"
NODE_OUTPUT_SIZE_BYTES: Final = "odibi.node.output.size_bytes"
NODE_CACHE_HIT: Final = "odibi.node.cache_hit"
NODE_STATUS: Final = "odibi.node.status"

# Span link attribute: the data keys a link's producer handed to the linking node.
LINK_DATA_KEYS: Final = "odibi.link.data_keys"

# OpenTelemetry semantic-convention keys used as they are.
CODE_FUNCTION_NAME: Final = "code.function.name"
ERROR_TYPE: Final = "error.type"

# Values of odibi.pipeline.status / odibi.node.status.
STATUS_SUCCESS: Final = "success"
STATUS_FAILED: Final = "failed"
STATUS_SKIPPED: Final = "skipped"
STATUS_INTERRUPTED: Final = "interrupted"
