# Two commands do all the set-up on a fresh machine (Python 3.11, Node 20):
#   make demo   - installs the app into .venv and syncs the example district into the local tenant
#   make test   - installs the dev tools, Azurite and the infra checkers, then runs every test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INFRA_VENV := .venv-infra

.PHONY: demo test lint install install-dev

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.bin/azurite: package.json
	npm install --no-audit --no-fund --silent
	touch $@

$(INFRA_VENV)/.installed: requirements-infra.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INFRA_VENV)/bin/python -m pip install --quiet -r requirements-infra.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev node_modules/.bin/azurite $(INFRA_VENV)/.installed

demo: $(VENV)/.runtime
	$(PY) -m sync run examples/district --profile examples/profile.toml

test: install-dev
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check sync tests bench function_app.py
	$(VENV)/bin/mypy
