# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make run    install into .venv, index data/samples, serve the portal
#   make test   install into .venv (with test extras) and run the tests and ruff
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
INDEX  ?= data/index

.PHONY: install run test bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/indexer --index $(INDEX) add data/samples
	@echo "对照 portal: 打开 http://$${DUIZHAO_BIND:-127.0.0.1:8000}/  (Ctrl-C 停止)"
	DUIZHAO_INDEX=$(INDEX) $(BIN)/gunicorn -c gunicorn.conf.py 'portal:create_app()'

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(INDEX) .pytest_cache .ruff_cache
