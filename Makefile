# odibi_otel developer commands. `make demo` and `make test` work on a fresh machine with
# Python 3.11+, pip and make: each sets up the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= demo-output

.PHONY: demo test test-distro lint format clean java

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/odibi-otel demo --out $(OUT) --openlineage-file $(OUT)/openlineage.jsonl

test: $(VENV)/.installed java
	$(PY) -m pytest

# The Spark tests need Java 17+: installed from Debian/Ubuntu packages when missing and allowed
# (root with apt-get), otherwise the target says what to install.
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	  else \
	    echo "the Spark tests need Java 17+: install openjdk-17-jre-headless (or any JDK/JRE 17+)" >&2; exit 1; \
	  fi; }

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
