# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make run    install into .venv, index data/samples, serve the portal
#   make test   install into .venv with the test extras, run ruff and the tests
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
INDEX  ?= data/index

.PHONY: install run test bench clean fonts

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Running needs only the package and its dependencies; the tests add their extras (pytest, selenium…).
$(VENV)/.installed: pyproject.toml setup.py | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,spark]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/indexer --index $(INDEX) add data/samples
	DUIZHAO_INDEX=$(INDEX) $(BIN)/portal

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/pytest

# PDF reports need Pango and a Chinese font (Debian; run as root, or with sudo).
fonts:
	fc-list | grep -qi "WenQuanYi Micro Hei" || (apt-get update && apt-get install -y fonts-wqy-microhei libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig)

clean:
	rm -rf $(VENV) $(INDEX) .pytest_cache .ruff_cache
