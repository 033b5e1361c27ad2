"""A node's data quality, judged inside its span: checks on its output, its profile, anomalies.

Runs right after the node's work, before its span ends, so every finding is on the node span
(counts as attributes, one span event per check result and per anomaly) and in one log-based
event each (``odibi.check`` / ``odibi.anomaly``) tied to the node span's context. An ``error``
check that fails, or an anomaly of a ``fail_on`` kind, fails the node.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext
from opentelemetry.util.types import AttributeValue

from odibi_otel._internal.safety import call_safely
from odibi_otel.engines.base import Engine
from odibi_otel.errors import AnomalyError, CheckFailedError
from odibi_otel.history.recorder import HistoryRun
from odibi_otel.lineage.config import REDACTED, TrackerConfig
from odibi_otel.lineage.jsonsafe import json_safe
from odibi_otel.otel import semconv
from odibi_otel.otel._sdk_compat import logs_api as _logs
from odibi_otel.pipeline.step import Step
from odibi_otel.quality.anomalies import Anomaly, NodeFacts, detect_anomalies
from odibi_otel.quality.checks import STATUS_FAIL, STATUS_PASS, STATUS_WARN, Check, CheckResult
from odibi_otel.quality.profile import FrameProfile

__all__ = ["NodeQuality", "QualityContext", "assess_node", "emit_quality_events"]


@dataclass
class QualityContext:
    """Per-run settings of quality assessment."""

    pipeline: str
    run_id: str
    redaction: TrackerConfig
    logger_provider: Any | None = None
    history: HistoryRun | None = None
    _logger: Any = field(default=None, init=False, repr=False)
    # (id(frame), statistics) -> (frame, profile): a write step writes the frame its producer
    # output, profiled once per run; holding the frame keeps its id from being reused
    _profiles: dict[tuple[int, bool], tuple[Any, FrameProfile]] = field(
        default_factory=dict, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _statistics: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def profile(self, engine: Engine, frame: Any, sample_rows: int, statistics: bool) -> FrameProfile:
        """``frame``'s profile, computed once per run."""
        key = (id(frame), statistics)
        with self._lock:
            known = self._profiles.get(key)
        if known is not None and known[0] is frame:
            return known[1]
        profile = engine.profile(frame, sample_rows, statistics=statistics)
        with self._lock:
            self._profiles[key] = (frame, profile)
        return profile

    def in_background(self, work: Callable[[], FrameProfile]) -> Future[FrameProfile]:
        """Run ``work`` on the run's profiling thread (the column statistics the history keeps
        are not needed before the run ends: they are computed beside the next nodes)."""
        with self._lock:
            if self._statistics is None:
                self._statistics = ThreadPoolExecutor(1, thread_name_prefix="odibi-profile")
            return self._statistics.submit(work)

    def close(self) -> None:
        """Release the profiling thread (the run's history record has waited for its work)."""
        with self._lock:
            pool, self._statistics = self._statistics, None
            self._profiles.clear()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def logger(self) -> Any | None:
        """The OTel logger of the log-based events, or ``None`` when nobody receives them."""
        if self.logger_provider is None:
            return None
        if self._logger is None:
            self._logger = _logs.get_logger(
                semconv.INSTRUMENTATION_SCOPE,
                semconv.INSTRUMENTATION_VERSION,
                logger_provider=self.logger_provider,
            )
        return self._logger


@dataclass
class NodeQuality:
    """What the assessment found: span attributes and events, results, and the error it raises."""

    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    span_events: list[tuple[str, dict[str, AttributeValue]]] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    profile: FrameProfile | None = None
    #: The full profile (with column statistics), computed on the run's profiling thread.
    statistics: Future[FrameProfile] | None = None
    error: Exception | None = None


def assess_node(
    quality: QualityContext,
    engine: Engine,
    step: Step,
    checks: Sequence[Check],
    outputs: Mapping[str, Any],
    inputs: Sequence[Any],
    duration_ms: float,
    rows_out: int | None,
) -> NodeQuality:
    """Check, profile and compare one successful node run (telemetry failures are contained)."""
    found = NodeQuality()
    frames = _checked_frames(step, outputs, inputs)
    if checks:
        by_input = _inputs_by_name(step, inputs)
        for check in checks:
            frame = frames.get(check.output) if check.output else next(iter(frames.values()), None)
            if frame is None:
                continue
            result = _redacted(engine.check(check, frame, by_input), quality.redaction)
            found.checks.append(result)
            found.span_events.append((semconv.EVENT_CHECK, _check_attributes(result)))
        statuses = [result.status for result in found.checks]
        found.attributes[semconv.NODE_CHECKS_TOTAL] = len(statuses)
        found.attributes[semconv.NODE_CHECKS_FAILED] = statuses.count(STATUS_FAIL)
        found.attributes[semconv.NODE_CHECKS_WARNED] = statuses.count(STATUS_WARN)
        failed = [result for result in found.checks if result.status == STATUS_FAIL]
        if failed:
            found.error = CheckFailedError(_check_failure_message(step.name, failed))
    history = quality.history
    if history is not None and frames:
        sample_rows = history.config.profile_sample_rows
        found.profile = call_safely("history profile", _profile, quality, engine, frames, sample_rows, False)
        found.statistics = quality.in_background(lambda: _profile(quality, engine, frames, sample_rows, True))
        if found.profile is not None and history.reachable:
            facts = NodeFacts(rows_out, duration_ms, found.profile.schema, found.profile.null_fractions())
            anomalies = call_safely(
                "anomaly detection",
                detect_anomalies,
                facts,
                history.baseline(step.name),
                history.config.rules,
            )
            found.anomalies = anomalies or []
    if found.anomalies:
        found.attributes[semconv.NODE_ANOMALIES] = len(found.anomalies)
        found.attributes[semconv.NODE_ANOMALY_KINDS] = sorted({anomaly.kind for anomaly in found.anomalies})
        found.span_events.extend((semconv.EVENT_ANOMALY, _anomaly_attributes(a)) for a in found.anomalies)
        fatal = [a for a in found.anomalies if history is not None and a.kind in history.config.rules.fail_on]
        if fatal and found.error is None:
            found.error = AnomalyError(
                f"step {step.name!r}: {fatal[0].kind} anomaly (fail_on): {fatal[0].message}"
            )
    return found


def emit_quality_events(
    quality: QualityContext,
    step: Step,
    results: tuple[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]]],
    span_context: SpanContext,
    time_ns: int,
) -> None:
    """One ``odibi.check`` log-based event per check result, one ``odibi.anomaly`` per finding.

    ``results``: the node's check results and anomalies as dicts (``CheckResult.as_dict()``, ...).
    """
    checks, anomalies = results
    logger = quality.logger()
    if logger is None or not (checks or anomalies):
        return
    context = trace.set_span_in_context(NonRecordingSpan(span_context))
    attributes: dict[str, AttributeValue] = {
        semconv.PIPELINE_NAME: quality.pipeline,
        semconv.RUN_ID: quality.run_id,
        semconv.NODE_NAME: step.name,
    }
    for check in checks:
        severity = _CHECK_SEVERITY.get(str(check["status"]), _logs.SeverityNumber.WARN)
        _emit(logger, semconv.EVENT_CHECK, dict(check), severity, context, attributes, time_ns)
    for anomaly in anomalies:
        warn = _logs.SeverityNumber.WARN
        _emit(logger, semconv.EVENT_ANOMALY, dict(anomaly), warn, context, attributes, time_ns)


#: Log severity of a check result by its status.
_CHECK_SEVERITY: Final = {
    STATUS_PASS: _logs.SeverityNumber.INFO,
    STATUS_WARN: _logs.SeverityNumber.WARN,
    STATUS_FAIL: _logs.SeverityNumber.ERROR,
}


def _emit(
    logger: Any,
    name: str,
    body: dict[str, Any],
    severity: Any,
    context: Any,
    attributes: Mapping[str, AttributeValue],
    time_ns: int,
) -> None:
    logger.emit(
        _logs.LogRecord(
            timestamp=time_ns,
            context=context,
            severity_number=severity,
            event_name=name,
            body=body,
            attributes=attributes,
        )
    )


def _checked_frames(step: Step, outputs: Mapping[str, Any], inputs: Sequence[Any]) -> dict[str, Any]:
    """The frames checks and profiles look at: the outputs, or the written frame of a write step."""
    if step.type == "write":
        return dict(zip(step.input_keys, inputs, strict=True))
    return dict(outputs)


def _inputs_by_name(step: Step, inputs: Sequence[Any]) -> dict[str, Any]:
    by_name = dict(zip(step.input_keys, inputs, strict=True))
    if step.input_parameter_names is not None:
        by_name.update(zip(step.input_parameter_names, inputs, strict=True))
    return by_name


def _profile(
    quality: QualityContext, engine: Engine, frames: Mapping[str, Any], sample_rows: int, statistics: bool
) -> FrameProfile:
    """One profile over the node's frames; with several, columns are named ``key.column``."""
    profiles = {key: quality.profile(engine, frame, sample_rows, statistics) for key, frame in frames.items()}
    if len(profiles) == 1:
        return next(iter(profiles.values()))
    return FrameProfile(
        rows=sum(profile.rows for profile in profiles.values()),
        schema={f"{key}.{c}": t for key, profile in profiles.items() for c, t in profile.schema.items()},
        columns={f"{key}.{c}": v for key, profile in profiles.items() for c, v in profile.columns.items()},
        sampled_rows=sum(profile.sampled_rows for profile in profiles.values()),
    )


def _redacted(result: CheckResult, redaction: TrackerConfig) -> CheckResult:
    if not result.failing_rows:
        return result
    rows = tuple(
        {
            column: REDACTED
            if redaction.is_redacted(column)
            else json_safe(value, redaction.max_string_length)
            for column, value in row.items()
        }
        for row in result.failing_rows
    )
    return dataclasses.replace(result, failing_rows=rows)


def _check_attributes(result: CheckResult) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        semconv.CHECK_NAME: result.name,
        semconv.CHECK_KIND: result.kind,
        semconv.CHECK_SEVERITY: result.severity,
        semconv.CHECK_STATUS: result.status,
        semconv.CHECK_FAILING_COUNT: result.failing_count,
        semconv.CHECK_MESSAGE: result.message,
    }
    if result.status != STATUS_PASS and result.failing_rows:
        attributes[semconv.CHECK_FAILING_ROWS] = json.dumps(
            [dict(row) for row in result.failing_rows], default=str, separators=(",", ":")
        )
    return attributes


def _anomaly_attributes(anomaly: Anomaly) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        semconv.ANOMALY_KIND: anomaly.kind,
        semconv.ANOMALY_MESSAGE: anomaly.message,
    }
    if anomaly.column is not None:
        attributes[semconv.ANOMALY_COLUMN] = anomaly.column
    if anomaly.value is not None:
        attributes[semconv.ANOMALY_VALUE] = float(anomaly.value)
    if anomaly.expected is not None:
        attributes[semconv.ANOMALY_EXPECTED] = float(anomaly.expected)
    return attributes


def _check_failure_message(step: str, failed: Sequence[CheckResult]) -> str:
    first = failed[0]
    more = f" (and {len(failed) - 1} more failing check(s))" if len(failed) > 1 else ""
    return f"step {step!r}: check {first.name!r} failed: {first.message}{more}"
