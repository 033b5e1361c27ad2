"""Case 7: peak memory with everything on vs bare, and no DataFrames kept by the tracker.

* Peak RSS: the case 1 pipeline runs once per fresh interpreter (its peak RSS: ``VmHWM``, see
  :func:`peak_rss_bytes`), bare and everything-on alternately; ratio per pair, for both string
  variants.
* Retention: in this process, an everything-on run's frames are referenced weakly, the result
  dropped, and after a garbage collection no frame may be alive although the orchestrator, its
  tracker and the listeners still are; a walk of the objects reachable from the tracker must
  find no DataFrame, Series or Index either.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a child script: make the ``benchmarks`` package importable
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks import reference_pipeline as pipeline
from benchmarks.case_reference import data_folder
from benchmarks.common import CaseResult, Measurement, Settings, Telemetry, everything_on

TARGET_RSS_RATIO = 1.05


def child(mode: str, folder: Path, strings: str, workdir: Path) -> dict[str, Any]:
    """One run of the reference pipeline in this (fresh) process; returns its peak RSS."""
    if mode == "bare":
        pipeline.run_bare(folder, strings, workdir / f"case7-{strings}-bare.parquet")
    else:
        telemetry = Telemetry(workdir / f"case7-{strings}-{os.getpid()}.otlp.jsonl")
        orchestrator = everything_on(
            pipeline.steps(folder, strings, workdir / f"case7-{strings}-odibi.parquet"), telemetry
        )
        outcome = orchestrator.execute()
        telemetry.flush()
        telemetry.shutdown()
        if not outcome["success"]:
            raise RuntimeError(str(outcome["errors"]))
    return {"mode": mode, "peak_bytes": peak_rss_bytes()}


def peak_rss_bytes() -> int:
    """This process's peak resident set size.

    ``VmHWM`` from ``/proc/self/status`` where there is one: ``ru_maxrss`` would do, except that
    Linux carries the parent's high-water mark into a child started with vfork/exec (as
    ``subprocess`` does), so a child's ``ru_maxrss`` is never below the parent's RSS at the time.
    """
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024)


def _peak(mode: str, folder: Path, strings: str, workdir: Path) -> int:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, os.fspath(folder), strings, os.fspath(workdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"memory child ({mode}) failed:\n{completed.stderr}")
    return int(json.loads(completed.stdout.strip().splitlines()[-1])["peak_bytes"])


def _reachable_frames(root: object, limit: int = 2_000_000) -> int:
    """DataFrames, Series and Indexes reachable from ``root`` (not through modules, classes, code)."""
    import pandas as pd

    skip = (type, type(sys), type(_reachable_frames), type(print), type(_reachable_frames.__code__))
    seen: set[int] = set()
    stack: list[object] = [root]
    found = 0
    while stack and len(seen) < limit:
        item = stack.pop()
        if id(item) in seen or isinstance(item, skip):
            continue
        seen.add(id(item))
        if isinstance(item, (pd.DataFrame, pd.Series, pd.Index)):
            found += 1
            continue
        stack.extend(gc.get_referents(item))
    return found


def retention_check(settings: Settings) -> tuple[bool, str]:
    folder = data_folder(settings)
    telemetry = Telemetry(settings.workdir / "case7-retention.otlp.jsonl")
    orchestrator = everything_on(
        pipeline.steps(folder, "object", settings.workdir / "case7-retention.parquet"), telemetry
    )
    outcome = orchestrator.execute()
    telemetry.flush()
    frames = [weakref.ref(frame) for frame in outcome["outputs"].values()]
    tracker = outcome["tracker"]
    del outcome
    gc.collect()
    alive = sum(1 for ref in frames if ref() is not None)
    reachable = _reachable_frames(tracker)
    kept = orchestrator.last_tracker is tracker and tracker.to_dict()["summary"]["succeeded"] > 0
    telemetry.shutdown()
    ok = alive == 0 and reachable == 0 and kept
    return ok, (
        f"{len(frames)} frames weakly referenced, {alive} alive after the run "
        f"(tracker kept: {kept}); frames reachable from the tracker: {reachable}"
    )


def run(settings: Settings) -> CaseResult:
    orders = 20_000 if settings.quick else 1_000_000
    pairs = 1 if settings.quick else 3
    result = CaseResult(7, f"Memory: peak RSS on case 1 ({orders:,} orders), everything on vs bare")
    folder = data_folder(settings)
    result.facts["pairs (fresh processes)"] = pairs
    for strings in ("default",) if settings.quick else ("default", "object"):
        bare: list[int] = []
        odibi: list[int] = []
        for index in range(pairs):
            order = ("bare", "odibi") if index % 2 == 0 else ("odibi", "bare")
            for mode in order:
                (bare if mode == "bare" else odibi).append(_peak(mode, folder, strings, settings.workdir))
        label = "pandas default str dtype" if strings == "default" else "object string columns"
        bare_mb = sorted(bare)[len(bare) // 2] / 2**20
        odibi_mb = sorted(odibi)[len(odibi) // 2] / 2**20
        result.add(
            Measurement(
                f"{label}: peak RSS everything-on / bare",
                "x",
                [a / b for a, b in zip(odibi, bare, strict=True)],
                target=TARGET_RSS_RATIO,
                digits=3,
                note=f"median peak RSS: bare {bare_mb:.0f} MiB, everything on {odibi_mb:.0f} MiB",
            )
        )
    ok, detail = retention_check(settings)
    result.facts["check:tracker holds no DataFrames after the run"] = ok
    result.facts["retention detail"] = detail
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=4, metavar=("MODE", "FOLDER", "STRINGS", "WORKDIR"), required=True)
    mode, folder, strings, workdir = parser.parse_args().child
    print(json.dumps(child(mode, Path(folder), strings, Path(workdir))))
