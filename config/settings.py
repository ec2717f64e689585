"""Settings for the direct-link onboarding tracker.

Every difference between a developer's machine and production is an environment
variable. Bad values fail loudly at start-up rather than half-working.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


DEBUG = envbool("DEBUG", "false")
# A fixed or weak key is only acceptable for DEBUG runs and tests on a developer's machine:
# sessions, password-reset and invitation tokens are signed with it.
DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
_insecure_key_allowed = DEBUG or envbool("ALLOW_INSECURE_DEV_KEY", "false")
if not SECRET_KEY:
    if not _insecure_key_allowed:
        raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=true on a developer machine)")
    SECRET_KEY = DEV_SECRET_KEY
elif not _insecure_key_allowed and (
    len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY == DEV_SECRET_KEY
    or SECRET_KEY.startswith("django-insecure-")
):
    raise ImproperlyConfigured(
        "SECRET_KEY is weak: use at least 50 random characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "config.apps.ProjectConfig",  # sees every write to the user tables (config/usercache.py)
    "django_fsm",
    "pgtrigger",  # evidence tables protected in PostgreSQL, declared in the models' Meta.triggers (config/evidence.py)
    "delivery",  # the one delivery kernel: mail, webhooks, WeCom and import chunks (delivery/channels.py)
    "accounts",
    "branches",
    "notices",
    "companies",
    "workcalendar",
    "onboarding",
    "documents",
    "counter",
    "links",  # the live link after go-live and its service requests (issue 22)
    "reminders",
    "people",  # issue 23: reassignment, absence delegation, leavers
    "audit",
    "portal",
    "demo",
    "analytics",
]

MIDDLEWARE = [
    "config.logs.RequestIdMiddleware",
    # The database not answering: a 503 page with Retry-After, not a 500 (also handler500).
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, with the user row answered from Redis while it is unchanged (config/usercache.py).
    "config.usercache.CachedUserAuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "audit.middleware.SecurityHeadersMiddleware",
    "audit.middleware.SessionLimitMiddleware",
    "audit.middleware.MFARequiredMiddleware",
    "audit.middleware.ReadLogMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "branches.context_processors.roles",
            ],
        },
    },
]

# SQLite by default so the demo needs no server; DATABASE_URL selects PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        # Keep a connection per worker thread for a minute instead of a new PostgreSQL
        # connection per request; a connection that broke meanwhile is checked and replaced.
        conn_max_age=envint("DB_CONN_MAX_AGE", "60"),
        conn_health_checks=True,
    )
}
# The health check (`SELECT 1` before a request's first query) is skipped on a connection that
# finished a request cleanly less than DB_HEALTH_CHECK_IDLE_SECONDS ago (config/postgresql).
# With the database not answering, pages answer 503 with this Retry-After (config/middleware.py).
DATABASE_RETRY_AFTER_SECONDS = envint("DATABASE_RETRY_AFTER_SECONDS", "30")
DB_HEALTH_CHECK_IDLE_SECONDS = float(os.environ.get("DB_HEALTH_CHECK_IDLE_SECONDS", "1"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "config.postgresql"
    # Off by default: parameters bound on the client (psycopg's ClientCursor), nothing prepared,
    # as Django does. On: parameters sent apart from the statement and, with
    # DB_PREPARE_THRESHOLD > 0, a statement prepared on its connection once sent that many
    # times. Measured, and why it is off (a generic plan for a branch subtree's `LIKE $1`):
    # README, "Statements: bound on the client, not prepared".
    if envbool("DB_SERVER_SIDE_BINDING", "false"):
        _prepare = envint("DB_PREPARE_THRESHOLD", "0")
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "prepare_threshold": _prepare if _prepare > 0 else None}
        )
# The reads written once per process (config/statements.py, config/frozen.py: a case's row, its
# events, visits, documents, counter entries; keyed by ids) are prepared on their connection and
# planned once per connection, not on every read. Off behind PgBouncer in transaction mode older
# than 1.21 or without `max_prepared_statements` (README, "Statements: bound on the client").
DB_PREPARED_READS = envbool("DB_PREPARED_READS", "true")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / "var").mkdir(exist_ok=True)  # the default database's folder, on a fresh checkout
    # The demo's web server and its Celery worker write the same file at once. A transaction
    # that reads before it writes (every transition, message, session) cannot turn its read
    # lock into a write lock while another connection writes: SQLite fails it at once with
    # "database is locked", whatever the timeout. BEGIN IMMEDIATE takes the write lock first
    # and waits up to `timeout` seconds for it; WAL lets the pages read meanwhile. The tests'
    # in-memory database takes the same options (WAL does not apply there; it stays "memory").
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
    )
# The app's role owns nothing; MIGRATE_DATABASE_URL names the owner of the tables, as whom
# `manage.py migrate` connects (config/dbroles.py). The same database, another user.
DATABASE_OWNER: dict[str, str] | None = None
if os.environ.get("MIGRATE_DATABASE_URL"):
    _owner = dj_database_url.parse(os.environ["MIGRATE_DATABASE_URL"])
    _app = DATABASES["default"]
    if not _app["ENGINE"].endswith("postgresql") or any(
        (_owner.get(k) or "") != (_app.get(k) or "") for k in ("HOST", "PORT", "NAME")
    ):
        raise ImproperlyConfigured(
            "MIGRATE_DATABASE_URL must name the PostgreSQL database of DATABASE_URL (host, port, name), as its owner"
        )
    DATABASE_OWNER = {"USER": _owner.get("USER") or "", "PASSWORD": _owner.get("PASSWORD") or ""}
    DATABASE_APP_ROLE = _app.get("USER") or ""  # granted its rows by `migrate`
# Evidence triggers (config/evidence.py): declared in the models' Meta.triggers, written into the
# apps' migrations by makemigrations and installed by migrate (never outside the migrations).
PGTRIGGER_MIGRATIONS = True
PGTRIGGER_INSTALL_ON_MIGRATE = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

# Sessions: 30 minutes idle (renewed on every request), never beyond the browser session.
SESSION_COOKIE_AGE = envint("SESSION_IDLE_SECONDS", str(30 * 60))
# The idle expiry is renewed by audit.middleware.SessionLimitMiddleware at most once every
# SESSION_RENEW_SECONDS, instead of a session write on every request.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_RENEW_SECONDS = envint("SESSION_RENEW_SECONDS", "60")
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if envbool("HTTPS", "false"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "true")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# E-mail: console in development, SMTP when EMAIL_HOST is set.
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "银企直联 <noreply@bank.example>")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = envint("EMAIL_PORT", "587")
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "true")
else:
    EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    if os.environ.get("EMAIL_FILE_PATH"):  # the file backend's directory (tests/test_two_hosts.py)
        EMAIL_FILE_PATH = os.environ["EMAIL_FILE_PATH"]

# Celery: Redis in production; an embedded SQLite-backed broker when REDIS_URL is unset,
# so the demo runs a real worker without any server.
REDIS_URL = os.environ.get("REDIS_URL", "")
# Every call a web request makes to Redis gives up after this long (the cache, the sessions, the
# page cache, /readyz): a frozen Redis (stopped, failing over, cut off) answers nothing at all, and
# each client falls back (config/cache.py, config/usercache.py) instead of holding the request.
REDIS_CONNECT_TIMEOUT = float(os.environ.get("REDIS_CONNECT_TIMEOUT", "0.3"))
REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", "0.5"))
REDIS_CLIENT_OPTIONS = {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT, "socket_timeout": REDIS_SOCKET_TIMEOUT}
# No result backend: nothing reads a task's result, and the Redis one made every `apply_async`
# retry its connection 20 times a second apart while Redis refused connections (issue 24).
CELERY_RESULT_BACKEND: str | None = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_URL = REDIS_URL or f"sqla+sqlite:///{BASE_DIR / 'var' / 'celery-broker.sqlite3'}"
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "false")
# The queue tasks go to and workers read (one Redis may carry several environments).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
# Queuing a task never holds up a request: with the broker down, a publish gives up within a
# couple of seconds (kombu would otherwise retry for ~20 s) and the outbox row waits for the flush.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# No publish is retried: a web process publishes only through `delivery.channels.publish`, and what
# a worker or beat could not publish is queued again by the delivery flush or the next beat tick.
CELERY_TASK_PUBLISH_RETRY = False
# What a request queues goes through `delivery.channels.publish`: its own connection, no retries,
# connect and socket timeouts of this many seconds (a frozen Redis answers nothing at all).
DELIVERY_PUBLISH_TIMEOUT = float(os.environ.get("DELIVERY_PUBLISH_TIMEOUT", "0.5"))
# The mail flush's beat entry (`delivery-mail`): unsent mail and retries whose time has come.
OUTBOX_FLUSH_SECONDS = envint("OUTBOX_FLUSH_SECONDS", "60")
# The flush leaves a mail younger than this to the worker its commit queued (a shorter grace
# only moves the flush's sending earlier: each row is claimed with SELECT … FOR UPDATE SKIP LOCKED).
OUTBOX_FLUSH_GRACE_SECONDS = envint("OUTBOX_FLUSH_GRACE_SECONDS", "120")
# A broker that failed a publish is not asked again by this process for this many seconds: the
# rows wait for the flush, and the next requests do not each pay the timeout.
DELIVERY_BROKER_RETRY_SECONDS = float(os.environ.get("DELIVERY_BROKER_RETRY_SECONDS", "5"))
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task is killed after CELERY_TASK_TIME_LIMIT seconds (the longest, the sweep of 100,000
# cases, takes under 10 s); a message a dead worker left unacknowledged in Redis is handed to
# another worker CELERY_VISIBILITY_TIMEOUT seconds after delivery (Redis's default is an hour),
# checked every CELERY_UNACKED_RESTORE_SECONDS. The timeout must exceed the time limit, or a
# slow task still running would be delivered a second time.
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", "40")
CELERY_TASK_SOFT_TIME_LIMIT = max(1, CELERY_TASK_TIME_LIMIT - 5) if CELERY_TASK_TIME_LIMIT > 5 else None
CELERY_VISIBILITY_TIMEOUT = envint("CELERY_VISIBILITY_TIMEOUT", "50")
if CELERY_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT")
REDIS_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": envint("CELERY_UNACKED_RESTORE_SECONDS", "5"),
    "unacked_restore_throttle": 1,
}
# Redis's options only: the embedded SQLite broker (no REDIS_URL) hands its transport options to
# SQLAlchemy's create_engine, which refuses these.
CELERY_BROKER_TRANSPORT_OPTIONS = (
    REDIS_BROKER_TRANSPORT_OPTIONS if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else {}
)
# An SMTP server that does not answer must not hold a worker past the task time limit.
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", "10")
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # LOG_FORMAT=json: one JSON object a line for the log collector (config/logs.py).
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "config.logs.JsonFormatter"},
    },
    "filters": {
        "request_id": {"()": "config.logs.RequestIdFilter"},
        # A 403 is one line, without the traceback Django attaches (config/logs.py).
        "forbidden_one_line": {"()": "config.logs.OneLineForbiddenFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("LOG_FORMAT", "plain") == "json" else "plain",
            "filters": ["request_id", "forbidden_one_line"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# bench/pages.py measures every page beside /bench/trivial (an "ok" behind all the middleware).
BENCH_TRIVIAL_VIEW = envbool("BENCH_TRIVIAL_VIEW", "false")

# Workflow constants that an administrator may later move into the database.
CASE_PAGE_SIZE = 25


# --- documents (issue 3) -----------------------------------------------------------------

# Uploaded documents and generated forms live behind Django's storage API under the alias
# "documents". DOCUMENT_STORAGE=filesystem (default) keeps them in DOCUMENT_ROOT;
# DOCUMENT_STORAGE=s3 uses django-storages' S3 backend against any S3-compatible object store
# (needs `pip install boto3` and AWS_STORAGE_BUCKET_NAME, plus AWS_S3_ENDPOINT_URL,
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an instance role). The backend class is only
# imported when first used, so boto3 is needed only where S3 is chosen.
DOCUMENT_STORAGE = os.environ.get("DOCUMENT_STORAGE", "filesystem").strip().lower()
DOCUMENT_ROOT = Path(os.environ.get("DOCUMENT_ROOT", BASE_DIR / "var" / "documents"))
STORAGES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DOCUMENT_STORAGE == "filesystem":
    STORAGES["documents"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DOCUMENT_ROOT, "base_url": None, "file_permissions_mode": 0o640},
    }
elif DOCUMENT_STORAGE == "s3":
    import importlib.util

    if importlib.util.find_spec("boto3") is None:
        raise ImproperlyConfigured("DOCUMENT_STORAGE=s3 needs boto3: pip install boto3")
    _bucket = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
    if not _bucket:
        raise ImproperlyConfigured("DOCUMENT_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
    STORAGES["documents"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "location": os.environ.get("DOCUMENT_S3_PREFIX", "documents"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured(f"DOCUMENT_STORAGE must be filesystem or s3, not {DOCUMENT_STORAGE!r}")
DOCUMENT_MAX_BYTES = envint("DOCUMENT_MAX_BYTES", str(20 * 1024 * 1024))
# A signed form or a scan has a few pages; a 100,000-page PDF costs seconds of CPU to read.
DOCUMENT_MAX_PDF_PAGES = envint("DOCUMENT_MAX_PDF_PAGES", "500")
# Every stream of an uploaded PDF is inflated (counted, never kept) up to this total; a file whose
# streams decompress to more is refused as a bomb. A 20 MB scan of JPEG pages inflates to little;
# 20 MB of Flate-compressed text, fonts and greyscale images to ≈ 100–200 MB.
DOCUMENT_MAX_PDF_INFLATED_BYTES = envint("DOCUMENT_MAX_PDF_INFLATED_BYTES", str(256 * 1024 * 1024))
# WeasyPrint reports every rendering step at INFO.
LOGGING["loggers"]["weasyprint"] = {"level": "WARNING"}  # type: ignore[index]
# Printed on the generated forms.
BANK_NAME = os.environ.get("BANK_NAME", "示例银行股份有限公司")


# --- dual control, security baseline (issue 4) --------------------------------------------
# Security baseline: logins through django-allauth, TOTP required for bank staff.
INSTALLED_APPS += ["allauth", "allauth.account", "allauth.mfa"]
AUTHENTICATION_BACKENDS = [
    # Authenticates nobody: reads the permissions in one query for the backends below (issue 26).
    "accounts.permissions.PermissionsBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "audit.adapters.AccountAdapter"
MFA_ADAPTER = "audit.adapters.MFAAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = False  # the 30-minute idle limit applies to everyone
# Failed logins (wrong passwords and wrong TOTP codes) are counted per account *and* address
# (the adapter puts the address into the key), so five wrong passwords block that account from
# that address only; colleagues behind the same branch NAT address keep logging in.
# The per-address ceilings stop one address trying a few passwords on many accounts (spraying).
# Sized for a branch of 50 tellers behind one NAT address, each with a few typos a day and a
# new login after every 30 minutes idle: about 150 failures a day, at worst 15-25 in the ten
# minutes after opening. Each ceiling leaves about twice that; a bigger site behind one address
# raises them. 0 leaves a window out. README "Failed logins" gives the arithmetic.
LOGIN_FAILURES_PER_ACCOUNT = envint("LOGIN_FAILURES_PER_ACCOUNT", "5")  # per account and address, 5 minutes
LOGIN_FAILURES_PER_ADDRESS = envint("LOGIN_FAILURES_PER_ADDRESS", "20")  # per address, 1 minute
LOGIN_FAILURES_PER_ADDRESS_10MIN = envint("LOGIN_FAILURES_PER_ADDRESS_10MIN", "40")
LOGIN_FAILURES_PER_ADDRESS_HOUR = envint("LOGIN_FAILURES_PER_ADDRESS_HOUR", "100")
ACCOUNT_RATE_LIMITS = {
    "login_failed": ",".join(
        f"{amount}/{window}"
        for amount, window in (
            (LOGIN_FAILURES_PER_ACCOUNT, "5m/key"),
            (LOGIN_FAILURES_PER_ADDRESS, "1m/ip"),
            (LOGIN_FAILURES_PER_ADDRESS_10MIN, "10m/ip"),
            (LOGIN_FAILURES_PER_ADDRESS_HOUR, "1h/ip"),
        )
        if amount > 0
    ),
    # Every login POST, successful or not: a branch logs in at 9:00 through one address.
    "login": "300/m/ip",
    # Password reset by e-mail (customers only): a few requests per address and per e-mail.
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
}
# Behind a reverse proxy, how many X-Forwarded-For hops to trust for the client address.
ALLAUTH_TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", "0")
# Security keys and passkeys (WebAuthn, issue 23) beside the authenticator app: a key enrolled
# "for passwordless login" signs a person in with one click and a touch (or fingerprint / PIN):
# the key is the possession, its user verification the second factor.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
# A passkey sign-in must have verified the person on the key (PIN or fingerprint), not just a touch.
MFA_WEBAUTHN_USER_VERIFICATION = "required"
# Staff holding one of these roles must enrol a security key before working (comma-separated
# role codes, e.g. "head_office_approver"; empty: nobody is forced).
MFA_REQUIRE_SECURITY_KEY_ROLES = [
    r.strip() for r in os.environ.get("MFA_REQUIRE_SECURITY_KEY_ROLES", "").split(",") if r.strip()
]
# Wrong TOTP codes count per account *and* address, like wrong passwords (audit/forms.py).
MFA_FORMS = {"authenticate": "audit.forms.CodeAuthenticateForm", "reauthenticate": "audit.forms.CodeReauthenticateForm"}
MFA_TOTP_ISSUER = "银企直联"
# E-mail addresses are entered by the bank, not verified by mail: enrolment must not wait on it.
MFA_ALLOW_UNVERIFIED_EMAIL = True
# Absolute session lifetime, whatever the activity (the idle limit is SESSION_COOKIE_AGE).
SESSION_ABSOLUTE_SECONDS = envint("SESSION_ABSOLUTE_SECONDS", str(12 * 3600))
# How long a stated reason opens a case outside one's branch subtree (break-glass).
BREAK_GLASS_MINUTES = envint("BREAK_GLASS_MINUTES", "30")
AUDIT_PAGE_SIZE = 50
# allauth's rate limits and single-use TOTP codes live in the cache: shared through Redis
# when several workers run, process-local otherwise. While Redis does not answer, the cache
# falls back to a database table and logs it (config/cache.py): logins keep working, limited.
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "onb",
            "OPTIONS": REDIS_CLIENT_OPTIONS,
        }
    }
    # Sessions are read from Redis and written through to their row (`cached_db`), which
    # spares a query on every request; while Redis does not answer they are read from their
    # row (config/cache.py SessionRedisCache). A copy lives at most SESSION_CACHE_SECONDS.
    # An alias of its own, so a session never lands in the default cache's database fallback
    # and the default cache can be cleared without touching anyone's session.
    CACHES["sessions"] = {
        "BACKEND": "config.cache.SessionRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "onb-s",
        "OPTIONS": REDIS_CLIENT_OPTIONS,
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    SESSION_CACHE_ALIAS = "sessions"
else:
    # Without Redis the cache is process-local: a session ended in one process would live on
    # in another's copy, so sessions are read from the database only.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Pages are computed for every request: no page cache (README, "The page cache": at a bank's
# rate it answered 0 of 116 page views and cost every computed page a few Redis round trips).
# The logged-in user's row with their roles and branch is kept in Redis while those tables are
# unchanged (config/usercache.py): three queries fewer per request. It needs a cache that every
# process shares, so it is on with Redis; while Redis does not answer, users are read from the
# database. USER_CACHE=true without Redis is for one process only (the tests).
USER_CACHE = envbool("USER_CACHE", "true" if REDIS_URL else "false")
USER_CACHE_SECONDS = envint("USER_CACHE_SECONDS", "60")
# Called with the user before the copy is stored: the roles and home branch every page reads.
USER_CACHE_PREPARE = "branches.roles.user_prepare"
if REDIS_URL:
    CACHES["users"] = {
        "BACKEND": "config.cache.UserRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "onb",
        "OPTIONS": REDIS_CLIENT_OPTIONS,
    }
else:
    CACHES["users"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "users"}
SESSION_CACHE_SECONDS = envint("SESSION_CACHE_SECONDS", "300")


# --- reminders and escalation (issue 6) ---------------------------------------------------
# One beat process enqueues the overdue sweep; any number of workers run it (it is safe to
# run concurrently: every reminder is claimed by a unique row).
REMINDER_SWEEP_SECONDS = envint("REMINDER_SWEEP_SECONDS", "300")
# On PostgreSQL the sweep runs in this many parts at once, each on its own connection (one
# more connection per part while a sweep runs): about the database's cores (reminders/services.py).
REMINDER_SWEEP_PARTITIONS = envint("REMINDER_SWEEP_PARTITIONS", "2")
CELERY_BEAT_SCHEDULE = {
    "reminders-sweep-stalled": {
        "task": "reminders.tasks.sweep_stalled",
        "schedule": float(REMINDER_SWEEP_SECONDS),
        # A sweep that waited longer than one period in the queue is superseded by the next.
        "options": {"expires": float(REMINDER_SWEEP_SECONDS)},
    },
    # Open stages age and history grows: refit the go-live forecast and refresh every open case.
    "analytics-nightly": {
        "task": "analytics.tasks.analytics_nightly",
        "schedule": crontab(hour=2, minute=30),
    },
}


# The cockpit's figures for one subtree and period are reused for this long (page and exports).
ANALYTICS_CACHE_SECONDS = envint("ANALYTICS_CACHE_SECONDS", "300")
# The default period's figures of every scope are precomputed this often (analytics.snapshots);
# a page finding one older than ANALYTICS_SNAPSHOT_MAX_SECONDS shows it, says so, and asks the worker
# for a refresh (analytics.refreshes: once per scope and language per ANALYTICS_REFRESH_SECONDS).
# After Shanghai midnight the new day's period is computed by the next run (at most this long).
ANALYTICS_REFRESH_SECONDS = envint("ANALYTICS_REFRESH_SECONDS", "300")
ANALYTICS_SNAPSHOT_MAX_SECONDS = envint("ANALYTICS_SNAPSHOT_MAX_SECONDS", str(2 * ANALYTICS_REFRESH_SECONDS))
# After a case changes, its scopes are refreshed once, this many seconds later (debounce).
ANALYTICS_DIRTY_DELAY_SECONDS = envint("ANALYTICS_DIRTY_DELAY_SECONDS", "60")
CELERY_BEAT_SCHEDULE["analytics-cockpit-refresh"] = {
    "task": "analytics.tasks.cockpit_refresh",
    "schedule": float(ANALYTICS_REFRESH_SECONDS),
    # A refresh that waited longer than one period in the queue is superseded by the next.
    "options": {"expires": float(ANALYTICS_REFRESH_SECONDS)},
}


# --- client portal (issue 5) --------------------------------------------------------------
# A login lands customers in the portal and staff in their workspace.
LOGIN_REDIRECT_URL = "portal:start"
PORTAL_INVITATION_HOURS = envint("PORTAL_INVITATION_HOURS", "72")


# --- API and webhooks (issue 14) ------------------------------------------------------------
INSTALLED_APPS += ["rest_framework", "oauth2_provider", "drf_spectacular", "drf_spectacular_sidecar", "api"]
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": "读取案件 / read cases",
        "write": "办理案件 / act on cases",
        # The bank's own test gateway only (never a company's client): onboarding/test_gateway.py.
        "test_gateway": "报送联调测试交易 / post observed joint-test transactions",
    },
    "ACCESS_TOKEN_EXPIRE_SECONDS": envint("API_TOKEN_SECONDS", "3600"),
    "OAUTH2_VALIDATOR_CLASS": "api.auth.ScopedValidator",
    # Only client credentials are used; everything else follows the OAuth 2.0 security BCP.
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.ClientCredentialsAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.auth.ClientThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_client": os.environ.get("API_THROTTLE_RATE", "600/min")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
# The result codes with which the bank's test gateway reports a transaction as successful
# (onboarding/test_gateway.py); any other code is an observed failure.
TEST_GATEWAY_SUCCESS_CODES = [
    c.strip() for c in os.environ.get("TEST_GATEWAY_SUCCESS_CODES", "0000,000000").split(",") if c.strip()
]
API_DOCS_PUBLIC = envbool("API_DOCS_PUBLIC", "false")
SPECTACULAR_SETTINGS = {
    "TITLE": "银企直联开通跟踪 API",
    "DESCRIPTION": (
        "Onboarding cases for a company's ERP or the bank's own systems (OAuth2 client credentials).\n\n"
        "Lists are paged by cursor (since 1.1): each page has `results`, `next` and `previous` (URLs, "
        "null at either end); follow `next` as given to walk the whole list. There is no total `count` "
        "and no `page` number (`?page=2` and beyond answer 404 saying so); `page_size` (at most 100) "
        "still applies. Rows written during a walk are never shown twice nor skipped."
    ),
    "VERSION": "1.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs only for someone signed in (a session or an API client's token),
    # unless API_DOCS_PUBLIC=true opens them to anyone.
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.AllowAny" if API_DOCS_PUBLIC else "rest_framework.permissions.IsAuthenticated"
    ],
    "SERVE_AUTHENTICATION": [
        "rest_framework.authentication.SessionAuthentication",
        "api.auth.ClientCredentialsAuthentication",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "CaseState": "onboarding.states.State",
        "Module": "onboarding.states.Module",
        "DocumentKind": "documents.models.DocumentKind",
        "CaseEventKind": "onboarding.models.CaseEvent.Kind",
    },
}
INSTALLED_APPS += ["webhooks"]
# http://127.0.0.1 as a webhook target: for the test suite's receiver only, never in production.
WEBHOOK_ALLOW_LOOPBACK = envbool("WEBHOOK_ALLOW_LOOPBACK", "false")
if WEBHOOK_ALLOW_LOOPBACK and not _insecure_key_allowed:
    raise ImproperlyConfigured("WEBHOOK_ALLOW_LOOPBACK is for development and tests only")
# The bank's internal networks (CIDRs, comma-separated) that endpoints registered by the bank's
# administrators (a branch's endpoints) may reach; a company's endpoints never reach any.
# Empty: every internal address is refused. Loopback, link-local, multicast and "this network"
# stay refused whatever is listed.
WEBHOOK_INTERNAL_NETWORKS = [n.strip() for n in os.environ.get("WEBHOOK_INTERNAL_NETWORKS", "").split(",") if n.strip()]
_NEVER_INTERNAL = ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "::/128", "::1/128", "fe80::/10")
for _network in WEBHOOK_INTERNAL_NETWORKS:
    try:
        _parsed = ipaddress.ip_network(_network)  # strict: host bits set is a typo, not a network
    except ValueError as _exc:
        raise ImproperlyConfigured(f"WEBHOOK_INTERNAL_NETWORKS: {_exc}") from None
    if any(_parsed.version == n.version and _parsed.overlaps(n) for n in map(ipaddress.ip_network, _NEVER_INTERNAL)):  # type: ignore[arg-type]
        raise ImproperlyConfigured(f"WEBHOOK_INTERNAL_NETWORKS: {_network} covers loopback or link-local addresses")
# The delivery flush's beat entry (`delivery-webhook`, added by the channel) runs this often.
WEBHOOK_FLUSH_SECONDS = envint("WEBHOOK_FLUSH_SECONDS", "30")
IDEMPOTENCY_KEEP_HOURS = envint("IDEMPOTENCY_KEEP_HOURS", "24")
# A create form's one-time token is remembered this long (config/once.py): a retry comes within minutes.
FORM_TOKEN_KEEP_HOURS = envint("FORM_TOKEN_KEEP_HOURS", "24")
CELERY_BEAT_SCHEDULE["form-tokens-expire"] = {"task": "config.tasks.form_tokens_expire", "schedule": crontab(minute=45)}
CELERY_BEAT_SCHEDULE["api-idempotency-expire"] = {
    "task": "api.tasks.idempotency_expire",
    "schedule": crontab(minute=15),
}

# Bulk import and export of cases (transfers, issue 15).
INSTALLED_APPS += ["transfers"]
IMPORT_MAX_BYTES = envint("IMPORT_MAX_BYTES", str(10 * 1024 * 1024))
IMPORT_MAX_ROWS = envint("IMPORT_MAX_ROWS", "20000")
# Files of more rows than this are checked and imported by Celery in chunks, with progress on the job page.
IMPORT_INLINE_ROWS = envint("IMPORT_INLINE_ROWS", "500")
# Rows per background task: one chunk must finish well within CELERY_TASK_TIME_LIMIT.
IMPORT_CHUNK_ROWS = envint("IMPORT_CHUNK_ROWS", "100")
IMPORT_CHECK_CHUNK_ROWS = envint("IMPORT_CHECK_CHUNK_ROWS", "500")
# A background job no chunk has moved for this long (broker down, a worker lost) is queued again
# by the import channel's flush (beat entry `delivery-import`, every IMPORT_FLUSH_SECONDS).
IMPORT_STALL_SECONDS = envint("IMPORT_STALL_SECONDS", "300")
IMPORT_FLUSH_SECONDS = envint("IMPORT_FLUSH_SECONDS", "60")
# An export of more rows than this is written by a Celery worker into a file the reader downloads
# when told it is ready (issue 26: no web worker held for the seconds a large list takes); up to
# this many rows it streams at once, as it always did (2,000 rows: well under a second).
EXPORT_INLINE_ROWS = envint("EXPORT_INLINE_ROWS", "2000")
# The worker's limit for one export (the kernel's other tasks keep CELERY_TASK_TIME_LIMIT): the
# whole bank's 100,053 cases took 3.6-4.2 s, the whole audit log's 5.0 M rows 262 s (README,
# "Export"). A limit reached counts as a failed attempt.
EXPORT_TIME_LIMIT = envint("EXPORT_TIME_LIMIT", "600")
EXPORT_FLUSH_SECONDS = envint("EXPORT_FLUSH_SECONDS", "60")
# A written export is downloadable for this many days, then its file is deleted (the job stays).
EXPORT_KEEP_DAYS = envint("EXPORT_KEEP_DAYS", "7")
CELERY_BEAT_SCHEDULE["transfers-exports-expire"] = {
    "task": "transfers.tasks.exports_expire",
    "schedule": crontab(minute=50),
}
# An .xlsx is a zip of XML: checked before any parser sees it (transfers/sheet.py). A branch's
# real file of IMPORT_MAX_ROWS rows written by openpyxl (inline strings, the bulkiest form) is
# ≈ 36 MB of sheet XML at a ratio of ≈ 15; Excel's shared strings make it smaller. The limits
# leave room for that and refuse a bomb from its zip directory, before decompressing anything.
IMPORT_XLSX_MAX_MEMBERS = envint("IMPORT_XLSX_MAX_MEMBERS", "1000")
IMPORT_XLSX_MAX_MEMBER_BYTES = envint("IMPORT_XLSX_MAX_MEMBER_BYTES", str(64 * 1024 * 1024))
IMPORT_XLSX_MAX_TOTAL_BYTES = envint("IMPORT_XLSX_MAX_TOTAL_BYTES", str(100 * 1024 * 1024))
IMPORT_XLSX_MAX_SHARED_STRINGS_BYTES = envint("IMPORT_XLSX_MAX_SHARED_STRINGS_BYTES", str(48 * 1024 * 1024))
# Decompressed / compressed, for members over 1 MB (real sheets: 5–30; a bomb: 1000).
IMPORT_XLSX_MAX_RATIO = envint("IMPORT_XLSX_MAX_RATIO", "100")
# Excel's own limit for the text of one cell.
IMPORT_XLSX_MAX_CELL_CHARS = envint("IMPORT_XLSX_MAX_CELL_CHARS", "32767")
# A file decompressing to more than this is never parsed in a web request (its check goes to the
# worker) and is parsed in a child process with an address-space and a CPU-time limit.
IMPORT_XLSX_INLINE_BYTES = envint("IMPORT_XLSX_INLINE_BYTES", str(4 * 1024 * 1024))
IMPORT_PARSE_MEMORY_MB = envint("IMPORT_PARSE_MEMORY_MB", "1024")
IMPORT_PARSE_SECONDS = envint("IMPORT_PARSE_SECONDS", "30")

# --- WeCom group robots and daily digests (issue 15) ---------------------------------------
INSTALLED_APPS += ["wecom"]
# WeCom's server; a bank's on-premises WeCom is set here or per robot in the admin.
WECOM_BASE_URL = os.environ.get("WECOM_BASE_URL", "https://qyapi.weixin.qq.com").rstrip("/")
# Encrypts the robots' webhook keys at rest (HKDF → Fernet); SECRET_KEY when unset. Changing it
# makes the stored keys unreadable: enter them again in the admin.
WECOM_KEY_SECRET = os.environ.get("WECOM_KEY_SECRET", "")
WECOM_RATE_PER_MINUTE = envint("WECOM_RATE_PER_MINUTE", "20")
WECOM_FLUSH_SECONDS = envint("WECOM_FLUSH_SECONDS", "30")
# The daily digest: working days from DIGEST_LOCAL_TIME (Asia/Shanghai) until DIGEST_LATEST_LOCAL_TIME.
DIGEST_LOCAL_TIME = os.environ.get("DIGEST_LOCAL_TIME", "08:30")
DIGEST_LATEST_LOCAL_TIME = os.environ.get("DIGEST_LATEST_LOCAL_TIME", "18:00")
CELERY_BEAT_SCHEDULE["wecom-digests"] = {
    "task": "wecom.tasks.send_digests",
    "schedule": float(envint("DIGEST_SWEEP_SECONDS", "300")),
    "options": {"expires": float(envint("DIGEST_SWEEP_SECONDS", "300"))},
}

# --- directory sign-in and security keys (issue 23) ----------------------------------------
# Staff sign in with their directory (LDAP / Active Directory) password on the usual login page
# when DIRECTORY_URL is set (off by default); the variables are read in config/directory.py:
# DIRECTORY_BIND_DN / _PASSWORD (a read-only service account), DIRECTORY_USER_BASE,
# DIRECTORY_USER_FILTER ("(uid=%(user)s)"; AD: "(sAMAccountName=%(user)s)"), DIRECTORY_GROUP_BASE,
# DIRECTORY_GROUP_TYPE (groupOfNames, activeDirectory, nestedActiveDirectory, …),
# DIRECTORY_ROLE_GROUPS ("account_manager=cn=…;branch_supervisor=cn=…"), DIRECTORY_BRANCH_ATTRIBUTE
# (holds the branch code), and who is disabled: DIRECTORY_AD_ACCOUNT_CONTROL=true (AD's
# userAccountControl bit 2), DIRECTORY_DISABLED_ATTRIBUTE ("employeeType=disabled"),
# DIRECTORY_DISABLED_GROUP (a group DN). Local accounts (admin) keep signing in with their password.
from config.directory import BACKEND as _DIRECTORY_BACKEND  # noqa: E402
from config.directory import directory_settings  # noqa: E402

DIRECTORY_ENABLED = False
DIRECTORY_ROLE_GROUPS: dict[str, str] = {}
DIRECTORY_BRANCH_ATTRIBUTE = ""
DIRECTORY_AD_ACCOUNT_CONTROL = False
DIRECTORY_DISABLED_ATTRIBUTE: dict[str, str] = {}
DIRECTORY_DISABLED_GROUP = ""
globals().update(directory_settings(os.environ))
# OpenID Connect sign-in (issue 23), where the bank has an identity platform instead of (or
# beside) a directory: allauth's openid_connect provider, on when OIDC_SERVER_URL is set (its
# discovery URL's base, e.g. https://idp.bank.example/realms/staff) with OIDC_CLIENT_ID /
# _SECRET; OIDC_ROLE_GROUPS ("account_manager=dl-am;branch_supervisor=dl-sup") maps the token's
# groups claim (OIDC_GROUPS_CLAIM, "groups") to roles, OIDC_BRANCH_CLAIM ("branch") holds the
# branch code, OIDC_MFA_AMR ("mfa,hwk,otp") the `amr` values that count as our second factor.
# The socialaccount tables always exist; only the provider app is gated (config/oidc.py).
from config.oidc import oidc_settings as _oidc_settings  # noqa: E402

INSTALLED_APPS += ["allauth.socialaccount", "allauth.socialaccount.providers.openid_connect"]
SOCIALACCOUNT_ADAPTER = "audit.oidc.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False
OIDC_ENABLED = False
OIDC_ROLE_GROUPS: dict[str, str] = {}
OIDC_GROUPS_CLAIM = "groups"
OIDC_BRANCH_CLAIM = "branch"
OIDC_MFA_AMR: list[str] = []
SOCIALACCOUNT_PROVIDERS: dict[str, Any] = {}
globals().update(_oidc_settings(os.environ))

if DIRECTORY_ENABLED:
    AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, _DIRECTORY_BACKEND]
    # Deactivates whoever the directory has disabled or removed (manage.py sync_directory).
    CELERY_BEAT_SCHEDULE["directory-sync"] = {
        "task": "audit.tasks.sync_directory",
        "schedule": float(envint("DIRECTORY_SYNC_SECONDS", "3600")),
        "options": {"expires": float(envint("DIRECTORY_SYNC_SECONDS", "3600"))},
    }

# --- live links: certificate renewal, dormancy, retention (issue 22, links/request_services.py) ---
# A renewal request opens this many days before the link's certificate expires (banks allow
# self-renewal from three months before expiry) and the customer is reminded at these days left.
LINK_RENEWAL_LEAD_DAYS = envint("LINK_RENEWAL_LEAD_DAYS", "90")
LINK_RENEWAL_REMINDER_DAYS = tuple(
    int(d) for d in os.environ.get("LINK_RENEWAL_REMINDER_DAYS", "90,30,7,0").split(",") if d.strip()
)
# No link event for this many days: the dormancy sweep proposes a suspension (reviewed, never automatic).
LINK_DORMANT_DAYS = envint("LINK_DORMANT_DAYS", "365")
# Years a closed link's records are kept, counted from its closing date. Default 5: the AML rule
# for identity records and transactions (《金融机构客户身份识别和客户身份资料及交易记录保存管理办法》
# 2007, art. 29: at least five years after the business relationship ends). The 2025 revision of
# the AML law (反洗钱法, in force 2025-01-01) and the PBOC/NFRA/CSRC 办法 in force 2026-01-01 may set
# another period: set this to the period the bank's compliance confirms.
LINK_RETENTION_YEARS = envint("LINK_RETENTION_YEARS", "5")
LINK_SWEEP_SECONDS = envint("LINK_SWEEP_SECONDS", "3600")
CELERY_BEAT_SCHEDULE["links-renewal-sweep"] = {
    "task": "links.request_tasks.renewal_sweep",
    "schedule": float(LINK_SWEEP_SECONDS),
    "options": {"expires": float(LINK_SWEEP_SECONDS)},
}
CELERY_BEAT_SCHEDULE["links-dormant-sweep"] = {
    "task": "links.request_tasks.dormant_sweep",
    "schedule": crontab(hour=6, minute=10),
}

# Periodic review of live links (issue 22): months between reviews by the onboarding risk level.
LINK_REVIEW_MONTHS = {
    "high": envint("LINK_REVIEW_MONTHS_HIGH", "12"),
    "medium": envint("LINK_REVIEW_MONTHS_MEDIUM", "24"),
    "low": envint("LINK_REVIEW_MONTHS_LOW", "36"),
}
CELERY_BEAT_SCHEDULE["links-periodic-reviews"] = {
    "task": "links.tasks.periodic_reviews",
    "schedule": crontab(hour=6, minute=10),
}
