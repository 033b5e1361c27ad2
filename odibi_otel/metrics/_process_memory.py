"""The process's current resident memory, cheaply (one ``pread`` of ``/proc/self/statm``).

:func:`recent_resident_memory_bytes` is the per-node form: it re-reads at most once per
:data:`RSS_MAX_AGE_SECONDS` and otherwise returns the last reading. A system call releases the
GIL; while another thread holds it (a batch span processor encoding an export, say) each one can
wait a whole GIL switch interval (5 ms) to get it back, which made the read the costliest part of
a tiny node's metrics. So the file stays open and each reading is a single ``pread`` (1.5 µs, where
open + read + close took 10 µs and three system calls); a forked child opens its own.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from typing import Final

__all__ = ["RSS_MAX_AGE_SECONDS", "recent_resident_memory_bytes", "resident_memory_bytes"]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

#: How old a reading :func:`recent_resident_memory_bytes` may return. Nodes that finish within
#: 10 ms of the last reading share it; a node that itself runs longer always gets a fresh one.
RSS_MAX_AGE_SECONDS: Final = 0.010

# (monotonic time, bytes, pid) of the latest reading; the pid makes a forked child read its own.
_latest: tuple[float, int, int] = (float("-inf"), 0, -1)


# (pid, file descriptor) of the open /proc/self/statm: /proc/self is resolved when the file is
# opened, so a forked child reading its parent's descriptor would get the parent's memory.
_statm: tuple[int, int] | None = None
_statm_lock = threading.Lock()


def resident_memory_bytes() -> int:
    """Resident set size of this process in bytes (peak RSS where the current one is unknown)."""
    try:
        return int(_read_statm().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)


def _read_statm() -> bytes:
    global _statm
    pid = os.getpid()
    opened = _statm
    if opened is None or opened[0] != pid:
        with _statm_lock:
            opened = _statm
            if opened is None or opened[0] != pid:
                if opened is not None:  # the parent's descriptor, inherited through fork
                    os.close(opened[1])
                opened = _statm = (pid, os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC))
    return os.pread(opened[1], 128, 0)


def recent_resident_memory_bytes(max_age: float = RSS_MAX_AGE_SECONDS) -> int:
    """:func:`resident_memory_bytes`, re-read only when the last reading is older than ``max_age`` s."""
    global _latest
    now = time.monotonic()
    taken, value, pid = _latest
    if now - taken < max_age and pid == os.getpid():
        return value
    value = resident_memory_bytes()
    _latest = (now, value, os.getpid())  # one tuple: threads see a whole reading or the previous one
    return value
