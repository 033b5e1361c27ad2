"""Where and how OTLP data goes: arguments first, then the standard ``OTEL_EXPORTER_OTLP_*`` variables.

Pure logic over an environment mapping, so every rule is tested without exporters:

- OTLP export of a signal (``traces``, ``metrics``, ``logs``) is on when an endpoint is given, or
  ``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.
- Protocol: the argument, else ``OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL``, else
  ``OTEL_EXPORTER_OTLP_PROTOCOL``, else ``http/protobuf`` (the specification's default).
- Endpoint: the argument, else ``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT``, else
  ``OTEL_EXPORTER_OTLP_ENDPOINT``. The argument and ``OTEL_EXPORTER_OTLP_ENDPOINT`` are base URLs:
  for HTTP the signal path (``/v1/traces``, ``/v1/metrics``, ``/v1/logs``) is appended; for gRPC
  they are used as they are. A per-signal variable is always used as it is.
- Headers: the argument, else ``OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS``, else
  ``OTEL_EXPORTER_OTLP_HEADERS`` (``key=value`` pairs separated by commas, values URL-encoded).
- Timeout (seconds): the argument, else ``OTEL_EXPORTER_OTLP_<SIGNAL>_TIMEOUT``, else
  ``OTEL_EXPORTER_OTLP_TIMEOUT`` (both in milliseconds), else 10 s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import unquote, urlsplit

from odibi_otel.errors import OdibiError

__all__ = [
    "DEFAULT_EXPORT_TIMEOUT_S",
    "PROTOCOLS",
    "SIGNALS",
    "OtlpConfigurationError",
    "OtlpExportError",
    "OtlpTarget",
    "parse_headers",
    "resolve_export_timeout",
    "resolve_otlp_target",
    "sdk_disabled",
]

Signal = Literal["traces", "metrics", "logs"]
SIGNALS: Final[tuple[Signal, ...]] = ("traces", "metrics", "logs")
PROTOCOLS: Final = ("grpc", "http/protobuf")
DEFAULT_EXPORT_TIMEOUT_S: Final = 10.0
_DEFAULT_PROTOCOL: Final = "http/protobuf"


class OtlpConfigurationError(OdibiError, ValueError):
    """An OTLP setting (argument or environment variable) has an unusable value."""


class OtlpExportError(OdibiError):
    """Telemetry could not be delivered to an OTLP endpoint (reported once, then counted)."""


@dataclass(frozen=True)
class OtlpTarget:
    """Resolved OTLP settings for one signal.

    ``endpoint`` is what the exporter is given: the full URL for HTTP (with ``/v1/<signal>``),
    the URL as configured for gRPC. ``source`` names where it came from (argument or variable).
    """

    signal: Signal
    protocol: str
    endpoint: str
    headers: Mapping[str, str] | None = field(default=None, compare=True, hash=False)
    timeout: float = DEFAULT_EXPORT_TIMEOUT_S
    source: str = "otlp_endpoint"

    @property
    def base_url(self) -> str:
        """``scheme://host:port`` of the endpoint (how warnings name it)."""
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}"


def resolve_otlp_target(
    signal: Signal,
    endpoint: str | None,
    protocol: str | None,
    environ: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> OtlpTarget | None:
    """The OTLP target for ``signal``, or ``None`` when OTLP export is not configured.

    Raises:
        OtlpConfigurationError: An unsupported protocol, a value that is not an http(s) URL,
            malformed headers or a timeout that is not a positive number.
    """
    if signal not in SIGNALS:
        raise OtlpConfigurationError(f"unknown OTLP signal {signal!r}; use one of {', '.join(SIGNALS)}")
    upper = signal.upper()
    chosen_protocol = _protocol(signal, protocol, environ)
    per_signal = f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT"
    per_signal_url = environ.get(per_signal, "").strip()
    base_url = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if endpoint:
        source, url, is_base = "otlp_endpoint", endpoint.strip(), True
    elif per_signal_url:
        source, url, is_base = per_signal, per_signal_url, False
    elif base_url:
        source, url, is_base = "OTEL_EXPORTER_OTLP_ENDPOINT", base_url, True
    else:
        return None
    _check_url(url, source)
    if is_base and chosen_protocol == "http/protobuf":
        url = f"{url.rstrip('/')}/v1/{signal}"
    return OtlpTarget(
        signal=signal,
        protocol=chosen_protocol,
        endpoint=url,
        headers=dict(headers) if headers is not None else _env_headers(upper, environ),
        timeout=resolve_export_timeout(timeout, environ, signal),
        source=source,
    )


def resolve_export_timeout(
    explicit: float | None, environ: Mapping[str, str], signal: Signal | None = None
) -> float:
    """Export timeout in seconds: ``explicit``, else the (per-signal) variable in ms, else 10 s."""
    if explicit is not None:
        if isinstance(explicit, bool) or not isinstance(explicit, (int, float)) or not explicit > 0:
            raise OtlpConfigurationError(
                f"export_timeout must be a positive number of seconds, got {explicit!r}"
            )
        return float(explicit)
    names = [f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT"] if signal else []
    for name in [*names, "OTEL_EXPORTER_OTLP_TIMEOUT"]:
        text = environ.get(name, "").strip()
        if not text:
            continue
        try:
            milliseconds = float(text)
        except ValueError:
            milliseconds = -1.0
        if not milliseconds > 0 or milliseconds == float("inf"):
            raise OtlpConfigurationError(f"{name} must be a positive number of milliseconds, got {text!r}")
        return milliseconds / 1000.0
    return DEFAULT_EXPORT_TIMEOUT_S


def parse_headers(text: str, source: str = "OTEL_EXPORTER_OTLP_HEADERS") -> dict[str, str]:
    """Parse ``key=value,key2=value2`` (W3C baggage style, values URL-decoded)."""
    headers: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OtlpConfigurationError(
                f"{source} must be key=value pairs separated by commas, got {item!r}"
            )
        headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


def sdk_disabled(environ: Mapping[str, str]) -> bool:
    """``OTEL_SDK_DISABLED=true`` (case-insensitive) turns the SDK set-up off."""
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _protocol(signal: Signal, protocol: str | None, environ: Mapping[str, str]) -> str:
    per_signal = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    for source, value in (
        ("otlp_protocol", protocol),
        (per_signal, environ.get(per_signal)),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")),
    ):
        if value is not None and value.strip():
            chosen = value.strip()
            if chosen not in PROTOCOLS:
                raise OtlpConfigurationError(
                    f"{source}: OTLP protocol {chosen!r} is not supported; use one of {', '.join(PROTOCOLS)}"
                )
            return chosen
    return _DEFAULT_PROTOCOL


def _env_headers(upper: str, environ: Mapping[str, str]) -> dict[str, str] | None:
    for name in (f"OTEL_EXPORTER_OTLP_{upper}_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"):
        text = environ.get(name, "")
        if text.strip():
            return parse_headers(text, name)
    return None


def _check_url(url: str, source: str) -> None:
    problem = None
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            problem = "must start with http:// or https://"
        elif not parts.hostname:
            problem = "has no host"
        else:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        problem = f"is not a valid URL ({exc})"
    if problem is not None:
        raise OtlpConfigurationError(f"{source} {problem}, got {url!r} (e.g. http://localhost:4318)")
