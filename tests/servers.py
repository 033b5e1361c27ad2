"""Real servers for integration tests: Prometheus, Pushgateway, node_exporter and PostgreSQL.

Each runs as a subprocess on 127.0.0.1 (Debian packages ``prometheus``,
``prometheus-pushgateway``, ``prometheus-node-exporter`` and ``postgresql``), is waited for by polling its
readiness, and is stopped by :meth:`stop` (fixtures call it in a ``finally``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PROMETHEUS = shutil.which("prometheus")
PUSHGATEWAY = shutil.which("prometheus-pushgateway")
NODE_EXPORTER = shutil.which("prometheus-node-exporter")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except OSError as exc:  # server not up yet
            last_error = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


class _Process:
    """A server subprocess with its log file."""

    def __init__(self, command: Sequence[str], log: Path, *, user: str | None = None) -> None:
        self.log_path = log
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            list(command), stdout=self.log, stderr=subprocess.STDOUT, user=user, group=user
        )

    def alive(self) -> None:
        assert self.process.poll() is None, f"server exited: {self.log_path.read_text(errors='replace')}"

    def get(self, url: str) -> bytes:
        self.alive()
        with urllib.request.urlopen(url, timeout=2) as response:
            return bytes(response.read())

    def stop(self, stop_signal: int = signal.SIGTERM, timeout: float = 10) -> None:
        self.process.send_signal(stop_signal)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class PrometheusServer(_Process):
    """A Prometheus process scraping ``targets`` every second, and its HTTP query API."""

    def __init__(self, folder: Path, target: str | Sequence[str], *, honor_labels: bool = False) -> None:
        assert PROMETHEUS, "the prometheus server is not installed (Debian package 'prometheus')"
        self.port = free_port()
        targets = [target] if isinstance(target, str) else list(target)
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: odibi_otel\n"
            f"    honor_labels: {'true' if honor_labels else 'false'}\n"
            f"    static_configs: [{{targets: {json.dumps(targets)}}}]\n"
        )
        super().__init__(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            folder / "prometheus.log",
        )
        wait_for(lambda: self.get(f"http://127.0.0.1:{self.port}/-/ready"), 30, "Prometheus to become ready")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant-query result of ``promql``."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        body = json.loads(self.get(url))
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def by_label(self, promql: str, label: str) -> dict[str, float]:
        """``promql``'s values keyed by one label."""
        return {item["metric"][label]: float(item["value"][1]) for item in self.query(promql)}


class Pushgateway(_Process):
    """A Prometheus Pushgateway on loopback."""

    def __init__(self, folder: Path) -> None:
        assert PUSHGATEWAY, "the Pushgateway is not installed (Debian package 'prometheus-pushgateway')"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{self.port}"], folder / "pushgateway.log"
        )
        wait_for(lambda: self.get(f"{self.url}/-/ready"), 30, "the Pushgateway to become ready")

    def exposition(self) -> str:
        """What the gateway serves to Prometheus."""
        return self.get(f"{self.url}/metrics").decode("utf-8")


class NodeExporter(_Process):
    """node_exporter with only its textfile collector, reading ``directory``."""

    def __init__(self, folder: Path, directory: Path) -> None:
        assert NODE_EXPORTER, "node_exporter is not installed (Debian package 'prometheus-node-exporter')"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [
                NODE_EXPORTER,
                "--collector.disable-defaults",
                "--collector.textfile",
                f"--collector.textfile.directory={directory}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            folder / "node_exporter.log",
        )
        wait_for(lambda: self.get(f"{self.url}/metrics"), 30, "node_exporter to answer")

    def exposition(self) -> str:
        """What node_exporter serves to Prometheus."""
        return self.get(f"{self.url}/metrics").decode("utf-8")


def _postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (the newest version installed)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


POSTGRES_BIN = _postgres_bin()


class PostgresServer(_Process):
    """A throwaway PostgreSQL cluster on 127.0.0.1 (``initdb`` into a temp folder, trust auth).

    As root the server runs as the ``postgres`` user (PostgreSQL refuses root); its folder lives
    directly in the temp directory, which that user can reach. :meth:`stop` removes it.
    """

    def __init__(self, log: Path) -> None:
        assert POSTGRES_BIN is not None, "PostgreSQL is not installed (apt-get install postgresql)"
        self.folder = Path(tempfile.mkdtemp(prefix="odibi-pg-"))
        self.port = free_port()
        user = "postgres" if os.geteuid() == 0 else None
        if user is not None:
            shutil.chown(self.folder, user, user)
        data = self.folder / "data"
        subprocess.run(
            [str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", "odibi", "--auth=trust",
             "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, user=user, group=user, cwd=self.folder,
        )  # fmt: skip
        super().__init__(
            [str(POSTGRES_BIN / "postgres"), "-D", str(data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.folder}",
             "-c", "fsync=off", "-c", "max_connections=60"],
            log,
            user=user,
        )  # fmt: skip
        self.url = f"postgresql://odibi@127.0.0.1:{self.port}/postgres"
        wait_for(self._ready, 30, "PostgreSQL to accept connections")

    def _ready(self) -> bool:
        self.alive()
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            pass
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self, stop_signal: int = signal.SIGINT, timeout: float = 20) -> None:
        super().stop(stop_signal, timeout)  # SIGINT: PostgreSQL's fast shutdown
        shutil.rmtree(self.folder, ignore_errors=True)
