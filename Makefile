# One entry point for humans and CI. `make check` = lint + types + import contracts + tests.
PY ?= .venv/bin/python
VENV ?= .venv

.PHONY: install run serve check lint typecheck contracts test services browser bench clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)

install: $(VENV)/bin/python
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[dev]"

# The sandbox: the real Traza with local Slack and WhatsApp stand-ins and a web console (no credentials).
run: install
	$(VENV)/bin/traza sandbox

# Production-style: your traza.yml and the credentials in .env.
serve: install
	@test -f traza.yml || cp traza.example.yml traza.yml
	$(VENV)/bin/traza serve

services:
	@./scripts/services.sh

browser:
	@./scripts/browser.sh

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy

contracts:
	$(VENV)/bin/lint-imports

test: services browser
	$(VENV)/bin/pytest -q

check: install lint typecheck contracts test

bench: install
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf .mypy_cache .ruff_cache .pytest_cache .traza-sandbox traza.db traza.db-wal traza.db-shm
