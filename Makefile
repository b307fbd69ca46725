# Quick start: `make run` (demo on embedded SQLite) and `make test` (everything CI runs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CODE := gateway adapters mappings simulators tests bench

.PHONY: run test lint typecheck unit serve simulators bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/creditgw demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

serve: $(STAMP)
	$(BIN)/creditgw serve --simulate

simulators: $(STAMP)
	$(BIN)/python -m simulators

bench: $(STAMP)
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.end_to_end

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
