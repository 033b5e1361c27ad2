"""The documentation's links resolve, its Python compiles, and getting-started.md's walkthrough runs.

The walkthrough test writes the files that docs/getting-started.md shows (code blocks with a
``title="..."`` info string) into a temporary folder and runs the commands the page shows, comparing
the deterministic output with the page.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: Pages written in parallel with the ones linking to them: a missing one is tolerated until it
#: exists (then its links and anchors are checked like any other).
PENDING: set[Path] = set()
#: Pages whose every ```python block must compile (the guides; reference pages may show fragments).
COMPILED = ["getting-started.md", "jaeger-grafana.md", "library-use.md", "pii-redaction.md"]

_FENCE = re.compile(r"^(```+|~~~+)(.*)$")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block."""
    blocks, info, body, fence = [], "", [], None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None and match:
            fence, info, body = match.group(1), match.group(2).strip(), []
        elif fence is not None and line.strip() == fence:
            blocks.append((info, "\n".join(body) + "\n"))
            fence = None
        elif fence is not None:
            body.append(line)
    return blocks


def _prose(text: str) -> str:
    """The text outside fenced code blocks."""
    kept, fence = [], None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and line.strip() == fence:
            fence = None
        elif fence is None:
            kept.append(line)
    return "\n".join(kept)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    for line in _prose(path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = base = _slug(match.group(1))
            number = 0
            while slug in anchors:
                number += 1
                slug = f"{base}-{number}"
            anchors.add(slug)
    return anchors


def _doc_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize("page", _doc_pages(), ids=lambda path: path.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            if resolved not in PENDING:
                broken.append(f"{target}: no such file")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_index_lists_every_page() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"\]\(([a-z-]+\.md)\)", index))
    assert {page.name for page in _doc_pages()} - {"README.md"} <= listed


@pytest.mark.parametrize("page", COMPILED)
def test_python_blocks_compile(page: str) -> None:
    for number, (info, body) in enumerate(_blocks((DOCS / page).read_text(encoding="utf-8")), start=1):
        if info.split(" ")[0] == "python":
            compile(body, f"{page} block {number}", "exec")


def _titled_files(page: str) -> dict[str, str]:
    files = {}
    for info, body in _blocks((DOCS / page).read_text(encoding="utf-8")):
        match = re.search(r'title="([^"]+)"', info)
        if match:
            files[match.group(1)] = body
    return files


def _console_output(page: str, command: str) -> list[str]:
    """The output lines the page shows under ``$ <command>`` (first such console block)."""
    for info, body in _blocks((DOCS / page).read_text(encoding="utf-8")):
        lines = body.splitlines()
        if info == "console" and lines and lines[0].startswith(f"$ {command}"):
            return lines[1:]
    raise AssertionError(f"{page} shows no console block for {command!r}")


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "odibi-otel"
    return [str(script)] if script.exists() else [sys.executable, "-m", "odibi_otel.cli"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120, check=False
    )


@pytest.mark.integration
def test_getting_started_walkthrough(tmp_path: Path) -> None:
    files = _titled_files("getting-started.md")
    assert set(files) == {"first_pipeline.py", "my_transforms.py", "pipeline.yaml"}
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")

    # the Python version
    first = _run([sys.executable, "first_pipeline.py"], tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    expected = [
        "read_orders: 5 rows in ",
        "paid: 3 rows in ",
        "revenue: 2 rows in ",
        "store_revenue: 2 rows in ",
    ]
    assert [line[: len(prefix)] for line, prefix in zip(lines, expected, strict=False)] == expected
    assert re.fullmatch(r"True [0-9a-f]{32}", lines[4])
    for artifact in (
        "out/revenue.parquet",
        "lineage.json",
        "story.html",
        "metrics.json",
        "metrics_prometheus.txt",
    ):
        assert (tmp_path / artifact).is_file(), artifact

    # validate: the output is deterministic and shown verbatim
    validate = _run([*_cli(), "validate", "pipeline.yaml"], tmp_path)
    assert validate.returncode == 0, validate.stderr
    assert validate.stdout.splitlines() == _console_output(
        "getting-started.md", "odibi-otel validate pipeline.yaml"
    )

    # the typo example
    typo = tmp_path / "typo"
    typo.mkdir()
    (typo / "my_transforms.py").write_text(files["my_transforms.py"], encoding="utf-8")
    (typo / "pipeline.yaml").write_text(
        files["pipeline.yaml"].replace("min_amount: 10", "min_amont: 10"), encoding="utf-8"
    )
    broken = _run([*_cli(), "validate", "pipeline.yaml"], typo)
    assert broken.returncode == 2
    shown = _console_output("getting-started.md", "odibi-otel validate pipeline.yaml      #")
    assert " ".join(broken.stderr.split()) == " ".join(" ".join(shown).split())

    # run: the node lines and the artifacts the page lists
    run = _run([*_cli(), "run", "pipeline.yaml"], tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    shown_run = _console_output("getting-started.md", "odibi-otel run pipeline.yaml")
    node_lines = [line.split()[:2] for line in shown_run if line.startswith("    ok  ")]
    assert [line.split()[:2] for line in run.stdout.splitlines() if line.startswith("    ok  ")] == node_lines
    assert "trace id " in run.stdout
    table = (DOCS / "getting-started.md").read_text(encoding="utf-8").split("### Where the artifacts go")[1]
    for name in re.findall(r"^\| `([a-z_.]+)` \|", table, re.MULTILINE):
        assert (tmp_path / "odibi-output" / name).is_file(), name
    assert (tmp_path / "out" / "revenue.parquet").is_file()

    # story from the lineage file and from the telemetry file
    for source in ("odibi-output/lineage.json", "odibi-output/telemetry.jsonl"):
        story = _run([*_cli(), "story", source, "-o", "rebuilt.html", "--title", "Orders, Monday"], tmp_path)
        assert story.returncode == 0, story.stderr
        assert "<title>Orders, Monday" in (tmp_path / "rebuilt.html").read_text(encoding="utf-8")
