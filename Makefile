# Entry points. Every target sets itself up first, so each works on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: setup test test-py test-workers lint demo bench clean

setup: $(VENV)/.installed node_modules/.installed

# The virtualenv is rebuilt whenever requirements.txt changes.
$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# workerd comes with the miniflare npm package pinned in package-lock.json.
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy secrets_store secretsctl policies/secrets_store_policies.py benchmarks tests

test-py: setup
	$(PY) -m pytest -q

test-workers: setup
	npm test

test: lint test-py test-workers

demo: setup
	$(VENV)/bin/secretsctl rehearse

# Worker throughput on workerd first; run.py prints the summary line last.
bench: setup
	node benchmarks/workers_rps.mjs
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
