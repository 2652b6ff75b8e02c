# needsbot — `make run` sets everything up and starts the bot; `make test` checks everything.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
# Rasa 3.6 needs Python 3.10 (or 3.8, 3.9): the newest 3.10 that pyenv holds, else a working python3.10.
PYTHON310 ?= $(shell for candidate in $$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.10.*/bin/python 2>/dev/null | sort -V -r) python3.10; do \
	$$candidate -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo $$candidate; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
RASA_VENV := .venv-rasa

.PHONY: run test install dev rasa-env rasa lint typecheck pytest clean

run: install
	$(BIN)/needsbot db upgrade
	$(BIN)/needsbot demo load
	$(BIN)/needsbot nlu train
	$(BIN)/needsbot run

test: dev rasa-env lint typecheck pytest

# The Rasa NLU server: its own environment, the model trained from nlu/rasa, served on 127.0.0.1:5005.
rasa: install rasa-env
	$(BIN)/needsbot nlu train --backend rasa
	$(BIN)/needsbot nlu serve --port 5005

rasa-env: $(RASA_VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "needsbot needs Python 3.11 or newer; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(RASA_VENV)/.installed: nlu/rasa/requirements.txt
	@test -n "$(PYTHON310)" || { echo "the Rasa server needs Python 3.10; set PYTHON310=/path/to/python3.10"; exit 1; }
	$(PYTHON310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RASA_VENV)/bin/python -m pip install --quiet -r nlu/rasa/requirements.txt
	@touch $@

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: dev
	$(BIN)/mypy

pytest: dev
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(RASA_VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info nlu/rasa/models nlu/rasa/.rasa
