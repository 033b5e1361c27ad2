"""Which SparkSession a run uses, and who stops it.

``Orchestrator(engine_type="spark")`` takes a session three ways, in this order: the one passed
as ``spark=`` (never stopped by odibi_otel), the active session (never stopped either; with one
SparkContext per process, a running session wins over ``spark_master``), or a new one odibi_otel
builds and stops when the run ends: embedded ``local[*]`` by default, or the cluster named by
``spark_master=`` / ``SPARK_MASTER``, with ``spark_conf`` passed through. ``SPARK_REMOTE``
(``sc://...``) builds a Spark Connect session.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, Final

from odibi_otel.errors import UnsupportedEngineError

__all__ = [
    "LOOPBACK_CONF",
    "SPARK_EXTRA_HINT",
    "SessionSource",
    "import_pyspark",
    "is_connect_session",
]

#: What to install for ``engine_type="spark"``.
SPARK_EXTRA_HINT: Final = "engine_type='spark' needs pyspark 4.x: pip install 'odibi-otel[spark]'"

#: Settings of a session odibi_otel builds: the driver and its UI (whose REST API gives the job and
#: stage spans) listen on the loopback interface only, on a free port, without a console bar.
LOOPBACK_CONF: Final[Mapping[str, str]] = {
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.ui.port": "0",
    "spark.ui.showConsoleProgress": "false",
}


def import_pyspark() -> Any:
    """The ``pyspark.sql`` module.

    Raises:
        UnsupportedEngineError: pyspark is not installed (one line naming the extra).
    """
    try:
        import pyspark.sql
    except ImportError as exc:
        raise UnsupportedEngineError(SPARK_EXTRA_HINT) from exc
    return pyspark.sql


def is_connect_session(session: Any) -> bool:
    """Whether ``session`` is a Spark Connect client session (it has no SparkContext)."""
    return type(session).__module__.startswith("pyspark.sql.connect")


class SessionSource:
    """Gives a run its SparkSession and stops it afterwards only if it built it.

    Args:
        session: A session to use as is (never stopped here).
        master: The cluster of a session built here (``local[2]``, ``spark://host:port``, ``yarn``,
            ``k8s://...``); default ``SPARK_MASTER``, else ``local[*]``.
        conf: Spark settings of a session built here (over :data:`LOOPBACK_CONF`).
        app_name: ``spark.app.name`` of a session built here.
    """

    def __init__(
        self,
        session: Any | None = None,
        master: str | None = None,
        conf: Mapping[str, Any] | None = None,
        app_name: str = "odibi_otel",
    ) -> None:
        self.session = session
        self.master = master
        self.conf = dict(conf or {})
        self.app_name = app_name
        self._built: Any | None = None

    def acquire(self) -> Any:
        """The session for a run: the given one, the active one, else a new one."""
        if self.session is not None:
            return self.session
        sql = import_pyspark()
        active = sql.SparkSession.getActiveSession()
        if active is not None:  # one SparkContext per process: getOrCreate would return it anyway
            return active
        self._built = self._build(sql)
        return self._built

    def release(self) -> bool:
        """Stop the session :meth:`acquire` built (a given or active session keeps running).

        Returns whether a session was stopped.
        """
        built, self._built = self._built, None
        if built is not None:
            built.stop()
        return built is not None

    def _build(self, sql: Any) -> Any:
        remote = os.environ.get("SPARK_REMOTE")
        builder = sql.SparkSession.builder.appName(self.app_name)
        if remote and self.master is None:
            builder = builder.remote(remote)
        else:
            # executors' Python workers run this interpreter (with pandas and pyarrow), not the
            # first python3 on PATH
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = builder.master(self.master or os.environ.get("SPARK_MASTER") or "local[*]")
            for key, value in LOOPBACK_CONF.items():
                if key not in self.conf:
                    builder = builder.config(key, value)
        for key, value in self.conf.items():
            builder = builder.config(key, str(value))
        session = builder.getOrCreate()
        context = getattr(session, "_sc", None)
        if context is not None and "spark.log.level" not in self.conf:
            context.setLogLevel("ERROR")  # Spark's WARN chatter would bury the run's own output
        return session
