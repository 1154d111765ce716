# make train: train the default network on MNIST.  make test: the fast tests.  make test-all: every test.
# make lint: ruff's linter and formatter check (make format applies them).
# Both create .venv and (re)install into it when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test test-all lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,dashboard,notebook,tensorboard,mlflow]'  # hatchling's editable install: this folder on the path, where Hydra finds our plugins
	touch $(STAMP)

train: $(STAMP)
	$(PY) -m experiments.train $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) -m benchmarks.bench $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
