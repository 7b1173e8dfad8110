# Everything runs from a virtualenv in .venv, made on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	touch $(STAMP)

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

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
