# rl_runner - `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
GPU ?=
comma := ,
EXTRAS := dev$(if $(GPU),$(comma)gpu)
STAMP := $(VENV)/.installed$(if $(GPU),-gpu)
LEGACY_VENV ?= .venv-legacy-mujoco
LEGACY_STAMP := $(LEGACY_VENV)/.installed
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install train test test-full lint tensorboard bench bench-learning bench-suite clean sweep \
        install-legacy-mujoco test-legacy-mujoco

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-22s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools (GPU=1: with CUDA)

$(LEGACY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(LEGACY_VENV)
	$(LEGACY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LEGACY_VENV)/bin/python -m pip install --quiet -e '.[legacy-mujoco]' pytest
	touch $(LEGACY_STAMP)

install-legacy-mujoco: $(LEGACY_STAMP) ## a second venv (.venv-legacy-mujoco) with mujoco<3, for env=pusher_v4

test-legacy-mujoco: $(LEGACY_STAMP) ## the Pusher-v4 tests, in .venv-legacy-mujoco
	$(LEGACY_VENV)/bin/python -m pytest -q -m legacy_mujoco

train: $(STAMP) ## train the default (REINFORCE on CartPole-v1); extra overrides: make train ARGS="seed=1"
	$(VENV)/bin/rl-train $(ARGS)

test: $(STAMP) ## run the test suite CI runs (slow-marked real runs included)
	$(PY) -m pytest -q $(ARGS)

test-full: $(STAMP) ## the suite plus the long learning checks (marked full)
	$(PY) -m pytest -q --full $(ARGS)

lint: $(STAMP) ## static checks (ruff)
	$(PY) -m ruff check rl_runner hydra_plugins tests benchmarks

# a new sweep dir each time: a grid never writes into an earlier sweep's
SWEEP_STAMP := $(shell date +%Y-%m-%d_%H-%M-%S)
SWEEP_DIR ?= outputs/multirun/example-grid_$(SWEEP_STAMP)
sweep: $(STAMP) ## example grid: 2 learning rates x 2 seeds, 2 jobs at a time, then rl-report
	$(VENV)/bin/rl-train -m hydra/launcher=local_parallel algo.lr=0.001,0.003 seed=0,1 \
	  total_env_steps=30000 hydra.sweep.dir=$(SWEEP_DIR)
	$(VENV)/bin/rl-report $(SWEEP_DIR)

tensorboard: $(STAMP) ## TensorBoard over outputs/, on localhost only
	$(VENV)/bin/tensorboard --logdir outputs --host 127.0.0.1 --port 6006

bench: $(STAMP) ## run benchmarks/ and write benchmarks/RESULTS.md (takes minutes; run on an idle machine)
	$(PY) -m benchmarks.run $(ARGS)

bench-learning: $(STAMP) ## the Pusher-v5 presets (DDPG, TD3) to 300k env steps, 3 seeds, 2 runs at a time (hours on a CPU; resumable)
	$(PY) -m benchmarks.bench_ddpg_learning pusher $(ARGS)

bench-suite: $(STAMP) ## algo=td3's defaults on 5 MuJoCo envs to 300k env steps, 3 seeds, 2 at a time (5-8 h on a CPU; resumable)
	$(PY) -m benchmarks.bench_ddpg_learning suite $(ARGS)

clean: ## remove outputs/, caches and the venv
	rm -rf outputs multirun .pytest_cache build *.egg-info $(VENV) $(LEGACY_VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
