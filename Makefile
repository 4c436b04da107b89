# Two entry points on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast lint typecheck bench objectives image-check screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the project's metadata changes.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The HTTP service on its embedded defaults: SQLite under ./var/, local worker processes.
HOST ?= 127.0.0.1
PORT ?= 8000
run: $(STAMP)
	@mkdir -p var
	$(BIN)/unishare serve --host $(HOST) --port $(PORT)

# Lint and types first: they take seconds and fail fast.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The same lint and types, then every test but those marked slow (real servers, thousands of
# requests, the large examples): under a minute, for the edit-test loop. `make test` runs all.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks.matching

# Every example and a fixed set of benchmark instances against the recorded baseline: a
# refactor must leave every proven optimum where it was (about a minute).
objectives: $(STAMP)
	$(BIN)/python -m benchmarks.objectives --compare benchmarks/objectives-baseline.json

# The Docker image without a Docker daemon: hadolint on the Dockerfile, then its own COPY and
# pip install steps in a fresh venv, from which `unishare serve` and `unishare worker` must
# start and answer /health/ready (deploy/image_check.py; a few minutes, mostly the install).
image-check: $(STAMP)
	$(BIN)/hadolint Dockerfile
	$(BIN)/python deploy/image_check.py

# Pictures of the planner's page for the README: a server on a temporary database, the page
# driven in Debian's Chromium (apt-get install chromium), one PNG per view in docs/images/.
screenshots: $(STAMP)
	$(BIN)/python -m tests.browser.screenshots docs/images

clean:
	rm -rf $(VENV) solutions var .pytest_cache .mypy_cache .ruff_cache
