# Trackly: `make run` serves the app with demo data; `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# The first interpreter that is Python 3.12 or newer.
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then echo $$p; break; fi; done)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format install clean

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Trackly needs Python 3.12 or newer; none of python3.13, python3.12, python3 is." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet --editable . --group dev
	@touch $@

install: $(VENV)/.installed

# The development settings that `python manage.py ...` reads in another shell (see README).
.env:
	@printf '# Development settings, read by manage.py (written by make run; not committed).\nDEBUG=true\n' > $@
	@echo "Wrote .env (DEBUG=true): python manage.py ... now runs with development settings."

run: $(VENV)/.installed .env
	@echo "Trackly will serve http://$(HOST):$(PORT)/ (make run PORT=... HOST=... to change it)."
	DEBUG=true $(PY) manage.py migrate --noinput
	DEBUG=true $(PY) manage.py createcachetable
	DEBUG=true $(PY) manage.py collectstatic --noinput --verbosity 0
	DEBUG=true $(PY) manage.py seed_demo --url http://$(HOST):$(PORT)/
	@# The task worker runs beside the web server, started again whenever it stops; Ctrl-C (or
	@# the server exiting) stops both. A job stopped half-way is failed once its lease expires
	@# and can be started again.
	@trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	DEBUG=true bin/keep-running $(PY) manage.py db_worker --no-startup-delay & worker=$$!; \
	DEBUG=true $(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@command -v chromium >/dev/null || echo "NOTE: Chromium is not installed, so the browser tests will be SKIPPED (apt-get install chromium)."
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) staticfiles .hypothesis

# `make bench`: every benchmark at 1M contacts against hand-written SQL on the same data (SQLite;
# `make bench DATABASE_URL=postgres://...` for PostgreSQL). BENCH_SUITES picks some of them:
# counts (audience counts, label dropdowns, member preview; options in BENCH_ARGS, e.g.
# BENCH_ARGS="--rebuild" or "--repeat 9"), bulk (Add / Remove Label) and import (CSV import of
# 1M rows). See bench/README.md.
BENCH_SUITES ?= counts bulk hygiene import
BENCH_ARGS ?=
.PHONY: bench
bench: $(VENV)/.installed
	@for suite in $(BENCH_SUITES); do \
	  case $$suite in \
	    counts) DEBUG=true DATABASE_URL='$(DATABASE_URL)' $(PY) -m bench.run $(BENCH_ARGS) ;; \
	    bulk) DEBUG=true DATABASE_URL='$(DATABASE_URL)' $(PY) -m bench.bulk_bench ;; \
	    hygiene) DEBUG=true DATABASE_URL='$(DATABASE_URL)' $(PY) -m bench.hygiene_bench ;; \
	    import) DATABASE_URL='$(DATABASE_URL)' $(PY) -m bench.import_bench ;; \
	    *) echo "make bench: unknown suite '$$suite' (counts, bulk, hygiene, import)" >&2; exit 2 ;; \
	  esac || exit 1; \
	done
