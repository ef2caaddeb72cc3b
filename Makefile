# Two commands do all the set-up: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip's cache (~/.cache/pip) is reused between runs; torch comes from this machine's disk.
PIP_INSTALL := $(BIN)/pip install --disable-pip-version-check -c constraints.txt

.PHONY: install run test clean

$(STAMP): pyproject.toml constraints.txt requirements-nodeps.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[test]'
	$(PIP_INSTALL) --no-deps -r requirements-nodeps.txt
	@touch $@

install: $(STAMP)

# Embedded defaults: SQLite and images under DATA_DIR (./data), shipped models, 127.0.0.1:PORT.
run: $(STAMP)
	@if [ -z "$$API_KEYS" ]; then echo "API_KEYS not set: using the development key 'dev-local-key'"; fi
	API_KEYS=$${API_KEYS:-dev-local-key} $(BIN)/moderation serve

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
