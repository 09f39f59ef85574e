# The two commands of the README:
#   make demo   set up, start a local PostgreSQL (unless CACHEMON_DATABASE_URL is set) and run the demo
#   make test   set up and run every check and test (what CI runs)
VENV := .venv/bin

.PHONY: setup demo test lint squawk bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/cachemon demo

lint: setup
	$(VENV)/ruff check orchestrator tests benchmarks alembic
	$(VENV)/ruff format --check orchestrator tests benchmarks alembic
	$(VENV)/mypy orchestrator tests benchmarks

test: lint
	$(VENV)/pytest

# squawk over `cachemon db sql` (waivers with reasons in .squawk.toml); also part of `make test`.
squawk: setup
	$(VENV)/pytest tests/test_squawk.py -q -p no:cacheprovider

bench: setup
	$(VENV)/python benchmarks/run_all.py

clean:
	rm -rf .venv build dist .pytest_cache .mypy_cache .ruff_cache
