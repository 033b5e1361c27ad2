"""The Prometheus ``/metrics`` HTTP endpoint: a small WSGI app on the standard library's server.

Host and port come from the arguments, else ``OTEL_EXPORTER_PROMETHEUS_HOST`` /
``OTEL_EXPORTER_PROMETHEUS_PORT``, else ``127.0.0.1:9464``. The endpoint binds loopback unless
told otherwise. Port 0 picks a free port; :attr:`MetricsServer.port` tells which.

Scrapes are rendered one at a time (each request still gets its own, current exposition):
rendering is pure Python, and many renders at once, one thread each, would hold the GIL
against the pipeline the endpoint reports on (20 concurrent scrapers made a 100-node run
about 25x slower; serialised, about 5x, see ``docs/reliability.md``).

The app answers like prometheus_client's (whose threading WSGI server it uses): any path but
``/favicon.ico`` serves the metrics, ``GET`` and ``OPTIONS`` only; the text format 0.0.4 unless
the ``Accept`` header asks for OpenMetrics; gzip when ``Accept-Encoding`` allows it. The body
comes from a render function (a :class:`~odibi_otel.metrics.manager.MetricsManager` serves its
cached :meth:`~odibi_otel.metrics.manager.MetricsManager.exposition`) or, for any other
``CollectorRegistry``, from prometheus_client's own exposition functions.
"""

from __future__ import annotations

import gzip
import os
import socket
import threading
from collections.abc import Callable
from typing import Any, Final, TypeAlias
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as text_exposition
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_exposition

from odibi_otel.metrics.prometheus_text import CONTENT_TYPE_OPENMETRICS, CONTENT_TYPE_TEXT, wants_openmetrics

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MetricsServer", "Render", "resolve_endpoint"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9464

#: prometheus_client's OpenMetrics ``generate_latest`` (untyped there).
_openmetrics_exposition: Final[Callable[[CollectorRegistry], bytes]] = openmetrics_exposition

#: ``render(openmetrics, compressed) -> body``: the exposition in OpenMetrics or the text format,
#: gzip-compressed or not.
Render: TypeAlias = Callable[[bool, bool], bytes]


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
    """A running ``/metrics`` endpoint; stop it with :meth:`stop`.

    Args:
        source: What to serve: a :data:`Render` function, or a prometheus_client
            ``CollectorRegistry`` (rendered by prometheus_client at each scrape).
        host: Interface to bind (see :func:`resolve_endpoint`).
        port: Port to bind; 0 picks a free one.
    """

    def __init__(
        self, source: CollectorRegistry | Render, host: str | None = None, port: int | None = None
    ) -> None:
        bind_host, bind_port = resolve_endpoint(host, port)
        family, address = _best_family(bind_host, bind_port)
        server_class: type[ThreadingWSGIServer] = type(
            "_MetricsHTTPServer", (ThreadingWSGIServer,), {"address_family": family}
        )
        render = _registry_render(source) if isinstance(source, CollectorRegistry) else source
        app = _metrics_app(render)
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


def _metrics_app(render: Render) -> Callable[[dict[str, Any], Callable[..., Any]], list[bytes]]:
    """The WSGI app: prometheus_client's answers, with one render at a time (module docstring)."""
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        headers: list[tuple[str, str]] = []
        if method == "OPTIONS":
            status, headers, body = "200 OK", [("Allow", "OPTIONS,GET")], b""
        elif method != "GET":
            status, headers = "405 Method Not Allowed", [("Allow", "OPTIONS,GET")]
            body = f"# HTTP {status}: {method}; use OPTIONS or GET\n".encode()
        elif environ.get("PATH_INFO") == "/favicon.ico":  # browsers ask for it
            status, body = "200 OK", b""
        else:
            openmetrics = wants_openmetrics(environ.get("HTTP_ACCEPT"))
            compressed = _gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING"))
            with lock:  # the body is rendered inside; it is sent to the client outside
                body = render(openmetrics, compressed)
            status = "200 OK"
            headers = [("Content-Type", CONTENT_TYPE_OPENMETRICS if openmetrics else CONTENT_TYPE_TEXT)]
            if compressed:
                headers.append(("Content-Encoding", "gzip"))
        start_response(status, headers)
        return [body]

    return serve


def _registry_render(registry: CollectorRegistry) -> Render:
    """A :data:`Render` of any prometheus_client registry, by prometheus_client itself."""

    def render(openmetrics: bool, compressed: bool) -> bytes:
        body = _openmetrics_exposition(registry) if openmetrics else text_exposition(registry)
        return gzip.compress(body) if compressed else body

    return render


def _gzip_accepted(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header lists gzip (as prometheus_client reads it)."""
    return any(entry.split(";")[0].strip().lower() == "gzip" for entry in (accept_encoding or "").split(","))


def _best_family(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    """The address family and address to bind ``host`` with (IPv6 hosts need AF_INET6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    return family, str(address[0])
