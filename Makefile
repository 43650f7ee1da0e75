# Entry points. Every target sets itself up first, so each works on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: setup engine test test-py test-workers test-sdk-range lint demo bench fuzz clean

# The Python venv and node_modules are built side by side (each says what it is doing).
setup:
	@$(MAKE) --no-print-directory -j2 $(VENV)/.installed node_modules/.installed

# The virtualenv is rebuilt whenever requirements.txt changes: with a pinned uv, bootstrapped
# from PyPI by scripts/venv.sh (which falls back to pip, and says so, when uv cannot be had).
$(VENV)/.installed: requirements.txt pyproject.toml scripts/venv.sh
	@PYTHON=$(PYTHON) VENV=$(VENV) scripts/venv.sh
	@touch $@

# workerd comes with the miniflare npm package pinned in package-lock.json (--prefer-offline:
# tarballs already in npm's cache are used without asking the registry again).
node_modules/.installed: package-lock.json
	@echo "setup: npm ci (miniflare and workerd, pinned in package-lock.json)"
	@start=$$(date +%s); npm ci --no-audit --no-fund --prefer-offline --loglevel=error && \
	  echo "setup: node_modules ready ($$(( $$(date +%s) - start )) s)"
	@touch $@

# The real Pulumi engine (CLI, Python language host, Cloudflare and random plugins), built from
# Go modules into ~/.cache/secrets-store-engine/<key>/bin (scripts/engine.py; the key covers
# engine/ and the Go version): 20-40 minutes the first time on 2 cores, a second after that.
# Its last line is the folder to put on PATH.
engine:
	@$(PYTHON) scripts/engine.py

MYPY_TARGETS := components/secrets_store secretsctl policies/secrets_store_policies.py benchmarks tests

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(MYPY_TARGETS)

# On every core (pytest-xdist). A test module runs whole on one worker (`--dist loadscope`,
# in pyproject.toml with pytest's other options), so a module-scoped fixture (a whole
# rehearsal, one workerd run) is built once, not once per worker. PYTEST_WORKERS=0 runs
# everything in this process.
PYTEST_WORKERS ?= auto
test-py: setup
	$(PY) -m pytest -q -n $(PYTEST_WORKERS)

test-workers: setup
	npm test

# The tests that touch the Pulumi SDK, at the lowest and newest pulumi the package allows
# (a venv per version in ~/.cache; an end equal to the locked version is the main run's).
test-sdk-range: setup
	$(PY) scripts/sdk_range.py

# The engine first (where Go is installed: the engine suite runs `pulumi up` for real), then
# ruff, pytest alone (CPU-bound), then the engine suite with mypy and `npm test` beside it (scripts/test.sh).
test: setup
	@VENV=$(VENV) PYTEST_WORKERS=$(PYTEST_WORKERS) MYPY_TARGETS="$(MYPY_TARGETS)" scripts/test.sh

# Property-based: 1,000 generated stack files through plan, check, diff, rotate and promote,
# each ending in exit 0 or a clean exit 2; prints a table per family. (`make test` runs 20.)
fuzz: setup
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-1000} $(PY) -m pytest -q -s tests/test_fuzz_stackfiles.py

demo: setup
	$(VENV)/bin/secretsctl rehearse
	@echo "That rotation ran on workerd from the offline plan. Deployed by the real engine instead,"
	@echo "each stage a pulumi up against the local Cloudflare API (the first make engine takes"
	@echo "about an hour):  make engine && $(VENV)/bin/secretsctl rehearse --engine"

# Worker CPU per request on workerd (api.js vs the seed's worker) first; run.py runs it and
# prints the summary line last.
# Bytecode kept (in the venv) even where PYTHONDONTWRITEBYTECODE is set: each `pulumi up`
# the engine bench starts would compile pulumi_cloudflare again otherwise.
bench: setup
	env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$${PYTHONPYCACHEPREFIX:-$(CURDIR)/$(VENV)/pycache} \
	  $(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
