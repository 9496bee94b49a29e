# Every target bootstraps .venv by itself, so a fresh machine needs only `make demo` / `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench reliability clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf demo-ledger && mkdir -p demo-ledger
	cd demo-ledger && ../$(BIN)/rsp-ledger demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q

# Issue 9's figures, bounded to run in CI in under 10 minutes; `make test` runs a short version.
reliability: $(STAMP)
	RELIABILITY_KILLS=200 RELIABILITY_FUZZ_EXAMPLES=1000 RELIABILITY_WRITES=500 RELIABILITY_MUTATIONS=10000 $(BIN)/pytest -q -s tests/reliability

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo-ledger .pytest_cache .mypy_cache .ruff_cache
