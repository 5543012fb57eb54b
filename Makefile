# rl_runner - `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install train test test-full lint tensorboard bench bench-learning clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools

train: $(STAMP) ## train the default (REINFORCE on CartPole-v1); extra overrides: make train ARGS="seed=1"
	$(PY) -m rl_runner.train $(ARGS)

test: $(STAMP) ## run the test suite CI runs (slow-marked real runs included)
	$(PY) -m pytest -q $(ARGS)

test-full: $(STAMP) ## the suite plus the long learning checks (marked full)
	$(PY) -m pytest -q --full $(ARGS)

lint: $(STAMP) ## static checks (ruff)
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check rl_runner tests benchmarks

tensorboard: $(STAMP) ## TensorBoard over outputs/, on localhost only
	$(VENV)/bin/tensorboard --logdir outputs --host 127.0.0.1 --port 6006

bench: $(STAMP) ## run benchmarks/ and write benchmarks/RESULTS.md (takes minutes; run on an idle machine)
	$(PY) -m benchmarks.run $(ARGS)

clean: ## remove outputs/, caches and the venv
	rm -rf outputs multirun .pytest_cache build *.egg-info $(VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
