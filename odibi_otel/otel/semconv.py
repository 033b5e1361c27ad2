"""The telemetry contract: every span name, attribute key and instrumentation scope in one place.

``docs/telemetry.md`` documents each name. Attribute keys live in the ``odibi.`` namespace unless
an OpenTelemetry semantic convention already defines them (``code.function.name``, ``error.type``).
"""

from __future__ import annotations

from typing import Final

from odibi_otel._version import __version__

__all__ = [
    "SPARK_JOB_SPAN_PREFIX",
    "SPARK_STAGE_SPAN_PREFIX",
    "SPARK_JOB_ID",
    "SPARK_JOB_DESCRIPTION",
    "SPARK_STAGE_ID",
    "SPARK_STAGE_ATTEMPT",
    "SPARK_STAGE_NAME",
    "SPARK_STATUS",
    "SPARK_JOBS",
    "SPARK_STAGES",
    "SPARK_TASKS",
    "SPARK_TASKS_FAILED",
    "SPARK_INPUT_RECORDS",
    "SPARK_INPUT_BYTES",
    "SPARK_OUTPUT_RECORDS",
    "SPARK_OUTPUT_BYTES",
    "SPARK_SHUFFLE_READ_BYTES",
    "SPARK_SHUFFLE_WRITE_BYTES",
    "SPARK_EXECUTOR_RUN_TIME_MS",
    "SPARK_EXECUTOR_CPU_TIME_NS",
    "SPARK_SPILL_MEMORY_BYTES",
    "SPARK_SPILL_DISK_BYTES",
    "SPARK_PEAK_EXECUTION_MEMORY",
    "SPARK_TRACEPARENT_PROPERTY",
    "METRIC_SPARK_TASKS",
    "METRIC_SPARK_SHUFFLE",
    "METRIC_SPARK_SPILL",
    "NODE_CHECKS_TOTAL",
    "NODE_CHECKS_FAILED",
    "NODE_CHECKS_WARNED",
    "NODE_ANOMALIES",
    "NODE_ANOMALY_KINDS",
    "EVENT_CHECK",
    "EVENT_ANOMALY",
    "CHECK_NAME",
    "CHECK_KIND",
    "CHECK_SEVERITY",
    "CHECK_STATUS",
    "CHECK_FAILING_COUNT",
    "CHECK_MESSAGE",
    "CHECK_FAILING_ROWS",
    "ANOMALY_KIND",
    "ANOMALY_MESSAGE",
    "ANOMALY_COLUMN",
    "ANOMALY_VALUE",
    "ANOMALY_EXPECTED",
    "PIPELINE_HISTORY_LAST_SUCCESS",
    "METRIC_CHECKS",
    "METRIC_CHECK_FAILURES",
    "METRIC_ANOMALIES",
    "LABEL_CHECK",
    "LABEL_SEVERITY",
    "LABEL_KIND",
    "CODE_FUNCTION_NAME",
    "DB_QUERY_TEXT",
    "OPENLINEAGE_RUN_ID",
    "MAX_QUERY_TEXT",
    "DURATION_BUCKETS_SECONDS",
    "ERROR_TYPE",
    "EVENT_LINEAGE_RUN",
    "EVENT_LINEAGE_SNAPSHOT",
    "INSTRUMENTATION_SCOPE",
    "INSTRUMENTATION_VERSION",
    "LABEL_ERROR_TYPE",
    "LABEL_LAYER",
    "LABEL_NODE",
    "LABEL_PIPELINE",
    "LABEL_STATUS",
    "LINEAGE_FORMAT",
    "LINEAGE_STEP_INDEX",
    "LINEAGE_VERSION",
    "LINK_DATA_KEYS",
    "METRIC_CACHE_HITS",
    "METRIC_CACHE_MISSES",
    "METRIC_CUSTOM_PREFIX",
    "METRIC_NODE_DURATION",
    "METRIC_NODE_ERRORS",
    "METRIC_NODE_MEMORY_USAGE",
    "METRIC_NODE_OUTPUT_SIZE",
    "METRIC_NODE_ROWS",
    "METRIC_NODE_THROUGHPUT",
    "METRIC_PIPELINE_DURATION",
    "METRIC_NODE_LAST_RUN_DURATION",
    "METRIC_NODE_LAST_RUN_ROWS",
    "METRIC_NODE_LAST_RUN_STATUS",
    "METRIC_PIPELINE_LAST_RUN_DURATION",
    "METRIC_PIPELINE_LAST_RUN_STATUS",
    "METRIC_PIPELINE_LAST_RUN_TIMESTAMP",
    "METRIC_PIPELINE_LAST_SUCCESS",
    "METRIC_PIPELINE_RUNS",
    "NODE_CACHE_HIT",
    "NODE_COLUMNS_OUT",
    "NODE_INPUTS",
    "NODE_LAYER",
    "NODE_NAME",
    "NODE_OUTPUTS",
    "NODE_OUTPUT_SIZE_BYTES",
    "NODE_ROWS_IN",
    "NODE_ROWS_OUT",
    "NODE_ROW_DELTA",
    "NODE_SCHEMA_ADDED",
    "NODE_SCHEMA_CHANGED",
    "NODE_SCHEMA_REMOVED",
    "NODE_SPAN_PREFIX",
    "NODE_STATUS",
    "NODE_TYPE",
    "PIPELINE_MAX_WORKERS",
    "PIPELINE_NAME",
    "PIPELINE_NODES_FAILED",
    "PIPELINE_NODES_SKIPPED",
    "PIPELINE_NODES_SUCCEEDED",
    "PIPELINE_NODES_TOTAL",
    "PIPELINE_SKIPPED_NODES",
    "PIPELINE_SPAN_PREFIX",
    "PIPELINE_STATUS",
    "RUN_ID",
    "STATUS_CACHED",
    "STATUS_FAILED",
    "STATUS_INTERRUPTED",
    "STATUS_SKIPPED",
    "STATUS_SUCCESS",
]

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
#: A ``sql`` node's query (the database semantic conventions' attribute), cut at MAX_QUERY_TEXT.
DB_QUERY_TEXT: Final = "db.query.text"
MAX_QUERY_TEXT: Final = 4096
#: The OpenLineage ``runId`` of the node's (or pipeline's) run, when OpenLineage is on.
OPENLINEAGE_RUN_ID: Final = "odibi.openlineage.run_id"
ERROR_TYPE: Final = "error.type"

# Values of odibi.pipeline.status / odibi.node.status.
STATUS_SUCCESS: Final = "success"
STATUS_FAILED: Final = "failed"
STATUS_SKIPPED: Final = "skipped"
STATUS_INTERRUPTED: Final = "interrupted"
#: ``status`` label value of node metrics for outputs served from the cache.
STATUS_CACHED: Final = "cached"

# Metric instruments (OpenTelemetry names; the Prometheus exporter adds unit and _total suffixes).
METRIC_NODE_DURATION: Final = "odibi.node.duration"
METRIC_NODE_ROWS: Final = "odibi.node.rows"
METRIC_NODE_THROUGHPUT: Final = "odibi.node.throughput"
METRIC_NODE_MEMORY_USAGE: Final = "odibi.node.memory.usage"
METRIC_NODE_OUTPUT_SIZE: Final = "odibi.node.output.size"
METRIC_NODE_ERRORS: Final = "odibi.node.errors"
METRIC_CACHE_HITS: Final = "odibi.cache.hits"
METRIC_CACHE_MISSES: Final = "odibi.cache.misses"
METRIC_PIPELINE_RUNS: Final = "odibi.pipeline.runs"
METRIC_PIPELINE_DURATION: Final = "odibi.pipeline.duration"
METRIC_PIPELINE_LAST_SUCCESS: Final = "odibi.pipeline.last_success_timestamp"
# Batch-job gauges (Prometheus practice for jobs that end before the next scrape): the latest
# run's end time, duration and status (1 success, 0 failed or interrupted), per pipeline and node.
METRIC_PIPELINE_LAST_RUN_TIMESTAMP: Final = "odibi.pipeline.last_run_timestamp"
METRIC_PIPELINE_LAST_RUN_DURATION: Final = "odibi.pipeline.last_run_duration"
METRIC_PIPELINE_LAST_RUN_STATUS: Final = "odibi.pipeline.last_run_status"
METRIC_NODE_LAST_RUN_ROWS: Final = "odibi.node.last_run_rows"
METRIC_NODE_LAST_RUN_DURATION: Final = "odibi.node.last_run_duration"
METRIC_NODE_LAST_RUN_STATUS: Final = "odibi.node.last_run_status"
METRIC_CUSTOM_PREFIX: Final = "odibi.custom."

# Metric attributes (Prometheus labels). Bounded by the pipeline definition: never run ids.
LABEL_PIPELINE: Final = "pipeline"
LABEL_NODE: Final = "node"
LABEL_LAYER: Final = "layer"
LABEL_STATUS: Final = "status"
LABEL_ERROR_TYPE: Final = ERROR_TYPE

#: Node/pipeline duration histogram boundaries in seconds (1 ms .. 1 h).
DURATION_BUCKETS_SECONDS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip

# Lineage summary attributes on node spans (set when the tracker is on).
NODE_SCHEMA_ADDED: Final = "odibi.node.schema.added"
NODE_SCHEMA_REMOVED: Final = "odibi.node.schema.removed"
NODE_SCHEMA_CHANGED: Final = "odibi.node.schema.changed"
NODE_ROW_DELTA: Final = "odibi.node.row_delta"

# Log-based events (OTel Logs API, event_name) carrying lineage, correlated with the spans.
EVENT_LINEAGE_SNAPSHOT: Final = "odibi.lineage.snapshot"
EVENT_LINEAGE_RUN: Final = "odibi.lineage.run"
#: Attribute of ``odibi.lineage.snapshot`` events: the step's position in the lineage document.
LINEAGE_STEP_INDEX: Final = "odibi.lineage.step_index"

#: Format tag of lineage JSON documents (``export_lineage``).
LINEAGE_FORMAT: Final = "odibi_otel.lineage"
LINEAGE_VERSION: Final = 1

# Data checks and anomalies (docs/checks.md, docs/history.md): node span counts, one span event
# (and one log-based event) per check result and per anomaly finding.
NODE_CHECKS_TOTAL: Final = "odibi.node.checks.total"
NODE_CHECKS_FAILED: Final = "odibi.node.checks.failed"
NODE_CHECKS_WARNED: Final = "odibi.node.checks.warned"
NODE_ANOMALIES: Final = "odibi.node.anomalies"
NODE_ANOMALY_KINDS: Final = "odibi.node.anomaly.kinds"
EVENT_CHECK: Final = "odibi.check"
EVENT_ANOMALY: Final = "odibi.anomaly"
CHECK_NAME: Final = "odibi.check.name"
CHECK_KIND: Final = "odibi.check.kind"
CHECK_SEVERITY: Final = "odibi.check.severity"
CHECK_STATUS: Final = "odibi.check.status"
CHECK_FAILING_COUNT: Final = "odibi.check.failing_count"
CHECK_MESSAGE: Final = "odibi.check.message"
CHECK_FAILING_ROWS: Final = "odibi.check.failing_rows"
ANOMALY_KIND: Final = "odibi.anomaly.kind"
ANOMALY_MESSAGE: Final = "odibi.anomaly.message"
ANOMALY_COLUMN: Final = "odibi.anomaly.column"
ANOMALY_VALUE: Final = "odibi.anomaly.value"
ANOMALY_EXPECTED: Final = "odibi.anomaly.expected"
PIPELINE_HISTORY_LAST_SUCCESS: Final = "odibi.pipeline.history.last_success_time"
METRIC_CHECKS: Final = "odibi.checks"
METRIC_CHECK_FAILURES: Final = "odibi.check.failures"
METRIC_ANOMALIES: Final = "odibi.anomalies"
LABEL_CHECK: Final = "check"
LABEL_SEVERITY: Final = "severity"
LABEL_KIND: Final = "kind"

# Spark (docs/spark.md): per node, its Spark jobs are child spans ``spark job <id>`` and their
# stages ``spark stage <id>.<attempt>``; the node span carries the totals of its stages.
SPARK_JOB_SPAN_PREFIX: Final = "spark job "
SPARK_STAGE_SPAN_PREFIX: Final = "spark stage "
SPARK_JOB_ID: Final = "odibi.spark.job.id"
SPARK_JOB_DESCRIPTION: Final = "odibi.spark.job.description"
SPARK_STAGE_ID: Final = "odibi.spark.stage.id"
SPARK_STAGE_ATTEMPT: Final = "odibi.spark.stage.attempt"
SPARK_STAGE_NAME: Final = "odibi.spark.stage.name"
SPARK_STATUS: Final = "odibi.spark.status"
SPARK_JOBS: Final = "odibi.spark.jobs"
SPARK_STAGES: Final = "odibi.spark.stages"
SPARK_TASKS: Final = "odibi.spark.tasks"
SPARK_TASKS_FAILED: Final = "odibi.spark.tasks.failed"
SPARK_INPUT_RECORDS: Final = "odibi.spark.input.records"
SPARK_INPUT_BYTES: Final = "odibi.spark.input.bytes"
SPARK_OUTPUT_RECORDS: Final = "odibi.spark.output.records"
SPARK_OUTPUT_BYTES: Final = "odibi.spark.output.bytes"
SPARK_SHUFFLE_READ_BYTES: Final = "odibi.spark.shuffle.read.bytes"
SPARK_SHUFFLE_WRITE_BYTES: Final = "odibi.spark.shuffle.write.bytes"
SPARK_EXECUTOR_RUN_TIME_MS: Final = "odibi.spark.executor.run_time_ms"
SPARK_EXECUTOR_CPU_TIME_NS: Final = "odibi.spark.executor.cpu_time_ns"
SPARK_SPILL_MEMORY_BYTES: Final = "odibi.spark.spill.memory_bytes"
SPARK_SPILL_DISK_BYTES: Final = "odibi.spark.spill.disk_bytes"
SPARK_PEAK_EXECUTION_MEMORY: Final = "odibi.spark.peak_execution_memory_bytes"
#: The local property (and the Python worker's view of it) carrying the node span's W3C traceparent.
SPARK_TRACEPARENT_PROPERTY: Final = "odibi.traceparent"
#: Metrics of Spark nodes (docs/spark.md): tasks, shuffle and spill per node run.
METRIC_SPARK_TASKS: Final = "odibi.spark.tasks"
METRIC_SPARK_SHUFFLE: Final = "odibi.spark.shuffle.size"
METRIC_SPARK_SPILL: Final = "odibi.spark.spill.size"
