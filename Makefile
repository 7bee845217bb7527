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

.PHONY: run serve test lint format install lock clean

# The venv holds exactly what a lock file pins, checked against its hashes: requirements-dev.lock
# (the app, the tests and the tools; the default) or requirements.lock (the app alone, for a
# production host: `make serve LOCK=requirements.lock`). `make lock` writes both from
# pyproject.toml. The stamp names the lock it was installed from; a venv installed from the
# other one, or from an older lock or pyproject.toml, is made again from scratch.
LOCK ?= requirements-dev.lock
ifneq ($(wildcard $(VENV)/.installed),)
ifneq ($(shell cat $(VENV)/.installed),$(LOCK))
.PHONY: $(VENV)/.installed
endif
endif

$(VENV)/.installed: pyproject.toml $(LOCK)
	@test -n "$(PYTHON)" || { echo "Trackly needs Python 3.12 or newer; none of python3.13, python3.12, python3 is." >&2; exit 1; }
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --editable .
	@echo $(LOCK) > $@

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

# Production: gunicorn (gunicorn.conf.py) with DEBUG off and the task worker beside it, started
# again whenever it stops, as `make run` does. Settings come from the environment alone (.env is
# for development): SECRET_KEY and ALLOWED_HOSTS at least, DATABASE_URL for PostgreSQL; one line
# says what is missing. WEB_CONCURRENCY sets the number of web workers (2 per CPU + 1 by
# default); `kill -HUP $$(cat var/gunicorn.pid)` reloads them gracefully. README: Production.
serve: $(VENV)/.installed
	@DEBUG=false $(PY) -m trackly.production
	DEBUG=false $(PY) manage.py migrate --noinput
	DEBUG=false $(PY) manage.py createcachetable
	DEBUG=false $(PY) manage.py collectstatic --noinput --verbosity 0
	@mkdir -p var
	@trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	DEBUG=false bin/keep-running $(PY) manage.py db_worker & worker=$$!; \
	DEBUG=false BIND=$${BIND:-$(HOST):$(PORT)} GUNICORN_PID_FILE=$${GUNICORN_PID_FILE:-var/gunicorn.pid} \
	  $(PY) -m gunicorn --config gunicorn.conf.py

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

# `make lock` writes requirements.lock (the dependencies of pyproject.toml) and
# requirements-dev.lock (those and the dev group, at the same versions) with exact versions and
# the hashes of every file the index has for them, for any platform on Python 3.12 or newer.
# Pins still allowed by pyproject.toml are kept: `make lock LOCK_ARGS=--upgrade` moves every
# package to its newest allowed version, `LOCK_ARGS="--upgrade-package django"` one of them.
LOCK_ARGS ?=
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.12 \
	--generate-hashes --custom-compile-command "make lock" --quiet $(LOCK_ARGS)
lock: $(VENV)/.installed
	@mkdir -p var && cp -p requirements.lock requirements-dev.lock var/
	$(UV_COMPILE) -o requirements.lock
	$(UV_COMPILE) --group dev -c requirements.lock -o requirements-dev.lock
	@# A lock that came out the same keeps its time, so the venv is not made again for nothing.
	@for f in requirements.lock requirements-dev.lock; do \
	  if cmp -s $$f var/$$f; then touch -r var/$$f $$f; echo "$$f: unchanged"; else echo "$$f: updated"; fi; \
	  rm -f var/$$f; \
	done

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
