"""Helpers every room of odibi_otel shares: atomic files, containment of telemetry failures,
time formatting, JSON-safe values and lazily loaded package attributes. Not public API."""
