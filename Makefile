# Two commands on a fresh machine with python3:  make demo  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# make demo PORT=8001 (or PORT=8001 make demo) when 8000 is taken.
PORT   ?= 8000
LOWEST := .venv-lowest

# make test runs every pass, in this order, even after one fails; then it fails if any did.
PASSES := typecheck test-sqlite test-postgres test-mariadb test-lowest test-e2e

.PHONY: demo screenshots test typecheck test-sqlite test-postgres test-mariadb test-lowest test-e2e system-deps bench bench-core bench-memory bench-channels bench-preferences bench-brokers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs only the package and the example site's two extras (the "demo" extra): no compilers,
# no dev toolchain.
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

# The dev toolchain builds mysqlclient from source: system-deps brings its headers first.
$(VENV)/.installed: pyproject.toml | $(BIN)/python system-deps
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

## demo: the example site on SQLite with demo users and data, at http://127.0.0.1:$(PORT) (default 8000)
demo: $(VENV)/.installed-demo
	cd example_site && ../$(BIN)/python manage.py migrate --noinput -v0
	cd example_site && ../$(BIN)/python manage.py seed_demo
	@# The delivery worker (e-mails print in this terminal) runs beside the server; Ctrl-C stops both.
	cd example_site && export INBOX_SITE_URL=http://127.0.0.1:$(PORT); \
		../$(BIN)/python manage.py db_worker --interval 1 & worker=$$!; \
		trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
		../$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## screenshots: regenerate the screenshots in docs/ (and the README's) from the example site in Chromium
screenshots: system-deps $(VENV)/.installed
	$(BIN)/python -m e2e.screenshots

## test: mypy, then the suite on SQLite, on a throwaway PostgreSQL, on a throwaway MariaDB, on the
## lowest declared dependency versions, then end to end in Chromium; a summary with each pass's time
test: system-deps $(VENV)/.installed
	@failed=""; summary=""; \
	for pass in $(PASSES); do \
		echo "=== make $$pass"; start=$$(date +%s); \
		if $(MAKE) --no-print-directory $$pass; then status=ok; else status=FAILED; failed="$$failed $$pass"; fi; \
		summary="$$summary$$(printf '\n  %-14s %-7s %5ss' $$pass $$status $$(( $$(date +%s) - start )))"; \
	done; \
	echo "=== make test:$$summary"; \
	if [ -n "$$failed" ]; then echo "make test FAILED:$$failed" >&2; exit 1; fi

## typecheck: mypy over inbox/ with django-stubs (the package ships py.typed)
typecheck: $(VENV)/.installed
	$(BIN)/mypy

test-sqlite: $(VENV)/.installed
	$(BIN)/pytest

test-postgres: $(VENV)/.installed
	$(BIN)/python -m tests.services postgres -- $(BIN)/pytest

test-mariadb: $(VENV)/.installed
	$(BIN)/python -m tests.services mariadb -- $(BIN)/pytest

## test-lowest: the suite on SQLite with every dependency at the floor pyproject declares (own venv)
$(LOWEST)/.installed: pyproject.toml tests/lowest.py | system-deps
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python tests/lowest.py redis drf > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/python -m pip install --quiet -c $(LOWEST)/constraints.txt -e ".[test,redis,drf]"
	touch $@

test-lowest: $(LOWEST)/.installed
	@echo "Lowest declared versions:"; sed 's/^/  /' $(LOWEST)/constraints.txt
	$(LOWEST)/bin/pytest

test-e2e: $(VENV)/.installed
	$(BIN)/pytest e2e

## system-deps: apt-get the Debian packages the suite needs, only when something is missing
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/sbin/mariadbd ] || missing="$$missing mariadb-server"; \
	[ -d /usr/share/zoneinfo ] || missing="$$missing tzdata"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	command -v cc >/dev/null 2>&1 || missing="$$missing gcc"; \
	pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists libmariadb 2>/dev/null \
		|| missing="$$missing default-libmysqlclient-dev"; \
	$(PYTHON) -c 'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' 2>/dev/null \
		|| missing="$$missing python3-dev"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

## bench: our kit side by side with the peers (send -> badge in Chromium included), then the Redis and
## PostgreSQL brokers side by side, in one run (about 13 min); writes their sections of BENCHMARKS.md
bench: system-deps $(VENV)/.installed
	$(BIN)/python -m bench.peers.run --write BENCHMARKS.md
	$(BIN)/python -m bench.brokers --write BENCHMARKS.md

## bench-core: the core, the inbox pages on 1,000,000 rows, and live updates (about 12 min)
bench-core: system-deps $(VENV)/.installed
	$(BIN)/python -m bench.core --write BENCHMARKS.md

## bench-memory: what one broadcast allocates, 10,000 to 200,000 recipients (about 1 min)
bench-memory: $(VENV)/.installed
	$(BIN)/python -m bench.memory --write BENCHMARKS.md

## bench-preferences: send() to 10,000 with preferences, mutes and groups on vs off, SQLite and PostgreSQL (about 2 min)
bench-preferences: system-deps $(VENV)/.installed
	$(BIN)/python -m bench.preferences --write BENCHMARKS.md

## bench-brokers: delivery p50/p99 and a 1,000-subscriber broadcast, Redis vs PostgreSQL (about 10 s)
bench-brokers: system-deps $(VENV)/.installed
	$(BIN)/python -m bench.brokers --write BENCHMARKS.md

## bench-channels: e-mail through channels vs none, one db_worker into a real SMTP server, django-notifs beside (about 4 min)
bench-channels: $(VENV)/.installed
	$(BIN)/python -m bench.channels --write BENCHMARKS.md

clean:
	rm -rf $(VENV) $(LOWEST) bench/.venv-notifs example_site/db.sqlite3 .pytest_cache .mypy_cache
