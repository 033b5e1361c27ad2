"""Process resident memory: a live reading, reused briefly, and a forked child's own."""

from __future__ import annotations

import os
import sys

import pytest

from odibi_otel.metrics._process_memory import recent_resident_memory_bytes, resident_memory_bytes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")

MIB = 1024 * 1024


def vm_rss_bytes() -> int:
    """The kernel's own figure, from /proc/self/status (kB)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_reading_agrees_with_the_kernel_and_follows_allocations() -> None:
    before = resident_memory_bytes()
    assert abs(before - vm_rss_bytes()) < 16 * MIB
    block = bytearray(200 * MIB)  # zero-filled by Python: resident
    grown = resident_memory_bytes()
    assert grown - before > 150 * MIB
    del block
    assert resident_memory_bytes() < grown - 150 * MIB


def test_recent_reading_is_reused_only_within_its_age() -> None:
    first = recent_resident_memory_bytes(max_age=0)  # a fresh reading, remembered
    block = bytearray(200 * MIB)
    assert recent_resident_memory_bytes(max_age=3600) == first  # reused
    assert recent_resident_memory_bytes(max_age=0) - first > 150 * MIB  # re-read
    del block


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_reads_its_own_memory_not_its_parents() -> None:
    parent_before = resident_memory_bytes()  # the parent's descriptor is open before the fork
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: grow by 300 MiB and report both readings
        try:
            os.close(read_end)
            before = resident_memory_bytes()
            block = bytearray(300 * MIB)
            after = resident_memory_bytes()
            os.write(write_end, f"{before} {after} {len(block)}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        before, after, _ = map(int, pipe.read().split())
    os.waitpid(pid, 0)
    assert after - before > 250 * MIB  # the child's own growth
    # the parent's reading did not take the child's 300 MiB (other threads of the test process
    # may allocate meanwhile: the bound leaves them room)
    assert resident_memory_bytes() - parent_before < 250 * MIB
