# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv demo test lint typecheck airflow-venv airflow-up airflow-down bench clean

help:
	@echo "make demo       set up .venv and run the demo on the real flight data (no API key needed)"
	@echo "make test       set up .venv and the Airflow environment, then run the whole test suite"
	@echo "make lint       ruff on the code"
	@echo "make typecheck  mypy on the code"
	@echo "make bench      run the drift, API and decision benchmarks under bench/ (20 to 30 min on 2 cores)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,demo,dashboard]"
	# The census source reads only the data files inside the nannyml wheel and never imports
	# nannyml, so its 25 direct dependencies are not installed.
	$(BIN)/pip install --quiet --no-deps nannyml==0.13.1
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/watchtower demo

airflow-venv:
	bash scripts/airflow.sh install

test: venv airflow-venv
	bash scripts/run_tests.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy agent api drift training evaluation data watchtower

airflow-up: airflow-venv
	bash scripts/airflow.sh start

airflow-down:
	bash scripts/airflow.sh stop

bench: venv
	$(BIN)/python bench/drift_bench.py
	$(BIN)/python bench/api_bench.py --clients 50 --rows 1000
	$(BIN)/python bench/decisions/run.py

clean:
	rm -rf $(VENV) .airflow-venv .airflow-home build *.egg-info
