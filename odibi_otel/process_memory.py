"""The process's current resident memory, cheaply (one small read of ``/proc/self/statm``)."""

from __future__ import annotations

import os
import resource
import sys

__all__ = ["resident_memory_bytes"]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_memory_bytes() -> int:
    """Resident set size of this process in bytes (peak RSS where the current one is unknown)."""
    try:
        with open("/proc/self/statm", "rb") as stream:
            return int(stream.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)
