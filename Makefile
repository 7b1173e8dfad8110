# Everything runs from a virtualenv in .venv, made on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOX_STAMP := $(VENV)/.tox-installed
BENCH_STAMP := $(VENV)/.bench-installed
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

# pyenv's shims run only its active versions; this adds the others so tox
# can find every Python of the matrix.
WITH_PYTHONS := PYENV_VERSION="$$(sh .ci/pyenv-versions)"

.PHONY: test demo lint type tox build wheel-check bench format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[test,dev]'
	touch $(STAMP)

$(TOX_STAMP): $(STAMP)
	$(PIP) 'tox>=4.22'
	touch $(TOX_STAMP)

## make test: the whole suite (SQLite; PostgreSQL too when DATABASE_URL is set)
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## make demo: delete users in the example site and watch Distinct erase them
demo: $(STAMP)
	$(BIN)/python example_project/demo.py

## make lint: ruff, and a check that no model change lacks its migration
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python -m django makemigrations --check --dry-run

## make type: mypy --strict on django_distinct, with the Django and DRF stubs
type: $(TOX_STAMP)
	$(BIN)/tox -e type

## make tox: the version matrix for the Pythons you have (TOX_ARGS="-e ENV")
tox: $(TOX_STAMP)
	$(WITH_PYTHONS) $(BIN)/tox $(TOX_ARGS)

## make build: the sdist and the wheel in dist/, checked by twine
build: $(TOX_STAMP)
	$(BIN)/tox -e readme

## make wheel-check: build, then run the example site on the wheel alone
wheel-check: build
	$(BIN)/python .ci/check_wheel.py dist

$(BENCH_STAMP): $(STAMP)
	$(PIP) -e '.[test,dev,bench]'
	touch $(BENCH_STAMP)

## make bench: the benchmarks at a size that runs in minutes; results/ holds
## the table and the plot (PostgreSQL too when DATABASE_URL is set).
## BENCH_ARGS= runs the full sizes.
BENCH_ARGS ?= --quick
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .tox build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
