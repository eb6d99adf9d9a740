# Two commands on a fresh machine with python3:  make demo  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-sqlite test-postgres test-e2e system-deps bench bench-core clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,redis]"
	touch $@

## demo: the example site on SQLite with demo users and data, at http://127.0.0.1:8000
demo: $(VENV)/.installed
	cd example_site && ../$(BIN)/python manage.py migrate --noinput -v0
	cd example_site && ../$(BIN)/python manage.py seed_demo
	cd example_site && ../$(BIN)/python manage.py runserver 127.0.0.1:8000

## test: everything: on SQLite, on a throwaway PostgreSQL, then end to end in Chromium
test: system-deps $(VENV)/.installed
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres
	$(MAKE) --no-print-directory test-e2e

test-sqlite: $(VENV)/.installed
	$(BIN)/pytest

test-postgres: $(VENV)/.installed
	$(BIN)/python -m tests.services postgres -- $(BIN)/pytest

test-e2e: $(VENV)/.installed
	$(BIN)/pytest e2e

## system-deps: apt-get the Debian packages the suite needs, only when something is missing
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

## bench: our kit side by side with the peers, in one run (about 11 min); writes its section of BENCHMARKS.md
bench: system-deps $(VENV)/.installed
	$(BIN)/python -m bench.peers.run --write BENCHMARKS.md

## bench-core: the core, the inbox pages on 1,000,000 rows, and live updates (about 12 min)
bench-core: system-deps $(VENV)/.installed
	$(BIN)/python -m bench.core --write BENCHMARKS.md

clean:
	rm -rf $(VENV) example_site/db.sqlite3 .pytest_cache
