"""The Prometheus ``/metrics`` HTTP endpoint: a thin wrapper over prometheus_client's server.

Host and port come from the arguments, else ``OTEL_EXPORTER_PROMETHEUS_HOST`` /
``OTEL_EXPORTER_PROMETHEUS_PORT``, else ``127.0.0.1:9464``. The endpoint binds loopback unless
told otherwise. Port 0 picks a free port; :attr:`MetricsServer.port` tells which.
"""

from __future__ import annotations

import os
import threading
from typing import Final

from prometheus_client import CollectorRegistry, start_http_server

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MetricsServer", "resolve_endpoint"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9464


def resolve_endpoint(host: str | None = None, port: int | None = None) -> tuple[str, int]:
    """The (host, port) to bind: arguments win over ``OTEL_EXPORTER_PROMETHEUS_*`` variables."""
    resolved_host = host or os.environ.get("OTEL_EXPORTER_PROMETHEUS_HOST") or DEFAULT_HOST
    if port is None:
        text = os.environ.get("OTEL_EXPORTER_PROMETHEUS_PORT")
        try:
            port = int(text) if text else DEFAULT_PORT
        except ValueError:
            raise ValueError(f"OTEL_EXPORTER_PROMETHEUS_PORT must be an integer port, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"Prometheus port must be between 0 and 65535, got {port}")
    return resolved_host, port


class MetricsServer:
    """A running ``/metrics`` endpoint serving one registry; stop it with :meth:`stop`."""

    def __init__(self, registry: CollectorRegistry, host: str | None = None, port: int | None = None):
        bind_host, bind_port = resolve_endpoint(host, port)
        self._server, self._thread = start_http_server(bind_port, bind_host, registry=registry)
        self.host: str = bind_host
        self.port: int = int(self._server.server_address[1])
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        """The endpoint's URL, e.g. ``http://127.0.0.1:9464/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
