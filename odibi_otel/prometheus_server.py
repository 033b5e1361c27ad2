"""The Prometheus ``/metrics`` HTTP endpoint: a thin wrapper over prometheus_client's server.

Host and port come from the arguments, else ``OTEL_EXPORTER_PROMETHEUS_HOST`` /
``OTEL_EXPORTER_PROMETHEUS_PORT``, else ``127.0.0.1:9464``. The endpoint binds loopback unless
told otherwise. Port 0 picks a free port; :attr:`MetricsServer.port` tells which.

Scrapes are rendered one at a time (each request still gets its own, current exposition):
rendering is pure Python, and many renders at once, one thread each, would hold the GIL
against the pipeline the endpoint reports on (20 concurrent scrapers made a 100-node run
about 25x slower; serialised, about 5x, see ``docs/reliability.md``).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

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
        # prometheus_client's start_http_server, with the renders serialised (module docstring)
        family, address = _best_family(bind_host, bind_port)
        server_class = type("_MetricsHTTPServer", (ThreadingWSGIServer,), {"address_family": family})
        app = _one_render_at_a_time(make_wsgi_app(registry))
        self._server = make_server(address, bind_port, app, server_class, handler_class=_QuietHandler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="odibi-metrics-server", daemon=True
        )
        self._thread.start()
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


class _QuietHandler(WSGIRequestHandler):
    """Serves requests without logging each one to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing."""


def _one_render_at_a_time(app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:  # the body is rendered inside; it is sent to the client outside
            return list(app(environ, start_response))

    return serve


def _best_family(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    """The address family and address to bind ``host`` with (IPv6 hosts need AF_INET6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    return family, str(address[0])
