# Reps: `make run` sets everything up and serves the demo; `make test` sets
# everything up and runs the whole test suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

# The application logs in as reps_app, which row-level security applies to;
# migrations, seeding and the platform admin use the platform login, which
# may bypass it (README "Tenancy in the database").
export DATABASE_URL ?= postgres://reps_app@127.0.0.1:5432/reps
export DATABASE_PLATFORM_URL ?= postgres://postgres@127.0.0.1:5432/reps
export REDIS_URL ?= redis://127.0.0.1:6379/0
# The job engine's broker: a Redis database of its own, which emptying the cache leaves alone.
export CELERY_BROKER_URL ?= redis://127.0.0.1:6379/1
# The tests use their own Redis databases, which they empty.
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_CELERY_BROKER_URL ?= redis://127.0.0.1:6379/13

# PGBOUNCER_PORT=6432 (make serve, worker, beat, bench): PgBouncer in transaction mode there (scripts/pgbouncer.sh,
# deploy/pgbouncer.ini), started by scripts/services.sh; the server's, the jobs' or the bench's connections go
# through it, with Django's own pool off (README "Behind PgBouncer").
ifdef PGBOUNCER_PORT
THROUGH_PGBOUNCER = DATABASE_URL=$$(scripts/pgbouncer.sh --url "$$DATABASE_URL") \
  DATABASE_PLATFORM_URL=$$(scripts/pgbouncer.sh --url "$$DATABASE_PLATFORM_URL") DB_POOL=0
else
THROUGH_PGBOUNCER = DB_POOL=$${DB_POOL:-1}
endif

.PHONY: run serve worker beat test e2e chromium fuzz bench bench-jobs bench-servers setup venv services migrate demo check

# The development server, and the job engine's worker with beat beside it (scripts/run-dev.sh).
run: setup demo
	scripts/run-dev.sh

# Production settings under gunicorn (gunicorn.conf.py). Set SECRET_KEY and
# ALLOWED_HOSTS for a real deployment; by default a key is kept in .data/ and
# HTTPS redirects are off so that it also answers on plain http locally.
# migrate runs with the SECRET_KEY that serves: it stores the key the database checks gym proofs with.
serve: venv services
	@mkdir -p .data && [ -s .data/secret_key ] || $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > .data/secret_key
	export REPS_ENV=production SECRET_KEY=$${SECRET_KEY:-$$(cat .data/secret_key)} \
	  ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost} SECURE_SSL_REDIRECT=$${SECURE_SSL_REDIRECT:-0} && \
	export $(THROUGH_PGBOUNCER) && \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py collectstatic --noinput -v0 && \
	exec $(VENV)/bin/gunicorn --config gunicorn.conf.py

# The job engine in production, each in a process of its own beside `make serve` (README "Background work"):
# any number of workers, on any number of machines; exactly one beat.
PRODUCTION_ENV = REPS_ENV=production SECRET_KEY=$${SECRET_KEY:-$$(cat .data/secret_key)} \
  ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost}
worker: venv services
	@[ -s .data/secret_key ] || [ -n "$${SECRET_KEY:-}" ] || { echo "Run make serve first (it makes .data/secret_key), or set SECRET_KEY." >&2; exit 1; }
	export $(PRODUCTION_ENV) && export $(THROUGH_PGBOUNCER) && exec $(VENV)/bin/celery -A reps worker --loglevel=INFO

beat: venv services
	@[ -s .data/secret_key ] || [ -n "$${SECRET_KEY:-}" ] || { echo "Run make serve first (it makes .data/secret_key), or set SECRET_KEY." >&2; exit 1; }
	@mkdir -p .data
	export $(PRODUCTION_ENV) && export $(THROUGH_PGBOUNCER) && exec $(VENV)/bin/celery -A reps beat --loglevel=INFO

# The tests log in with the platform login (creating the test database needs
# it); every request and job transaction still acts as reps_app. Then the API,
# row-level security and job tests run again through PgBouncer in transaction
# mode, with Django's pool off, as a deployment behind one runs (the outage and
# 50-gym tests start PgBouncers of their own).
TEST_PGBOUNCER_PORT ?= 6433
PGBOUNCER_TESTS = accounts/tests/test_api.py accounts/tests/test_security.py leads/tests/test_api.py \
  calls/tests/test_api.py calls/tests/test_webhooks.py appointments/tests/test_api.py \
  reps/core/tests/test_api_isolation.py reps/core/tests/test_api_queries.py reps/core/tests/test_row_level_security.py \
  reps/core/tests/test_containment.py reps/core/tests/test_scoping.py reps/core/tests/test_urls.py \
  reps/core/tests/test_services_as_application_role.py
test: venv services chromium
	$(PY) manage.py makemigrations --check --dry-run
	DATABASE_URL=$(DATABASE_PLATFORM_URL) DATABASE_PLATFORM_URL= REDIS_URL=$(TEST_REDIS_URL) \
	  CELERY_BROKER_URL=$(TEST_CELERY_BROKER_URL) $(PY) -m pytest
	DATABASE_URL=$(DATABASE_PLATFORM_URL) PGBOUNCER_PORT=$(TEST_PGBOUNCER_PORT) scripts/pgbouncer.sh
	DATABASE_URL=$$(PGBOUNCER_PORT=$(TEST_PGBOUNCER_PORT) scripts/pgbouncer.sh --url $(DATABASE_PLATFORM_URL)) DB_POOL=0 \
	  DATABASE_PLATFORM_URL= REDIS_URL=$(TEST_REDIS_URL) CELERY_BROKER_URL=$(TEST_CELERY_BROKER_URL) \
	  $(PY) -m pytest $(PGBOUNCER_TESTS)

# The long browser tour of the workspace: every page, as every role (make test runs the short flow).
e2e: venv services chromium
	DATABASE_URL=$(DATABASE_PLATFORM_URL) DATABASE_PLATFORM_URL= REDIS_URL=$(TEST_REDIS_URL) \
	  CELERY_BROKER_URL=$(TEST_CELERY_BROKER_URL) $(PY) -m pytest -m e2e workspace/tests/e2e

# Debian's Chromium for the browser tests, installed when missing (as root).
chromium:
	scripts/chromium.sh

# The schema-driven fuzzer (schemathesis) against every operation; FUZZ_EXAMPLES per operation.
fuzz: venv services
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} DATABASE_URL=$(DATABASE_PLATFORM_URL) DATABASE_PLATFORM_URL= \
	  REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest fuzz -q

# Benchmarks run in a database and a Redis database of their own.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/reps_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14

BENCH_CELERY_BROKER_URL ?= redis://127.0.0.1:6379/12

BENCH_ENV = DATABASE_URL=$(BENCH_DATABASE_URL) DATABASE_PLATFORM_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) \
  CELERY_BROKER_URL=$(BENCH_CELERY_BROKER_URL)

bench: venv services
	$(BENCH_ENV) scripts/services.sh
	$(BENCH_ENV) $(PY) manage.py migrate --noinput -v0
	$(BENCH_ENV) $(PY) manage.py generate_data --if-missing $(GENERATE_ARGS)
	export $(BENCH_ENV) && export $(THROUGH_PGBOUNCER) && $(PY) manage.py bench $(BENCH_ARGS)

# The job engine: dispatch throughput with 1 and 4 worker processes, and the notifications' lag (about 3 minutes).
bench-jobs: venv services
	$(BENCH_ENV) scripts/services.sh
	$(BENCH_ENV) $(PY) manage.py migrate --noinput -v0
	$(BENCH_ENV) $(PY) manage.py bench_jobs $(BENCH_JOBS_ARGS)

# Throughput with 1 and 2 app servers (one gunicorn process each), direct and through PgBouncer, under wrk: the
# lead list and the stats of the largest generated gym (make bench generates it), 20 s each (about 4 minutes).
bench-servers: venv services
	$(BENCH_ENV) scripts/services.sh
	$(BENCH_ENV) $(PY) manage.py migrate --noinput -v0
	$(BENCH_ENV) $(PY) manage.py bench_servers $(BENCH_SERVERS_ARGS)

setup: venv services migrate

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt scripts/make-venv.sh
	scripts/make-venv.sh
	touch $@

services:
	DATABASE_URL=$(DATABASE_PLATFORM_URL) scripts/services.sh

migrate: venv services
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo

# Lint, types, the import layering (pyproject.toml), Django's system checks, and no migration missing.
check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
