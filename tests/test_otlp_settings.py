"""OTLP settings resolution: arguments over per-signal variables over general variables over defaults."""

from __future__ import annotations

from typing import Any

import pytest

from odibi_otel.setup.otlp_settings import (
    DEFAULT_EXPORT_TIMEOUT_S,
    OtlpConfigurationError,
    parse_headers,
    resolve_export_timeout,
    resolve_otlp_target,
    sdk_disabled,
)

BASE = "OTEL_EXPORTER_OTLP_ENDPOINT"


# (id, signal, endpoint argument, protocol argument, environment, expected protocol, expected endpoint)
TARGET_CASES: list[tuple[str, str, str | None, str | None, dict[str, str], str, str]] = [
    ("arg http appends signal path", "traces", "http://h:4318", None, {}, "http/protobuf",
     "http://h:4318/v1/traces"),
    ("arg http trailing slash", "metrics", "http://h:4318/", None, {}, "http/protobuf",
     "http://h:4318/v1/metrics"),
    ("arg http keeps a path prefix", "logs", "https://h/otlp", None, {}, "http/protobuf",
     "https://h/otlp/v1/logs"),
    ("arg grpc used as is", "traces", "http://h:4317", "grpc", {}, "grpc", "http://h:4317"),
    ("base variable http", "logs", None, None, {BASE: "http://e:4318"}, "http/protobuf",
     "http://e:4318/v1/logs"),
    ("base variable grpc", "metrics", None, None,
     {BASE: "http://e:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc", "http://e:4317"),
    ("per-signal variable used as is", "traces", None, None,
     {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:9999/custom"}, "http/protobuf",
     "http://t:9999/custom"),
    ("per-signal variable beats base", "traces", None, None,
     {BASE: "http://e:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/x"}, "http/protobuf",
     "http://t:1/x"),
    ("per-signal variable of another signal ignored", "logs", None, None,
     {BASE: "http://e:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/x"}, "http/protobuf",
     "http://e:4318/v1/logs"),
    ("argument beats every variable", "traces", "http://a:1", None,
     {BASE: "http://e:2", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:3"}, "http/protobuf",
     "http://a:1/v1/traces"),
    ("protocol argument beats variables", "traces", "http://a:1", "grpc",
     {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
     "grpc", "http://a:1"),
    ("per-signal protocol beats general protocol", "metrics", None, None,
     {BASE: "http://e:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
      "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"}, "grpc", "http://e:4317"),
    ("blank variables are unset", "traces", None, " ",
     {BASE: "http://e:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "  ",
      "OTEL_EXPORTER_OTLP_PROTOCOL": ""}, "http/protobuf", "http://e:4318/v1/traces"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("signal", "endpoint", "protocol", "environ", "want_protocol", "want_endpoint"),
    [case[1:] for case in TARGET_CASES],
    ids=[case[0] for case in TARGET_CASES],
)
def test_target_resolution(
    signal: Any,
    endpoint: str | None,
    protocol: str | None,
    environ: dict[str, str],
    want_protocol: str,
    want_endpoint: str,
) -> None:
    target = resolve_otlp_target(signal, endpoint, protocol, environ)
    assert target is not None
    assert (target.signal, target.protocol, target.endpoint) == (signal, want_protocol, want_endpoint)


@pytest.mark.parametrize(
    "environ",
    [{}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1"}],
    ids=["nothing", "protocol only", "other signal's endpoint"],
)
def test_no_endpoint_means_no_export(environ: dict[str, str]) -> None:
    assert resolve_otlp_target("logs", None, None, environ) is None


def test_source_and_base_url_name_where_the_endpoint_came_from() -> None:
    from_arg = resolve_otlp_target("traces", "http://a:1", None, {})
    from_base = resolve_otlp_target("traces", None, None, {BASE: "http://b:2"})
    per_signal = resolve_otlp_target(
        "traces", None, None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:3/x"}
    )
    assert from_arg and from_base and per_signal
    assert [t.source for t in (from_arg, from_base, per_signal)] == [
        "otlp_endpoint", BASE, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]  # fmt: skip
    assert [t.base_url for t in (from_arg, from_base, per_signal)] == [
        "http://a:1",
        "http://b:2",
        "http://c:3",
    ]


INVALID_CASES: list[tuple[str, str | None, str | None, dict[str, str], str]] = [
    ("protocol argument", "http://h:1", "http/json", {}, "otlp_protocol"),
    ("protocol variable", "http://h:1", None, {"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"},
     "OTEL_EXPORTER_OTLP_PROTOCOL"),
    ("per-signal protocol variable", "http://h:1", None, {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "GRPC"},
     "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
    ("endpoint without scheme", "localhost:4317", None, {}, "otlp_endpoint"),
    ("endpoint with other scheme", "ftp://h:1", None, {}, "otlp_endpoint"),
    ("endpoint without host", "http://", None, {}, "otlp_endpoint"),
    ("endpoint with bad port", "http://h:99999", None, {}, "otlp_endpoint"),
    ("base variable", None, None, {BASE: "h:4317"}, BASE),
    ("per-signal variable", None, None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "nope"},
     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
    ("headers variable", "http://h:1", None, {"OTEL_EXPORTER_OTLP_HEADERS": "novalue"},
     "OTEL_EXPORTER_OTLP_HEADERS"),
    ("timeout variable", "http://h:1", None, {"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"},
     "OTEL_EXPORTER_OTLP_TIMEOUT"),
    ("zero timeout", "http://h:1", None, {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "0"},
     "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("endpoint", "protocol", "environ", "named"),
    [case[1:] for case in INVALID_CASES],
    ids=[case[0] for case in INVALID_CASES],
)
def test_invalid_settings_fail_with_the_source_named(
    endpoint: str | None, protocol: str | None, environ: dict[str, str], named: str
) -> None:
    with pytest.raises(OtlpConfigurationError) as caught:
        resolve_otlp_target("traces", endpoint, protocol, environ)
    assert named in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_invalid_protocol_message_lists_the_supported_ones() -> None:
    with pytest.raises(OtlpConfigurationError, match=r"use one of grpc, http/protobuf"):
        resolve_otlp_target("traces", "http://h:1", "http/json", {})


HEADER_CASES: list[tuple[str, dict[str, str] | None, dict[str, str], dict[str, str] | None]] = [
    ("none", None, {}, None),
    ("general variable", None, {"OTEL_EXPORTER_OTLP_HEADERS": "a=1,B=two%20words"},
     {"a": "1", "b": "two words"}),
    ("per-signal beats general", None,
     {"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "t=2"}, {"t": "2"}),
    ("argument beats variables", {"x-api": "k"}, {"OTEL_EXPORTER_OTLP_HEADERS": "a=1"}, {"x-api": "k"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argument", "environ", "expected"),
    [case[1:] for case in HEADER_CASES],
    ids=[case[0] for case in HEADER_CASES],
)
def test_headers(
    argument: dict[str, str] | None, environ: dict[str, str], expected: dict[str, str] | None
) -> None:
    target = resolve_otlp_target("traces", "http://h:1", None, environ, headers=argument)
    assert target is not None
    assert target.headers == expected


def test_parse_headers_skips_empty_items_and_keeps_equals_in_values() -> None:
    assert parse_headers("a=b=c,, k = v ") == {"a": "b=c", "k": "v"}


TIMEOUT_CASES: list[tuple[str, float | None, dict[str, str], str | None, float]] = [
    ("default", None, {}, None, DEFAULT_EXPORT_TIMEOUT_S),
    ("general variable in ms", None, {"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, None, 2.5),
    ("per-signal beats general", None,
     {"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "500"}, "logs", 0.5),
    ("per-signal of another signal ignored", None, {"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "500"}, "traces",
     DEFAULT_EXPORT_TIMEOUT_S),
    ("argument in seconds wins", 1.5, {"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, "traces", 1.5),
]  # fmt: skip


@pytest.mark.parametrize(
    ("explicit", "environ", "signal", "expected"),
    [case[1:] for case in TIMEOUT_CASES],
    ids=[case[0] for case in TIMEOUT_CASES],
)
def test_export_timeout(
    explicit: float | None, environ: dict[str, str], signal: Any, expected: float
) -> None:
    assert resolve_export_timeout(explicit, environ, signal) == expected
    if signal is not None:
        target = resolve_otlp_target(signal, "http://h:1", None, environ, timeout=explicit)
        assert target is not None and target.timeout == expected


@pytest.mark.parametrize("explicit", [0, -1, True, "2"])
def test_invalid_timeout_argument(explicit: Any) -> None:
    with pytest.raises(OtlpConfigurationError, match="export_timeout"):
        resolve_export_timeout(explicit, {})


@pytest.mark.parametrize(
    ("value", "disabled"),
    [
        (None, False),
        ("true", True),
        ("TRUE", True),
        (" True ", True),
        ("false", False),
        ("1", False),
        ("", False),
    ],
)
def test_sdk_disabled(value: str | None, disabled: bool) -> None:
    environ = {} if value is None else {"OTEL_SDK_DISABLED": value}
    assert sdk_disabled(environ) is disabled
