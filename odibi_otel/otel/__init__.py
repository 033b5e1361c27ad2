"""OpenTelemetry plumbing shared by every room: the telemetry contract (:mod:`.semconv`), which
providers a run uses (:mod:`.providers`), the OTLP/JSON file format (:mod:`.otlp_json`), and the
one module allowed to touch OpenTelemetry SDK internals (:mod:`._sdk_compat`).
"""

__all__: list[str] = []  # the sub-modules above are the API; nothing is re-exported here
