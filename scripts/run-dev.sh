#!/usr/bin/env bash
# make run's last step: the job engine's worker, with beat in it (development only: one process), beside the
# development server; both stop when the server does (Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .data
.venv/bin/celery -A reps worker --beat --loglevel=INFO --concurrency=2 > .data/worker.log 2>&1 &
worker=$!
trap 'kill -TERM "$worker" 2>/dev/null; wait "$worker" 2>/dev/null || true' EXIT
echo "Worker and beat started (calls are dispatched every ${DISPATCH_CALLS_EVERY_SECONDS:-60} s); their log, with the"\
     "notifications' emails and texts (printed, not sent): .data/worker.log"
.venv/bin/python manage.py runserver 127.0.0.1:8000
