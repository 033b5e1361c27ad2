# odibi_otel developer commands. `make demo` and `make test` work on a fresh machine with
# Python 3.11+, pip and make: each sets up the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= demo-output

.PHONY: demo test test-distro lint format clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/odibi-otel demo --out $(OUT) --openlineage-file $(OUT)/openlineage.jsonl

test: $(VENV)/.installed
	$(PY) -m pytest

# odibi_otel beside opentelemetry-distro and the Flask instrumentation, in a venv of its own so
# pip resolves the whole opentelemetry-* set together; the app runs under opentelemetry-instrument.
DISTRO_VENV ?= .venv-distro
$(DISTRO_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DISTRO_VENV)
	$(DISTRO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DISTRO_VENV)/bin/python -m pip install --quiet -e . opentelemetry-distro opentelemetry-instrumentation-flask flask pytest
	$(DISTRO_VENV)/bin/python -m pip check
	touch $@

test-distro: $(DISTRO_VENV)/.installed
	$(DISTRO_VENV)/bin/python -m pytest -p no:cacheprovider tests/distro

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check odibi_otel tests benchmarks examples docs
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(VENV)/.installed
	$(VENV)/bin/ruff format odibi_otel tests benchmarks examples docs

clean:
	rm -rf $(VENV) $(DISTRO_VENV) $(OUT) .odibi_cache .pytest_cache
