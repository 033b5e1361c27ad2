"""Real Spark servers for the tests: a standalone cluster (a master and workers) and Spark Connect.

Each comes from the pyspark install (it is a full ``SPARK_HOME``), listens on 127.0.0.1 only and
runs in a session of its own: ``stop()`` ends everything in that session (the JVMs, the worker's
executors and their Python daemons, which leave the process group but not the session) and is
safe to call twice; fixtures call it in a ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import IO, Any

from servers import free_port, wait_for


def session_processes(session: int) -> list[int]:
    """The live (not zombie) processes of session ``session``, read from ``/proc`` (Linux).

    Spark's Python daemon moves into a process group of its own but stays in the session of the
    worker (or server) that started it: stopping by session leaves nothing behind.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _parent, _group, owner = stat[stat.rindex(")") + 2 :].split()[:4]
        if int(owner) == session and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def stop_session(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Stop ``process`` (a session leader) and everything else in its session: TERM, then KILL."""
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        _signal_session(process.pid, signal_number)
        try:
            process.wait(timeout=timeout)
            wait_for(lambda: not session_processes(process.pid), timeout, "the session to empty")
            return
        except (subprocess.TimeoutExpired, AssertionError):
            continue


def _signal_session(leader: int, signal_number: int) -> None:
    for pid in [leader, *session_processes(leader)]:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.kill(pid, signal_number)


def spark_home() -> Path:
    """The installed pyspark package: ``bin/spark-class``, ``sbin/``, ``jars/``."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


class StandaloneCluster:
    """``spark://127.0.0.1:<port>`` with ``workers`` workers of ``cores`` cores each."""

    def __init__(self, folder: Path, python_path: str = "", *, workers: int = 1, cores: int = 2) -> None:
        self.folder = folder
        home = spark_home()
        self.port, self.ui_port = free_port(), free_port()
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self.master_ui = f"http://127.0.0.1:{self.ui_port}"
        self.env = {
            **os.environ,
            "SPARK_HOME": str(home),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_WORKER_DIR": str(folder / "work"),
            "SPARK_LOG_DIR": str(folder / "logs"),
            "SPARK_NO_DAEMONIZE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, (python_path, os.environ.get("PYTHONPATH")))),
        }
        self._logs: list[IO[bytes]] = []
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            self._start(
                "master",
                "org.apache.spark.deploy.master.Master",
                ["--host", "127.0.0.1", "--port", str(self.port), "--webui-port", str(self.ui_port)],
            )
            wait_for(self._state, 90, "the Spark master")
            for number in range(workers):
                self._start(
                    f"worker-{number}",
                    "org.apache.spark.deploy.worker.Worker",
                    ["--host", "127.0.0.1", "--cores", str(cores), "--memory", "2g", "--webui-port",
                     str(free_port()), "--work-dir", str(folder / f"work-{number}"), self.master_url],
                )  # fmt: skip
            wait_for(lambda: self.alive_workers() == workers, 90, "the Spark workers to register")
        except BaseException:
            logs = self.log_tail()
            self.stop()
            raise AssertionError(f"the Spark cluster did not start:\n{logs}") from None

    def _start(self, name: str, main_class: str, arguments: list[str]) -> None:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        command = [str(spark_home() / "bin" / "spark-class"), main_class, *arguments]
        self._processes[name] = subprocess.Popen(
            command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _state(self) -> dict[str, Any]:
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise AssertionError(f"the Spark {name} exited ({process.returncode})")
        with urllib.request.urlopen(f"{self.master_ui}/json/", timeout=2) as response:
            state: dict[str, Any] = json.load(response)
        return state

    def alive_workers(self) -> int:
        """Workers the master sees as ALIVE."""
        return sum(1 for worker in self._state().get("workers", []) if worker.get("state") == "ALIVE")

    @property
    def master(self) -> subprocess.Popen[bytes]:
        """The master's process."""
        return self._processes["master"]

    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The master and worker processes (leaders of their process groups)."""
        return list(self._processes.values())

    def kill_worker(self, number: int = 0) -> None:
        """SIGKILL worker ``number``, its executors and their Python workers (a machine lost mid-run)."""
        process = self._processes.get(f"worker-{number}")
        if process is not None and process.poll() is None:
            _signal_session(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the worker and the master (their whole process groups); idempotent."""
        names = [name for name in self._processes if name != "master"] + ["master"]
        for name in names:
            stop_session(self._processes[name])
        for log in self._logs:
            log.close()
        self._logs.clear()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of each process's log."""
        parts = []
        for path in sorted(self.folder.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)


class ConnectServer:
    """The Spark Connect server shipped with pyspark, on ``local[2]``, at ``sc://127.0.0.1:<port>``."""

    def __init__(self, folder: Path) -> None:
        home = spark_home()
        self.port = free_port()
        self.remote_url = f"sc://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SPARK_HOME": str(home),
            "SPARK_NO_DAEMONIZE": "1",
            "SPARK_LOG_DIR": str(folder / "logs"),
            "SPARK_PID_DIR": str(folder),
            "PYSPARK_PYTHON": sys.executable,
        }
        settings = {
            "spark.connect.grpc.binding.port": str(self.port),
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
            "spark.ui.port": "0",
        }
        command = [str(home / "sbin" / "start-connect-server.sh"), "--master", "local[2]"]
        for key, value in settings.items():
            command += ["--conf", f"{key}={value}"]
        self.log_path = folder / "connect.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for(self._listening, 120, "the Spark Connect server")
        except BaseException:
            self.stop()
            raise AssertionError(
                f"Spark Connect did not start:\n{self.log_path.read_text(errors='replace')[-4000:]}"
            ) from None

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the Connect server exited ({self.process.returncode})")
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def stop(self) -> None:
        """Stop the server's whole session (the start script, its JVM, Python daemons); idempotent."""
        stop_session(self.process)
        self._log.close()
