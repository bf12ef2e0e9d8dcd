# The two commands: `make run` (install, ingest the bundled corpus, serve) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run install install-dev ingest train-routing serve test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) install -e .

# torch first, pinned to the CPU wheel this machine carries, so sentence-transformers does not
# pull a multi-GB CUDA build.
install-dev: install
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev,sentence-transformers]'

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

test: install-dev
	$(BIN)/python -m pytest -q

test-fast: install-dev
	$(BIN)/python -m pytest -q -m "not slow"

# every benchmark, then benchmarks/README.md and its plots written from their numbers (about 40 minutes
# here: the load test's soak alone is 10); `make bench ONLY="load ingest"` re-runs some
bench: install-dev
	$(BIN)/python benchmarks/run_all.py $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf data
