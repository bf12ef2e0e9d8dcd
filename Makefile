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

bench: install
	$(BIN)/python benchmarks/bench_embedded.py

clean:
	rm -rf data
