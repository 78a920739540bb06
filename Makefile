# The two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-long lint typecheck clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## run: the API on http://127.0.0.1:$${PORT:-8080} over an embedded moto server
run: $(STAMP)
	$(PY) -m entrypoints.local_server

## test: lint, type-check and the whole suite, in the project's own virtualenv
test: $(STAMP) lint typecheck
	$(PY) -m pytest

## test-long: the consistency properties with thousands of examples
test-long: $(STAMP)
	CONSISTENCY_EXAMPLES=5000 AGREEMENT_EXAMPLES=200 $(PY) -m pytest tests/property tests/integration/test_fakes_agree.py

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
