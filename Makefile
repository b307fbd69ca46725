# Quick start: `make run` (demo on embedded SQLite) and `make test` (everything CI runs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CODE := gateway adapters mappings simulators tests bench

.PHONY: run test lint typecheck unit serve simulators bench crash clean

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

# The crash-and-race harness (bench/crash.py): serve SIGKILLed CRASH_KILLS times per database while
# authorities send decisions; exits non-zero when any acknowledged decision is lost (or any other
# finding). CRASH_ARGS passes more options, e.g. CRASH_ARGS='--seed 123' to replay a run.
CRASH_KILLS ?= 100
CRASH_BACKENDS ?= sqlite postgresql
CRASH_ARGS ?=
crash: $(STAMP)
	@failed=""; for backend in $(CRASH_BACKENDS); do \
	  $(BIN)/python -m bench.crash --backend $$backend --kills $(CRASH_KILLS) $(CRASH_ARGS) || failed="$$failed $$backend"; \
	done; \
	if [ -n "$$failed" ]; then echo "make crash: FAILED on$$failed (see each summary above)"; exit 1; fi; \
	echo "make crash: passed on $(CRASH_BACKENDS)"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
