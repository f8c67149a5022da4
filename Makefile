# Reps: `make run` sets everything up and serves the demo; `make test` sets
# everything up and runs the whole test suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/reps
export REDIS_URL ?= redis://127.0.0.1:6379/0
# The tests use their own Redis database, which they empty.
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run serve test fuzz bench setup venv services migrate demo check

run: setup demo
	$(PY) manage.py runserver 127.0.0.1:8000

# Production settings under gunicorn (gunicorn.conf.py). Set SECRET_KEY and
# ALLOWED_HOSTS for a real deployment; by default a key is kept in .data/ and
# HTTPS redirects are off so that it also answers on plain http locally.
serve: setup
	@mkdir -p .data && [ -s .data/secret_key ] || $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > .data/secret_key
	export REPS_ENV=production SECRET_KEY=$${SECRET_KEY:-$$(cat .data/secret_key)} \
	  ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost} SECURE_SSL_REDIRECT=$${SECURE_SSL_REDIRECT:-0} && \
	$(PY) manage.py collectstatic --noinput -v0 && \
	exec $(VENV)/bin/gunicorn --config gunicorn.conf.py

test: venv services
	$(PY) manage.py makemigrations --check --dry-run
	REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest

# The schema-driven fuzzer (schemathesis) against every operation; FUZZ_EXAMPLES per operation.
fuzz: venv services
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest fuzz -q

# Benchmarks run in a database and a Redis database of their own.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/reps_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14

bench: venv services
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) scripts/services.sh
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(PY) manage.py migrate --noinput -v0
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(PY) manage.py generate_data --if-missing $(GENERATE_ARGS)
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(PY) manage.py bench $(BENCH_ARGS)

setup: venv services migrate

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt scripts/make-venv.sh
	scripts/make-venv.sh
	touch $@

services:
	scripts/services.sh

migrate: venv services
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo

check: venv
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
