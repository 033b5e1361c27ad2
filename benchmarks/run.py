"""Run odibi_otel's benchmark suite: ``python benchmarks/run.py [--quick] [--only CASE] [--out FILE]``.

Cases (see ``benchmarks/README.md`` for what each measures and its target):

1. reference pipeline overhead   2. tiny nodes (vs Apache Hamilton)   3. snapshot cost vs rows
4. story scale                   5. /metrics scrape                    6. import time
7. peak memory and no retained DataFrames   8. Spark engine (local[2]) vs bare Spark

``--quick`` uses tiny sizes and 3 pairs: it proves the suite works (CI smoke), its timings mean
nothing. The exit code is 0 when every selected case ran (missed targets are reported, not
failed); 1 when a case crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the ``benchmarks`` package importable
    sys.path.append(str(ROOT))  # appended: a PYTHONPATH odibi_otel (e.g. an old copy) still wins

from benchmarks.common import CaseResult, Settings  # noqa: E402

CASES: dict[str, str] = {
    "1": "benchmarks.case_reference",
    "2": "benchmarks.case_tiny_nodes",
    "3": "benchmarks.case_snapshot",
    "4": "benchmarks.case_story",
    "5": "benchmarks.case_scrape",
    "6": "benchmarks.case_import",
    "7": "benchmarks.case_memory",
    "8": "benchmarks.case_spark",
}
ALIASES = {
    "reference": "1",
    "tiny": "2",
    "tiny-nodes": "2",
    "snapshot": "3",
    "story": "4",
    "scrape": "5",
    "metrics": "5",
    "import": "6",
    "memory": "7",
    "spark": "8",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 3 pairs: a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        metavar="CASE",
        help="run only this case (number 1-8 or name: " + ", ".join(ALIASES) + "); repeatable",
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--pairs", type=int, help="pairs per ratio (default 15, quick 3)")
    args = parser.parse_args(argv)
    selected = _selected(parser, args.only)
    pairs = args.pairs or (3 if args.quick else 15)
    if not args.quick and pairs < 15:
        parser.error("full mode needs at least 15 pairs")
    started = time.perf_counter()
    machine = machine_facts()
    print(_banner(machine, args.quick, pairs), flush=True)
    results: list[CaseResult] = []
    crashed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="odibi-bench-") as workdir:
        settings = Settings(quick=args.quick, pairs=pairs, workdir=Path(workdir))
        for number in selected:
            module = __import__(CASES[number], fromlist=["run"])
            run_case: Callable[[Settings], CaseResult] = module.run
            case_started = time.perf_counter()
            try:
                result = run_case(settings)
            except Exception:
                crashed.append(number)
                print(f"[case {number}] CRASHED\n{traceback.format_exc()}", flush=True)
                continue
            result.seconds = time.perf_counter() - case_started
            results.append(result)
            print(result.report(), flush=True)
    total = time.perf_counter() - started
    print(_summary(results, crashed, total), flush=True)
    if args.out is not None:
        document = {
            "machine": machine,
            "quick": args.quick,
            "pairs": pairs,
            "seconds": round(total, 1),
            "cases": [result.as_dict() for result in results],
            "crashed": crashed,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.out}")
    return 1 if crashed else 0


def _selected(parser: argparse.ArgumentParser, only: list[str] | None) -> list[str]:
    if not only:
        return list(CASES)
    chosen: list[str] = []
    for item in only:
        for part in item.split(","):
            key = ALIASES.get(part.strip().lower(), part.strip())
            if key not in CASES:
                parser.error(f"unknown case {part!r}; choose 1-7 or one of {', '.join(ALIASES)}")
            if key not in chosen:
                chosen.append(key)
    return sorted(chosen)


def machine_facts() -> dict[str, Any]:
    """Where the numbers come from: cores, CPU model, Python and library versions."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    import odibi_otel

    facts: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "odibi_otel from": os.path.dirname(odibi_otel.__file__),
    }
    for package in (
        "pandas",
        "numpy",
        "pyarrow",
        "opentelemetry-sdk",
        "odibi-otel",
        "apache-hamilton",
    ):
        try:
            facts[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            facts[package] = None
    return facts


def _banner(machine: dict[str, Any], quick: bool, pairs: int) -> str:
    skip = ("nproc", "cpu", "platform", "odibi_otel from")
    versions = ", ".join(f"{k} {v}" for k, v in machine.items() if k not in skip)
    mode = "QUICK (smoke: sizes tiny, timings meaningless)" if quick else "full"
    return (
        f"odibi_otel benchmarks, {mode} mode, {pairs} pairs per ratio\n"
        f"machine: {machine['nproc']} cores, {machine['cpu']}; {versions}\n"
        f"odibi_otel imported from {machine['odibi_otel from']}\n"
    )


def _summary(results: list[CaseResult], crashed: list[str], seconds: float) -> str:
    lines = ["", "summary:"]
    for result in results:
        verdict = {True: "met", False: "MISSED", None: "informational"}[result.met]
        lines.append(f"  case {result.number}: {verdict:<13} {result.title}")
    lines.extend(f"  case {number}: CRASHED" for number in crashed)
    lines.append(f"total {seconds:.1f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
