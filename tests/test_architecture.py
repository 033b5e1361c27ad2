"""The package's shape: rooms as layers, small modules and classes, public names documented.

``docs/architecture.md`` describes the layout; these tests keep it true.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import odibi_otel

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "odibi_otel"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250
#: The odibi_core tutorial's import paths: part of the public contract.
TUTORIAL_MODULES = ("orchestrator", "metrics_manager", "event_bus", "story_generator")


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_import_layers_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports is not None, "import-linter is part of the test extra"
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_import_graph_in_the_docs_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "import_graph.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", _sources(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_modules_and_classes_stay_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: split it along its concepts"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"class {node.name} has {size} lines"


def _public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(odibi_otel.__path__, "odibi_otel."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _public_modules())
def test_public_modules_declare_and_document_their_api(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no docstring"
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} does not say what it exports (__all__)"
    for attribute in exported:
        value = getattr(module, attribute)
        if callable(value) and getattr(value, "__module__", "").startswith("odibi_otel"):
            assert value.__doc__, f"{name}.{attribute} has no docstring"


@pytest.mark.parametrize("name", _public_modules())
def test_public_docstrings_describe_the_product_not_its_origin(name: str) -> None:
    module = importlib.import_module(name)
    texts = [module.__doc__ or ""]
    texts += [getattr(module, attribute).__doc__ or "" for attribute in getattr(module, "__all__", ())]
    origin = re.compile(r"\bseed\b", re.IGNORECASE)
    for text in texts:
        assert not origin.search(text), f"{name}: a public docstring speaks of the seed: {text[:120]!r}"


@pytest.mark.parametrize("module", TUTORIAL_MODULES)
def test_the_tutorial_import_paths_re_export_the_rooms(module: str) -> None:
    shim = importlib.import_module(f"odibi_otel.{module}")
    for name in shim.__all__:
        assert getattr(shim, name) is getattr(odibi_otel, name)


def test_the_root_exports_resolve_and_stay_lazy() -> None:
    code = (
        "import sys, odibi_otel\n"
        "heavy = [m for m in ('pandas', 'opentelemetry.sdk', 'jinja2', 'yaml') if m in sys.modules]\n"
        "missing = [n for n in odibi_otel.__all__ if getattr(odibi_otel, n, None) is None]\n"
        "print(heavy, missing)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[] []"
