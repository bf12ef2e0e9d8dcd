# The two commands: `make run` (install, ingest the bundled corpus, serve) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run install install-dev lock ingest train-routing serve test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs come from the lock files in requirements/ (exact versions with hashes), never from the open
# ranges in pyproject.toml: a release upstream cannot change what a fresh clone runs. `make lock`
# adds what pyproject.toml newly asks for and keeps every other pin; `make lock UPGRADE=1` re-resolves
# all of them — an upgrade made on purpose, with the suite run after it.
install: $(BIN)/python
	$(PIP) install --require-hashes -r requirements/app.txt
	$(PIP) install --no-deps -e .

# dev.txt holds torch pinned to the CPU wheel this machine carries (requirements/torch.in), so
# sentence-transformers does not pull a multi-GB CUDA build.
install-dev: $(BIN)/python
	$(PIP) install --require-hashes -r requirements/dev.txt
	$(PIP) install --no-deps -e .

LOCK := $(VENV)/lock-tools/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links
lock:
	test -x $(VENV)/lock-tools/bin/pip-compile || ($(PYTHON) -m venv $(VENV)/lock-tools && \
		$(VENV)/lock-tools/bin/pip install -q pip-tools)
	$(LOCK) $(if $(UPGRADE),--upgrade) -o requirements/app.txt pyproject.toml
	$(LOCK) $(if $(UPGRADE),--upgrade) --extra dev --extra sentence-transformers -c requirements/torch.in \
		-o requirements/dev.txt pyproject.toml

ingest: install
	$(BIN)/jingce ingest

# The hotline category model is fitted ahead of serving (about a minute on a cold embedding cache,
# seconds after that; nothing when its data did not change). `make run` fits it beside the starting
# server, which loads the model when it is written: until then suggestions go to review, saying why.
train-routing: install
	$(BIN)/jingce train routing --if-changed

serve:
	$(BIN)/jingce serve --host $(HOST) --port $(PORT)

run: install ingest
	$(BIN)/jingce train routing --if-changed & $(BIN)/jingce serve --host $(HOST) --port $(PORT)

# the suite in TEST_WORKERS processes (pytest-xdist), a test file to each at a time, so that a file's
# servers and evaluation runs are made once: 15.5 minutes in one process here, 9 in two (warm cache);
# TEST_WORKERS=0 runs it in this process
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: install-dev
	$(PYTEST)

test-fast: install-dev
	$(PYTEST) -m "not slow"

# every benchmark, then benchmarks/README.md and its plots written from their numbers (about 40 minutes
# here: the load test's soak alone is 10); `make bench ONLY="load ingest"` re-runs some
bench: install-dev
	$(BIN)/python benchmarks/run_all.py $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf data
