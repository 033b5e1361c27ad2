"""Pushing an exposition to a Prometheus Pushgateway (the batch-job way to reach Prometheus).

A batch run ends long before Prometheus's next scrape; it pushes its metrics to a Pushgateway,
which Prometheus scrapes with ``honor_labels: true``. The group a run replaces is
``/metrics/job/<job>/pipeline/<pipeline>[/<label>/<value>...]``.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Final

from odibi_otel.errors import OdibiError

__all__ = ["DEFAULT_JOB", "PushgatewayError", "group_url", "push_exposition"]

#: The ``job`` of pushed groups unless another is given.
DEFAULT_JOB: Final = "odibi"
_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class PushgatewayError(OdibiError, OSError):
    """A push to the Pushgateway failed (unreachable, refused, or answered with an error)."""


def group_url(gateway_url: str, job: str, grouping_key: Mapping[str, str]) -> str:
    """The URL of a group: ``<gateway>/metrics/job/<job>/<label>/<value>...``.

    Values with a ``/`` or empty ones use the Pushgateway's ``<label>@base64/<value>`` form.
    Credentials in ``gateway_url`` (``http://user:secret@host:9091``) are left out of it.
    """
    parts = urllib.parse.urlsplit(gateway_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushgatewayError(f"pushgateway URL must be http(s)://host[:port][/path], got {gateway_url!r}")
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    if ":" in parts.hostname:  # IPv6 literal
        netloc = f"[{parts.hostname}]" + ("" if parts.port is None else f":{parts.port}")
    path = parts.path.rstrip("/") + "/metrics/" + _segment("job", job)
    for name, value in grouping_key.items():
        path += "/" + _segment(name, value)
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, "", ""))


def push_exposition(
    gateway_url: str,
    body: bytes,
    *,
    job: str = DEFAULT_JOB,
    grouping_key: Mapping[str, str] | None = None,
    replace: bool = True,
    timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Send ``body`` (Prometheus text format) to the group of ``job`` and ``grouping_key``.

    ``replace=True`` is a ``PUT`` (the group's metrics become exactly ``body``); ``False`` is a
    ``POST`` (only the metric names in ``body`` are replaced, the group's others stay).
    Basic auth comes from credentials in ``gateway_url``.

    Raises:
        PushgatewayError: the push did not succeed within ``timeout`` seconds.
    """
    url = group_url(gateway_url, job, grouping_key or {})
    request = urllib.request.Request(url, data=body, method="PUT" if replace else "POST")
    request.add_header("Content-Type", _CONTENT_TYPE)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    credentials = _credentials(gateway_url)
    if credentials is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        raise PushgatewayError(f"push to {url} failed: HTTP {exc.code} {detail}".strip()) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise PushgatewayError(f"push to {url} failed: {reason}") from None


def _segment(name: str, value: str) -> str:
    if value == "" or "/" in value:
        encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
        return f"{urllib.parse.quote(name, safe='')}@base64/{encoded}"
    return f"{urllib.parse.quote(name, safe='')}/{urllib.parse.quote(value, safe='')}"


def _credentials(gateway_url: str) -> str | None:
    parts = urllib.parse.urlsplit(gateway_url)
    if parts.username is None:
        return None
    user = urllib.parse.unquote(parts.username)
    return f"{user}:{urllib.parse.unquote(parts.password or '')}"
