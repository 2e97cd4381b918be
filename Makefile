# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make run    install into .venv, index data/samples, serve the portal
#   make test   install into .venv with the test extras, run ruff and the tests
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
INDEX  ?= data/index

.PHONY: install run test bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Running needs only the package and its dependencies; the tests add their extras (pytest, selenium…).
$(VENV)/.installed: pyproject.toml setup.py | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/indexer --index $(INDEX) add data/samples
	DUIZHAO_INDEX=$(INDEX) $(BIN)/portal

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(INDEX) .pytest_cache .ruff_cache
