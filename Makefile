# websessions: two commands for a fresh machine — `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test system-deps venv jars lint unit integration bench stack-up stack-down clean

## make demo: system packages, virtualenv, pinned jars, the local stack, then the whole story:
## traffic -> speed layer + lander -> web_sessions_nightly through Airflow -> reconcile -> domain report.
demo: system-deps venv jars
	$(BIN)/websessions stack up
	$(BIN)/websessions stack check
	$(BIN)/websessions demo
	$(BIN)/websessions stack status

## make test: the whole suite (unit, vectors, DAGs, integration against the real local stack).
test: system-deps venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v $(PYTHON) >/dev/null || missing="$$missing python3.11 python3.11-venv"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v tmux >/dev/null || missing="$$missing tmux"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing system packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## Resolve every pinned jar set once (later runs are offline).
jars: venv
	$(BIN)/websessions stack fetch

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

unit: venv
	$(BIN)/pytest -q tests/unit tests/dags

integration: venv
	$(BIN)/pytest -q tests/integration

stack-up: venv
	$(BIN)/websessions stack up

stack-down: venv
	$(BIN)/websessions stack down

clean:
	-$(BIN)/websessions stack down --wipe
	rm -rf $(VENV)
