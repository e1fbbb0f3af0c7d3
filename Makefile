# The two commands: `make run` and `make test`. Everything else is a step they use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5000
STRIPE_DOUBLE_PORT ?= 12111
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=
# pytest-xdist workers for the SQLite and PostgreSQL runs (`auto` = one per CPU; 0 runs in one process).
PYTEST_WORKERS ?= auto

.PHONY: run test install lock translations translations-extract lint typecheck test-sqlite test-postgres test-browser wheel-smoke browser-deps cluster-deps font-deps postgres clean

# Installs the pinned versions in requirements.lock (reproducible), then the project itself without resolving again.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

## make lock: re-pin requirements.lock from pyproject.toml's ranges (after changing a dependency).
lock: install
	$(VENV)/bin/pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock

## Compiled gettext catalogs (membership/translations/*/LC_MESSAGES/messages.mo), rebuilt when a .po changes.
translations: install
	FLASK_APP=membership $(VENV)/bin/flask translate compile

## make translations-extract: collect marked strings into messages.pot and update every language's catalog.
translations-extract: install
	FLASK_APP=membership $(VENV)/bin/flask translate extract
	FLASK_APP=membership $(VENV)/bin/flask translate update

## make run: migrate, seed demo data, start the Stripe double and the app together (Ctrl-C stops both).
run: install translations font-deps
	PORT=$(PORT) STRIPE_DOUBLE_PORT=$(STRIPE_DOUBLE_PORT) $(PY) -m scripts.dev

## make test: every check, on SQLite and PostgreSQL, plus the browser tests. The browser tests and the wheel smoke
## test run side by side (each waits on a browser, a server or pip much of the time); their output is kept apart.
test: install translations browser-deps cluster-deps font-deps postgres lint typecheck test-sqlite test-postgres
	$(MAKE) --no-print-directory -j2 --output-sync=target test-browser wheel-smoke

lint: install
	$(VENV)/bin/ruff check membership stripe_double tests bench scripts migrations/env.py
	FLASK_APP=membership $(VENV)/bin/flask translate check

typecheck: install
	$(VENV)/bin/mypy

test-sqlite: install
	TEST_DATABASE_URL= $(VENV)/bin/pytest -q -n $(PYTEST_WORKERS) -m "not browser" --ignore=tests/browser $(PYTEST_ARGS)

test-postgres: install postgres cluster-deps
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(VENV)/bin/pytest -q -n $(PYTEST_WORKERS) -m "not browser" \
		--ignore=tests/browser --ignore=tests/stripe_double $(PYTEST_ARGS)

test-browser: install browser-deps
	TEST_DATABASE_URL= CHROMIUM=$(CHROMIUM) $(VENV)/bin/pytest -q tests/browser $(PYTEST_ARGS)

## make wheel-smoke: build the wheel, install it alone in a fresh virtualenv outside the checkout, migrate SQLite and
## PostgreSQL with it and serve every page, /healthz, /readyz and /metrics from gunicorn (scripts/wheel_smoke.py).
wheel-smoke: install translations postgres
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m scripts.wheel_smoke

## Debian's Chromium for the browser tests (never `playwright install`, which downloads a browser).
browser-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "Chromium is missing: run 'sudo apt-get install chromium' (browser tests need $(CHROMIUM))." >&2; exit 1; \
		fi; \
	fi

## Debian's HAProxy for the multi-host test (tests/test_cluster.py runs bench/cluster.py behind it).
cluster-deps:
	@if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
		else \
			echo "HAProxy is missing: run 'sudo apt-get install haproxy' (the multi-host test needs it)." >&2; exit 1; \
		fi; \
	fi

## Debian's DejaVu fonts: the yearly statement PDF is written in DejaVu Sans (Cyrillic, ₴). STATEMENT_FONT_PATH
## points elsewhere if needed.
STATEMENT_FONT ?= /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
font-deps:
	@if [ ! -f $(STATEMENT_FONT) ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core >/dev/null; \
		else \
			echo "DejaVu Sans is missing: run 'sudo apt-get install fonts-dejavu-core' (statement PDFs need $(STATEMENT_FONT))." >&2; exit 1; \
		fi; \
	fi

## PostgreSQL must answer at TEST_DATABASE_URL; start the local cluster if it is installed but stopped.
postgres:
	@if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start || true; \
		sleep 2; \
	fi
	@pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not reachable at 127.0.0.1:5432 (TEST_DATABASE_URL=$(TEST_DATABASE_URL))." >&2; exit 1; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
