"""Where and how OTLP data goes: arguments first, then the standard ``OTEL_EXPORTER_OTLP_*`` variables.

Pure logic over an environment mapping, so every rule is tested without exporters:

- OTLP export is on when an endpoint is given, or ``OTEL_EXPORTER_OTLP_ENDPOINT`` or the
  signal's ``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`` is set.
- Protocol: the argument, else ``OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL``, else
  ``OTEL_EXPORTER_OTLP_PROTOCOL``, else ``http/protobuf`` (the specification's default).
- An endpoint argument is a base URL, like ``OTEL_EXPORTER_OTLP_ENDPOINT``: for HTTP the signal
  path (``/v1/traces``, ``/v1/metrics``, ``/v1/logs``) is appended; for gRPC it is used as is.
  Endpoints from variables are left to the exporters, which apply the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from odibi_otel.errors import OdibiError

__all__ = ["PROTOCOLS", "OtlpConfigurationError", "OtlpTarget", "resolve_otlp_target", "sdk_disabled"]

Signal = Literal["traces", "metrics", "logs"]
PROTOCOLS: Final = ("grpc", "http/protobuf")
_DEFAULT_PROTOCOL: Final = "http/protobuf"


class OtlpConfigurationError(OdibiError, ValueError):
    """An OTLP setting (argument or environment variable) has an unusable value."""


@dataclass(frozen=True)
class OtlpTarget:
    """Resolved OTLP settings for one signal; ``endpoint=None`` lets the exporter read variables."""

    signal: Signal
    protocol: str
    endpoint: str | None


def resolve_otlp_target(
    signal: Signal,
    endpoint: str | None,
    protocol: str | None,
    environ: Mapping[str, str],
) -> OtlpTarget | None:
    """The OTLP target for ``signal``, or ``None`` when OTLP export is not configured."""
    upper = signal.upper()
    chosen_protocol = (
        protocol
        or environ.get(f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or _DEFAULT_PROTOCOL
    ).strip()
    if chosen_protocol not in PROTOCOLS:
        raise OtlpConfigurationError(
            f"OTLP protocol {chosen_protocol!r} is not supported; use one of {', '.join(PROTOCOLS)}"
        )
    if endpoint:
        _check_url(endpoint, "otlp_endpoint")
        base = endpoint.rstrip("/")
        url = f"{base}/v1/{signal}" if chosen_protocol == "http/protobuf" else base
        return OtlpTarget(signal, chosen_protocol, url)
    for variable in (f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if environ.get(variable):
            _check_url(environ[variable], variable)
            return OtlpTarget(signal, chosen_protocol, None)
    return None


def sdk_disabled(environ: Mapping[str, str]) -> bool:
    """``OTEL_SDK_DISABLED=true`` (case-insensitive) turns the SDK set-up off."""
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _check_url(url: str, source: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise OtlpConfigurationError(f"{source} must be a URL starting with http:// or https://, got {url!r}")
