# make train: train the default network on MNIST.  make test: the fast tests.  make test-all: every test.
# make lint: ruff's linter and formatter check (make format applies them).
# Each creates .venv and (re)installs into it when it is missing or pyproject.toml changed:
# `make train` only what a run needs; the tests, lint and bench also the optional extras
# (trackers, dashboard, notebook, Hydra's joblib launcher, PostgreSQL's client: about 1 GB), on their first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := $(VENV)/.extras

.PHONY: train test test-all lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "installing what a run needs into $(VENV) (a minute or two the first time)"
	$(PY) -m pip install --progress-bar on -e .  # hatchling's editable install: this folder on the path, where Hydra finds our plugins
	touch $(STAMP)

$(EXTRAS): $(STAMP)
	@echo "installing the tests' tools and the optional extras into $(VENV) (about 1 GB the first time)"
	$(PY) -m pip install --progress-bar on -e '.[dev,dashboard,notebook,tensorboard,mlflow,joblib,postgresql]'
	touch $(EXTRAS)

train: $(STAMP)
	$(PY) -m experiments.train $(ARGS)

test: $(EXTRAS)  # one test process per core (at most 4: each test may start a run of its own)
	$(PY) -m pytest -q -m "not slow" -n auto --maxprocesses 4 $(ARGS)

test-all: $(EXTRAS)
	$(PY) -m pytest -q $(ARGS)

lint: $(EXTRAS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(EXTRAS)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(EXTRAS)
	$(PY) -m benchmarks.bench $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
