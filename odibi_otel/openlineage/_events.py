"""OpenLineage run events of a pipeline run and of its nodes, built from lineage records (no I/O).

The same builders serve the live emitter (fed from the tracker while the run goes) and
``odibi-otel lineage`` (fed from a ``lineage.json`` or telemetry file afterwards). Inputs are
the records of the lineage document (``docs/lineage.md``): a step's ``type``, ``inputs``,
``outputs``, ``source``, ``before``/``after`` snapshots, ``status`` and ``error``. Sample rows
are never read: only column names and types, counts and sizes leave the process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    datasource_dataset,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    sql_job,
)

from odibi_otel._version import __version__
from odibi_otel.lineage.run_ids import node_run_uuid, pipeline_run_uuid
from odibi_otel.openlineage._columns import ColumnMap, function_columns, identity_columns, sql_columns
from odibi_otel.openlineage._facets import ODIBI_FACET_KEY, OdibiRunFacet
from odibi_otel.openlineage._naming import DatasetName, file_dataset, frame_dataset

__all__ = ["PRODUCER", "RunInfo", "node_event", "pipeline_event", "skipped_node_events"]

#: The ``producer`` of every event and facet odibi_otel makes.
PRODUCER: Final = f"https://github.com/odibi-otel/odibi_otel/tree/v{__version__}"
_END_STATES: Final = {
    "success": RunState.COMPLETE,
    "failed": RunState.FAIL,
    "interrupted": RunState.ABORT,
    "skipped": RunState.ABORT,
}


@dataclass(frozen=True)
class RunInfo:
    """What every event of one pipeline run shares."""

    namespace: str
    pipeline: str
    run_id: str
    trace_id: str | None = None
    span_id: str | None = None
    engine: str = "pandas"
    engine_version: str = ""
    sql_dialect: str = "duckdb"
    column_lineage: bool = True

    @property
    def run_uuid(self) -> str:
        """The pipeline run's OpenLineage ``runId``."""
        return pipeline_run_uuid(self.run_id)


def pipeline_event(
    info: RunInfo,
    state: str,
    event_time: str,
    steps: Sequence[Mapping[str, Any]] = (),
    error: Mapping[str, Any] | None = None,
) -> RunEvent:
    """The pipeline run's START (``state="running"``) or end event.

    Its datasets are the files the run read and wrote.
    """
    run_facets: dict[str, Any] = {
        "processing_engine": _engine_facet(info),
        ODIBI_FACET_KEY: OdibiRunFacet(
            pipeline=info.pipeline, odibiRunId=info.run_id, status=state, traceId=info.trace_id,
            spanId=info.span_id, producer=PRODUCER,
        ),
    }  # fmt: skip
    if error:
        run_facets["errorMessage"] = _error_facet(error)
    inputs = [_file_input(s) for s in steps if s.get("type") == "read" and "path" in s.get("source", {})]
    outputs = [_file_output(s) for s in steps if s.get("type") == "write" and "path" in s.get("source", {})]
    return RunEvent(
        eventType=RunState.START if state == "running" else _END_STATES.get(state, RunState.FAIL),
        eventTime=event_time,
        run=Run(runId=info.run_uuid, facets=run_facets),
        job=Job(namespace=info.namespace, name=info.pipeline, facets={"jobType": _job_type("PIPELINE")}),
        inputs=inputs,
        outputs=outputs,
        producer=PRODUCER,
    )


def node_event(
    info: RunInfo, step: Mapping[str, Any], state: str, event_time: str, span_id: str | None = None
) -> RunEvent:
    """A node run's START (``state="running"``) or end event, child of the pipeline run."""
    name = str(step["name"])
    run_facets: dict[str, Any] = {
        "parent": _parent_facet(info),
        "processing_engine": _engine_facet(info),
        ODIBI_FACET_KEY: OdibiRunFacet(
            pipeline=info.pipeline, step=name, odibiRunId=info.run_id, status=state,
            traceId=info.trace_id, spanId=span_id or step.get("span_id"), cacheHit=step.get("cache_hit"),
            skippedReason="an upstream node failed" if state == "skipped" else None, producer=PRODUCER,
        ),
    }  # fmt: skip
    if step.get("error") and state in ("failed", "interrupted"):
        run_facets["errorMessage"] = _error_facet(step["error"])
    job_facets: dict[str, Any] = {"jobType": _job_type("NODE")}
    query = step.get("source", {}).get("query")
    if query:
        job_facets["sql"] = sql_job.SQLJobFacet(query=query, dialect=info.sql_dialect, producer=PRODUCER)
    inputs, outputs = _node_datasets(info, step, finished=state == "success")
    return RunEvent(
        eventType=RunState.START if state == "running" else _END_STATES.get(state, RunState.FAIL),
        eventTime=event_time,
        run=Run(runId=node_run_uuid(info.run_id, name), facets=run_facets),
        job=Job(namespace=info.namespace, name=f"{info.pipeline}.{name}", facets=job_facets),
        inputs=inputs,
        outputs=outputs,
        producer=PRODUCER,
    )


def skipped_node_events(info: RunInfo, steps: Iterable[Mapping[str, Any]], event_time: str) -> list[RunEvent]:
    """A START and an ABORT (with ``odibi.status = skipped``) for every node that did not run."""
    events: list[RunEvent] = []
    for step in steps:
        if step.get("status") == "skipped":
            events.append(node_event(info, step, "running", event_time))
            events.append(node_event(info, step, "skipped", event_time))
    return events


# -- datasets ------------------------------------------------------------------------------------


def _node_datasets(
    info: RunInfo, step: Mapping[str, Any], finished: bool
) -> tuple[list[InputDataset], list[OutputDataset]]:
    kind, source = step.get("type"), step.get("source", {})
    before: Mapping[str, Any] = step.get("before") or {}
    after: Mapping[str, Any] = step.get("after") or {}
    if kind == "read" and "path" in source:
        names = {"file": file_dataset(source["path"])}
        inputs = [_input(names["file"], None)]
    else:
        names = {key: frame_dataset(info.pipeline, key) for key in step.get("inputs", [])}
        inputs = [_input(names[key], before.get(key)) for key in step.get("inputs", [])]
    if kind == "write" and "path" in source:
        target = file_dataset(source["path"])
        snapshot = next(iter(after.values()), None) if finished else None
        columns = identity_columns(step["inputs"][0], _columns(before.get(step["inputs"][0])))
        lineage = _lineage(info, columns, names) if finished and info.column_lineage else None
        return inputs, [_output(target, snapshot, lineage)]
    outputs = []
    for key in step.get("outputs", []):
        snapshot = after.get(key) if finished else None
        lineage = _lineage(info, _column_map(info, step, key), names) if finished and snapshot else None
        outputs.append(_output(frame_dataset(info.pipeline, key), snapshot, lineage))
    return inputs, outputs


def _column_map(info: RunInfo, step: Mapping[str, Any], key: str) -> ColumnMap:
    if not info.column_lineage:
        return {}
    after, before = step.get("after") or {}, step.get("before") or {}
    produced = _columns(after.get(key))
    kind, source = step.get("type"), step.get("source", {})
    if kind == "read":
        return identity_columns("file", produced)
    if kind == "sql" and source.get("query"):
        tables: Mapping[str, str] = source.get("tables") or {k: k for k in step.get("inputs", [])}
        try:
            by_table = sql_columns(
                source["query"], info.sql_dialect, {t: _columns(before.get(k)) for t, k in tables.items()}
            )
        except ValueError:
            return {}
        return {
            column: [(tables.get(t, t), c, kind_, sub) for t, c, kind_, sub in edges]
            for column, edges in by_table.items()
        }
    return function_columns({k: _columns(before.get(k)) for k in step.get("inputs", [])}, produced)


def _lineage(
    info: RunInfo, columns: ColumnMap, names: Mapping[str, DatasetName]
) -> column_lineage_dataset.ColumnLineageDatasetFacet | None:
    fields = {}
    for column, edges in columns.items():
        inputs = [
            column_lineage_dataset.InputField(
                namespace=names[key].namespace, name=names[key].name, field=field,
                transformations=[column_lineage_dataset.Transformation(type=kind, subtype=subtype)],
            )
            for key, field, kind, subtype in edges
            if key in names
        ]  # fmt: skip
        fields[column] = column_lineage_dataset.Fields(inputFields=inputs)
    if not fields:
        return None
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, producer=PRODUCER)


def _input(name: DatasetName, snapshot: Mapping[str, Any] | None) -> InputDataset:
    facets = _dataset_facets(name, snapshot)
    input_facets: dict[str, Any] = {}
    if snapshot and snapshot.get("rows") is not None:
        input_facets["inputStatistics"] = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
            rowCount=snapshot["rows"], size=snapshot.get("size_bytes"), producer=PRODUCER
        )
    return InputDataset(namespace=name.namespace, name=name.name, facets=facets, inputFacets=input_facets)


def _output(name: DatasetName, snapshot: Mapping[str, Any] | None, lineage: Any | None) -> OutputDataset:
    facets = _dataset_facets(name, snapshot)
    if lineage is not None:
        facets["columnLineage"] = lineage
    output_facets: dict[str, Any] = {}
    if snapshot and snapshot.get("rows") is not None:
        output_facets["outputStatistics"] = (
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=snapshot["rows"], size=snapshot.get("size_bytes"), producer=PRODUCER
            )
        )
    return OutputDataset(namespace=name.namespace, name=name.name, facets=facets, outputFacets=output_facets)


def _file_input(step: Mapping[str, Any]) -> InputDataset:
    return _input(file_dataset(step["source"]["path"]), next(iter((step.get("after") or {}).values()), None))


def _file_output(step: Mapping[str, Any]) -> OutputDataset:
    return _output(
        file_dataset(step["source"]["path"]), next(iter((step.get("after") or {}).values()), None), None
    )


def _dataset_facets(name: DatasetName, snapshot: Mapping[str, Any] | None) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "dataSource": datasource_dataset.DatasourceDatasetFacet(
            name=name.namespace, uri=name.uri, producer=PRODUCER
        )
    }
    schema = (snapshot or {}).get("schema")
    if schema:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=c, type=t) for c, t in schema.items()],
            producer=PRODUCER,
        )
    return facets


def _columns(snapshot: Mapping[str, Any] | None) -> list[str]:
    return list((snapshot or {}).get("schema") or {})


# -- run and job facets ------------------------------------------------------------------------


def _parent_facet(info: RunInfo) -> parent_run.ParentRunFacet:
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=info.run_uuid),
        job=parent_run.Job(namespace=info.namespace, name=info.pipeline),
        root=parent_run.Root(
            run=parent_run.RootRun(runId=info.run_uuid),
            job=parent_run.RootJob(namespace=info.namespace, name=info.pipeline),
        ),
        producer=PRODUCER,
    )


def _engine_facet(info: RunInfo) -> processing_engine_run.ProcessingEngineRunFacet:
    return processing_engine_run.ProcessingEngineRunFacet(
        version=info.engine_version or "unknown", name=info.engine, openlineageAdapterVersion=__version__,
        producer=PRODUCER,
    )  # fmt: skip


def _error_facet(error: Mapping[str, Any]) -> error_message_run.ErrorMessageRunFacet:
    message = f"{error.get('type', 'Error')}: {error.get('message', '')}".strip()
    return error_message_run.ErrorMessageRunFacet(
        message=message, programmingLanguage="python", stackTrace=error.get("traceback"), producer=PRODUCER
    )


def _job_type(job_type: str) -> job_type_job.JobTypeJobFacet:
    return job_type_job.JobTypeJobFacet(
        processingType="BATCH", integration="ODIBI", jobType=job_type, producer=PRODUCER
    )
