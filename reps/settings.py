"""Settings for Reps, read from the environment.

Two modes, chosen by REPS_ENV:
- development (default): DEBUG on, a fixed insecure SECRET_KEY, local hosts.
- production: DEBUG off, SECRET_KEY and ALLOWED_HOSTS required, HTTPS-only
  cookies and HSTS, so that `manage.py check --deploy` is clean.
"""

import datetime
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def env_list(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


REPS_ENV = os.environ.get("REPS_ENV", "development")
if REPS_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"REPS_ENV must be 'development' or 'production', got {REPS_ENV!r}")
PRODUCTION = REPS_ENV == "production"

DEBUG = env_bool("DEBUG", not PRODUCTION)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when REPS_ENV=production")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when REPS_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "reps.core.apps.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",  # no longer used (accounts.ApiToken); its migrations are part of the history
    "knox",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "reps.core",
    "gyms",
    "accounts",
    "leads",
    "calls",
    "appointments",
    "notifications",
    # The gym workspace: the admin site of a gym's own staff (/workspace/).
    "workspace",
]

MIDDLEWARE = [
    # First: a request id and timing for everything below, errors included.
    "reps.core.observability.RequestMiddleware",
    # /admin/ works through the platform database login (DATABASE_PLATFORM_URL).
    "reps.tenancy.admin.PlatformAdminMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "reps.core.security.ContentSecurityPolicyMiddleware",
    # Serves static files (admin, browsable API, API docs) from the app itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Answers a sign-in whose account or address is locked out (django-axes), on every way in.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "reps.urls"
WSGI_APPLICATION = "reps.wsgi.application"
ASGI_APPLICATION = "reps.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# DATABASE_URL is the application's login: the role DATABASE_APP_ROLE
# (reps_app), which owns nothing and is subject to row-level security.
# DATABASE_PLATFORM_URL is a login that may bypass it (the tables' owner or a
# superuser): migrations run with it (make migrate) and the platform admin
# (/admin/) reads and writes through it. Without it the admin uses
# DATABASE_URL, which is right only when that login may bypass row-level
# security (the test suite's superuser). Whatever the login, each request's
# and job's transaction acts as DATABASE_APP_ROLE (reps.tenancy).
# DB_POOL turns psycopg's connection pool on (the default) or off; turn it
# off behind PgBouncer in transaction mode, which also needs server-side
# cursors off.
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://reps_app@127.0.0.1:5432/reps")
DATABASE_PLATFORM_URL = os.environ.get("DATABASE_PLATFORM_URL", "")
DATABASE_APP_ROLE = os.environ.get("DATABASE_APP_ROLE", "reps_app")
DB_POOL = env_bool("DB_POOL", True)
# A gunicorn worker serves at most WEB_THREADS requests at once, each holding one pooled connection, so by default
# its pool has that many (gunicorn.conf.py sets WEB_THREADS to the threads it runs); more would never be used, and
# every process's connections add up against the database's max_connections (README "Capacity and scaling").
# Elsewhere (a job worker with --pool threads, runserver, the tests' live server) 10, as psycopg's pool had.
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", env_int("WEB_THREADS", 10))
DB_POOL_MIN_SIZE = env_int("DB_POOL_MIN_SIZE", min(2, DB_POOL_MAX_SIZE))
if DB_POOL and not (DB_POOL_MAX_SIZE >= 1 and 0 <= DB_POOL_MIN_SIZE <= DB_POOL_MAX_SIZE):
    raise ImproperlyConfigured(f"DB_POOL_MAX_SIZE must be at least 1 and DB_POOL_MIN_SIZE from 0 to it, got "
                               f"DB_POOL_MAX_SIZE={DB_POOL_MAX_SIZE}, DB_POOL_MIN_SIZE={DB_POOL_MIN_SIZE}")


def database_settings(url):
    database = dj_database_url.parse(url)
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL and DATABASE_PLATFORM_URL must point at PostgreSQL (postgres://...)")
    database["CONN_HEALTH_CHECKS"] = True
    database["OPTIONS"] = {
        "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 5),
        # Parameters travel apart from the SQL: pg_stat_activity shows every session's SQL to every session
        # of the same login, and with the values written in, anyone with reps_app's password would read the
        # tokens, session keys and data of every request there.
        "server_side_binding": True,
        # No named prepared statements: after five runs of one PostgreSQL may plan it once for any gym (a
        # generic plan), which on one big gym's rows made upcoming calls 3x and a lead's detail 1.5x slower
        # in the bench; an unnamed statement is planned for its values each time. (PgBouncer in transaction
        # mode could also mix named ones up.)
        "prepare_threshold": None,
    }
    if DB_POOL:
        # Django hands connections back to the pool after each request, so
        # CONN_MAX_AGE must stay 0 with a pool.
        database["CONN_MAX_AGE"] = 0
        database["OPTIONS"]["pool"] = {
            "min_size": DB_POOL_MIN_SIZE,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env_int("DB_POOL_TIMEOUT", 10),
            "max_lifetime": env_int("DB_POOL_MAX_LIFETIME", 1800),
        }
    else:
        database["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 0)
        database["DISABLE_SERVER_SIDE_CURSORS"] = True
    return database


DATABASES = {"default": database_settings(DATABASE_URL)}
if DATABASE_PLATFORM_URL:
    DATABASES["platform"] = database_settings(DATABASE_PLATFORM_URL)
    DATABASES["platform"]["OPTIONS"].pop("pool", None)  # the admin's few connections need no pool
    DATABASES["platform"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["reps.tenancy.database.PlatformRouter"]
# DATABASE_REPLICA_URL: a streaming replica of that database (scripts/replica.sh makes one), logged in to as
# DATABASE_URL is. Empty (the default): none, and everything reads on the primary. With one, the heavy reads
# (stats, metrics, the dashboard, lists and search) go to it under the same row-level security, unless the
# request has written, the replica lags more than REPLICA_MAX_LAG_SECONDS, or it failed in the last
# REPLICA_RETRY_SECONDS; one that does not answer within REPLICA_CONNECT_TIMEOUT seconds counts as failed
# (reps.tenancy.replica). In tests it mirrors the test database.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
REPLICA_MAX_LAG_SECONDS = env_int("REPLICA_MAX_LAG_SECONDS", 5)
REPLICA_RETRY_SECONDS = env_int("REPLICA_RETRY_SECONDS", 5)
REPLICA_CONNECT_TIMEOUT = env_int("REPLICA_CONNECT_TIMEOUT", 2)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = database_settings(DATABASE_REPLICA_URL)
    DATABASES["replica"]["OPTIONS"]["connect_timeout"] = REPLICA_CONNECT_TIMEOUT
    # A replica cut off mid-read (the network, the machine) fails the read in seconds, not minutes: TCP
    # keepalives on an idle connection, and a bound on data sent but never acknowledged (libpq's options).
    DATABASES["replica"]["OPTIONS"].update(keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
                                           tcp_user_timeout=REPLICA_CONNECT_TIMEOUT * 1000)
    if "pool" in DATABASES["replica"]["OPTIONS"]:
        DATABASES["replica"]["OPTIONS"]["pool"]["timeout"] = REPLICA_CONNECT_TIMEOUT
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS.append("reps.tenancy.replica.ReplicaRouter")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Repositories ----------------------------------------------------------
# The most rows one list() call returns, whatever limit it asks for.
REPOSITORY_MAX_LIMIT = env_int("REPOSITORY_MAX_LIMIT", 500)
# Whether the repository factory hands out caching repositories (by default
# when Redis is configured).
USE_CACHED_REPOSITORIES = env_bool("USE_CACHED_REPOSITORIES", bool(os.environ.get("REDIS_URL")))

# --- Voice platform (Retell) ----------------------------------------------
# The API key signs webhooks and authorizes our calls; a gym may have its own
# (VoiceSettings.platform_api_key).
RETELL_API_KEY = os.environ.get("RETELL_API_KEY", "")
RETELL_API_BASE = os.environ.get("RETELL_API_BASE", "https://api.retellai.com")
# As long as retell-sdk waits for create-phone-call: a call the platform is still placing is no failure.
RETELL_TIMEOUT_SECONDS = env_int("RETELL_TIMEOUT_SECONDS", 120)
RETELL_RETRIES = env_int("RETELL_RETRIES", 3)
# Webhooks signed longer ago than this (or this far ahead) are refused.
RETELL_SIGNATURE_TOLERANCE_SECONDS = env_int("RETELL_SIGNATURE_TOLERANCE_SECONDS", 300)

# --- Cache ----------------------------------------------------------------
# Redis when REDIS_URL is set; a per-process memory cache otherwise.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "reps",
            "OPTIONS": {
                # Short timeouts: a Redis outage must not stall requests.
                "SOCKET_CONNECT_TIMEOUT": 0.25,
                "SOCKET_TIMEOUT": 0.25,
                # Plain data only: nothing is unpickled from Redis.
                "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# After a cache failure, requests skip the cache for this long (no timeouts to wait on).
CACHE_RETRY_SECONDS = env_int("CACHE_RETRY_SECONDS", 5)
# Cache failures are logged at most once per this many seconds.
CACHE_ERROR_LOG_SECONDS = env_int("CACHE_ERROR_LOG_SECONDS", 60)

# --- Background work (Celery) ----------------------------------------------
# The broker is Redis: CELERY_BROKER_URL, else REDIS_URL. Give it a Redis database of its own (the Makefile
# does): emptying the cache's database would drop queued tasks with it. Every task is idempotent and
# acknowledged only once done (a worker that dies mid-task leaves it to another), so a task may run twice
# and must not act twice; what must be delivered is kept in PostgreSQL, not in the broker.
# With neither set, the local Redis's database 1 (as the Makefile), never Celery's own default (AMQP).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "redis://127.0.0.1:6379/1"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# An unacknowledged task is handed out again after this long: longer than any task runs.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600)}
# How often beat starts each periodic task, in seconds.
DISPATCH_CALLS_EVERY_SECONDS = env_int("DISPATCH_CALLS_EVERY_SECONDS", 60)
RECONCILE_CALLS_EVERY_SECONDS = env_int("RECONCILE_CALLS_EVERY_SECONDS", 300)
MARK_NO_SHOWS_EVERY_SECONDS = env_int("MARK_NO_SHOWS_EVERY_SECONDS", 300)
RELAY_OUTBOX_EVERY_SECONDS = env_int("RELAY_OUTBOX_EVERY_SECONDS", 10)
SEND_NOTIFICATIONS_EVERY_SECONDS = env_int("SEND_NOTIFICATIONS_EVERY_SECONDS", 30)
LEAD_IMPORT_SWEEP_SECONDS = env_int("LEAD_IMPORT_SWEEP_SECONDS", 60)
# The outbox relay (reps/core/outbox.py): messages one task delivers; how long a relay holds the messages it
# claimed; the pause after a first failed delivery (doubled each time, at most an hour); attempts in all.
OUTBOX_BATCH_SIZE = env_int("OUTBOX_BATCH_SIZE", 100)
OUTBOX_CLAIM_SECONDS = env_int("OUTBOX_CLAIM_SECONDS", 300)
OUTBOX_RETRY_SECONDS = env_int("OUTBOX_RETRY_SECONDS", 30)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8)
# Calls one dispatch task sends; a gym with more due starts another task for the rest, on any worker.
DISPATCH_BATCH_SIZE = env_int("DISPATCH_BATCH_SIZE", 50)
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-calls": {"task": "calls.dispatch_due_calls", "schedule": DISPATCH_CALLS_EVERY_SECONDS},
    "reconcile-stuck-calls": {"task": "calls.reconcile_stuck_calls", "schedule": RECONCILE_CALLS_EVERY_SECONDS},
    "mark-no-shows": {"task": "appointments.mark_no_shows", "schedule": MARK_NO_SHOWS_EVERY_SECONDS},
    "relay-outbox": {"task": "core.relay_outbox", "schedule": RELAY_OUTBOX_EVERY_SECONDS},
    "send-due-notifications": {"task": "notifications.send_due_notifications",
                               "schedule": SEND_NOTIFICATIONS_EVERY_SECONDS},
    "start-queued-imports": {"task": "leads.start_queued_imports", "schedule": LEAD_IMPORT_SWEEP_SECONDS},
}
# Lead imports as jobs (leads/imports.py, leads/tasks.py): files of more data rows than this answer 202 and are
# imported by a worker; a running job with no progress for this long has lost its worker and is taken over;
# runs before a job is failed; bad lines its stored report names; leads per transaction (its progress step).
LEAD_IMPORT_ASYNC_ROWS = env_int("LEAD_IMPORT_ASYNC_ROWS", 1000)
LEAD_IMPORT_STALE_SECONDS = env_int("LEAD_IMPORT_STALE_SECONDS", 600)
LEAD_IMPORT_MAX_ATTEMPTS = env_int("LEAD_IMPORT_MAX_ATTEMPTS", 3)
LEAD_IMPORT_REPORT_MAX_ERRORS = env_int("LEAD_IMPORT_REPORT_MAX_ERRORS", 1000)
LEAD_IMPORT_BATCH_SIZE = env_int("LEAD_IMPORT_BATCH_SIZE", 500)

# --- Notifications to leads (the notifications app) ---------------------------
# Email through Django's framework: SMTP in production (EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER,
# EMAIL_HOST_PASSWORD, EMAIL_USE_TLS), the console in development; tests use the locmem backend.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_SECONDS", 10)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / ".data" / "mail"))  # the file-based backend
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "notifications@reps.localhost")
# The right-hand side of each notification's Message-ID (<notification id@domain>): the same on a resend.
EMAIL_MESSAGE_ID_DOMAIN = os.environ.get("EMAIL_MESSAGE_ID_DOMAIN", "reps.localhost")
# Text messages (notifications/sms.py): Twilio when its account is set, else the console (it logs them).
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_API_BASE = os.environ.get("TWILIO_API_BASE", "https://api.twilio.com")
SMS_BACKEND = os.environ.get("SMS_BACKEND") or (
    "notifications.sms.TwilioBackend" if TWILIO_ACCOUNT_SID else "notifications.sms.ConsoleBackend")
SMS_TIMEOUT_SECONDS = env_int("SMS_TIMEOUT_SECONDS", 10)
# Texts go from the gym's own number (Gym.phone, which must be a number of the SMS account); else this one.
SMS_FROM_NUMBER = os.environ.get("SMS_FROM_NUMBER", "")
# Notifications one task sends; how long a worker holds the ones it claimed; the pause after a first failed
# attempt (doubled each time, at most an hour); attempts in all before one is failed.
NOTIFICATION_BATCH_SIZE = env_int("NOTIFICATION_BATCH_SIZE", 50)
NOTIFICATION_CLAIM_SECONDS = env_int("NOTIFICATION_CLAIM_SECONDS", 120)
NOTIFICATION_RETRY_SECONDS = env_int("NOTIFICATION_RETRY_SECONDS", 60)
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 6)
CELERY_BEAT_SCHEDULE_FILENAME = os.environ.get("CELERY_BEAT_SCHEDULE_FILENAME",
                                               str(BASE_DIR / ".data" / "celerybeat-schedule"))

# --- Auth -----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a sign-in whose account or address is locked out. Then ours, which finds
# the user's gym first, so that row-level security lets the user be read.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "accounts.authentication.GymUserBackend"]

# Sign-in limits on every way in (API token, browsable API, admin): LOGIN_FAILURE_LIMIT failed attempts
# for one account, or from one address, lock it out for LOGIN_COOLOFF_MINUTES (a 429 with Retry-After).
# The counts live in the cache (Redis), so a request's rollback does not undo them.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The account as logins compare it: "Coach@Example.com" counts against coach@example.com.
AXES_USERNAME_CALLABLE = "accounts.authentication.sign_in_name"
AXES_USERNAME_FORM_FIELD = "username"  # what authenticate() is given, whatever the user model calls it
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "reps.core.security.client_address"
AXES_LOCKOUT_CALLABLE = "reps.core.security.locked_out"
AXES_ENABLE_ADMIN = False  # its admin lists database records; the counts are in the cache
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# The proxies in front of the app whose X-Forwarded-For is believed (comma-separated addresses; gunicorn's
# forwarded_allow_ips reads the same variable). None by default: the connecting address is the client's.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
# Sessions in the database, read one key at a time through functions: the application role cannot list them.
SESSION_ENGINE = "reps.core.sessions"
# After signing in at /api-auth/login/ without ?next=, and after signing out: the API's root.
LOGIN_REDIRECT_URL = "/api/v1/"
LOGOUT_REDIRECT_URL = "/api-auth/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalization -------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------
STATIC_URL = "static/"
# In development and tests WhiteNoise serves straight from the apps; in
# production run `manage.py collectstatic` into STATIC_ROOT first.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or (BASE_DIR / "staticfiles" if PRODUCTION else None)
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- API ------------------------------------------------------------------
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 25)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 100)
# Numbered pages count their rows exactly up to this many (and on the last page); beyond, "at least" (reps.core.pagination).
API_COUNT_LIMIT = env_int("API_COUNT_LIMIT", 10_000)
# The most related ids one request may name (the leads to call, a lead's tags).
API_MAX_IDS = env_int("API_MAX_IDS", 500)
# A request body (not an upload) may be this large; a larger one is a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
# The most rows one import through the API may have (manage.py import_leads takes any number).
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 20_000)
# And it stops after this many seconds (at the end of a batch, well inside gunicorn's WEB_TIMEOUT), saying
# after which line; sending the file again imports the rest.
IMPORT_MAX_SECONDS = env_int("IMPORT_MAX_SECONDS", 20)
# Each statement of a request or job transaction may run this long; a longer one is cancelled (a 503).
STATEMENT_TIMEOUT_MS = env_int("STATEMENT_TIMEOUT_MS", 10_000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["reps.core.permissions.IsGymMember"],
    "DEFAULT_PAGINATION_CLASS": "reps.core.pagination.Pagination",
    # JSON with its nesting bounded (reps.core.parsers), forms, and multipart uploads.
    "DEFAULT_PARSER_CLASSES": [
        "reps.core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "reps.core.filters.FilterBackend",
        "reps.core.filters.StrictOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "reps.core.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "reps.core.renderers.JSONRenderer",
        "reps.core.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# API tokens (accounts.ApiToken, django-rest-knox): hashed, one per device, expiring after
# API_TOKEN_TTL_HOURS; with API_TOKEN_REFRESH each use pushes the expiry on, up to API_TOKEN_MAX_DAYS after
# the sign-in. At most API_TOKENS_PER_USER at once.
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 24 * 7)
KNOX_TOKEN_MODEL = "accounts.ApiToken"
# knox's own migrations create its default token table, which accounts.ApiToken replaces: none of them run.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": datetime.timedelta(hours=API_TOKEN_TTL_HOURS),
    "AUTO_REFRESH": env_bool("API_TOKEN_REFRESH", False),
    "AUTO_REFRESH_MAX_TTL": datetime.timedelta(days=env_int("API_TOKEN_MAX_DAYS", 30)),
    "TOKEN_LIMIT_PER_USER": env_int("API_TOKENS_PER_USER", 20),
    "AUTH_HEADER_PREFIX": "Token",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Reps API",
    "DESCRIPTION": "The dashboard API of Reps: a gym's leads, calls, appointments and settings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from the installed sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "reps.core.schema.add_error_responses",
        "reps.core.schema.strict_request_bodies",
    ],
    "ENUM_NAME_OVERRIDES": {
        "LeadStatusEnum": "leads.models.LeadStatus",
        "CallStatusEnum": "calls.models.CallStatus",
        "CampaignStatusEnum": "calls.models.CampaignStatus",
        "AppointmentStatusEnum": "appointments.models.AppointmentStatus",
        "LeadImportStatusEnum": "leads.choices.ImportStatus",
        "NotificationStatusEnum": "notifications.choices.NotificationStatus",
    },
}

# --- Capacity (reps/core/sizing.py) ----------------------------------------------
# Who else shares the database, for the connection check gunicorn runs at start-up (README "Capacity and
# scaling"): app servers like this one, each of WEB_CONCURRENCY processes of WEB_THREADS threads; and job worker
# processes in all, on every machine (each child of `celery -A reps worker`; with --pool threads each thread),
# by default as many as one `make worker` starts here (a process per core).
APP_SERVERS = env_int("APP_SERVERS", 1)
JOB_WORKERS = env_int("JOB_WORKERS", os.cpu_count() or 1)

# --- Observability --------------------------------------------------------
# /metrics answers a scraper that sends `Authorization: Bearer <METRICS_TOKEN>`, or, without a token set,
# one connecting from METRICS_ALLOWED_IPS; anyone else gets a 404.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
SLOW_QUERY_MS = env_int("SLOW_QUERY_MS", 200)

# JSON lines in production (LOG_FORMAT=json), readable lines in development;
# both carry the request id.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "reps.core.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(view)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# HTML pages load scripts, styles, images and fonts from the app itself only (reps.core.security).
CONTENT_SECURITY_POLICY = os.environ.get("CONTENT_SECURITY_POLICY", "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "font-src 'self' data:", "connect-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
    "frame-ancestors 'none'",
]))

# --- Production hardening -------------------------------------------------
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    if env_bool("TRUST_X_FORWARDED_PROTO", False):
        # Only behind a proxy that sets this header itself; else it is spoofable.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    X_FRAME_OPTIONS = "DENY"
