"""Trackly settings, read from the environment; a bad value stops start-up with a clear message."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (in the environment, or in .env beside "
            "manage.py: `make run` writes one with DEBUG=true for development)."
        )
    SECRET_KEY = "django-insecure-development-only-key"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "trackly",
    "contacts",
    "audiences",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks_db",
    # Admin import and export of contacts with label columns.
    "import_export",
    # Login throttling: failed log-ins recorded in the database, lockouts (trackly/lockout.py).
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "trackly.middleware.RefuseNulMiddleware",
    # Follows each request's writes, for the reads that may go to a replica (trackly/replicas.py).
    "trackly.replicas.ReplicaMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "trackly.passwords.PasswordChangeRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out log-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "trackly.urls"
WSGI_APPLICATION = "trackly.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trackly.context_processors.accounts",
                "contacts.context_processors.label_limits",
            ],
        },
    },
]


def sqlite_database(path: str) -> dict:
    """SQLite in the file at `path`, set up for the web server and the task worker side by side."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            # The web server and the task worker write to the same file: WAL lets readers
            # run beside a writer, IMMEDIATE takes the write lock at BEGIN (no upgrade
            # deadlocks), and the timeout makes a writer wait instead of failing.
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("SQLITE_BUSY_TIMEOUT", 20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


# SQLite is the zero-set-up default, in SQLITE_PATH or DATABASE_URL=sqlite:///path (the same
# connection settings either way); DATABASE_URL=postgres://... switches to PostgreSQL.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    DATABASES = {
        "default": sqlite_database(os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")))
    }
elif DATABASE_URL.startswith("sqlite://"):
    DATABASES = {"default": sqlite_database(dj_database_url.parse(DATABASE_URL)["NAME"])}
elif DATABASE_URL.startswith(("postgres://", "postgresql://")):
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
else:
    raise ImproperlyConfigured("DATABASE_URL must start with postgres:// or sqlite://.")

# PostgreSQL streaming replicas for the heavy reads (trackly/replicas.py, docs/replicas.md):
# DATABASE_REPLICA_URL holds one URL or several, separated by commas or spaces; each becomes
# a database alias replica_1, replica_2, ... with the primary's connection settings.
DATABASE_REPLICAS: list[str] = []
for number, url in enumerate(os.environ.get("DATABASE_REPLICA_URL", "").replace(",", " ").split()):
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL=postgres://...")
    if not url.startswith(("postgres://", "postgresql://")):
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL must hold postgres:// URLs, not {url!r}.")
    replica = dj_database_url.parse(
        url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
    # The primary's options, then the URL's own; a replica that does not answer soon is taken
    # for down, and its reads go to the primary.
    replica["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {}), **replica.get("OPTIONS", {})}
    replica["OPTIONS"].setdefault("connect_timeout", env_int("REPLICA_CONNECT_TIMEOUT", 2))
    # Tests read the primary's test database through it, unless a test points it at a real
    # replica (tests/replicas/).
    replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica_{number + 1}"] = replica
    DATABASE_REPLICAS.append(f"replica_{number + 1}")
DATABASE_ROUTERS = ["trackly.replicas.ReplicaRouter"] if DATABASE_REPLICAS else []
# A replica further behind than this is not read; checked at most every REPLICA_CHECK_SECONDS.
REPLICA_MAX_LAG_SECONDS = env_int("REPLICA_MAX_LAG_SECONDS", 5)
REPLICA_CHECK_SECONDS = env_int("REPLICA_CHECK_SECONDS", 2)
# After a write, the user's or API key's reads stay on the primary this long; to be sure of
# seeing a change, longer than the lag a replica may have when it was last checked.
REPLICA_READ_YOUR_WRITES_SECONDS = env_int(
    "REPLICA_READ_YOUR_WRITES_SECONDS", REPLICA_MAX_LAG_SECONDS + REPLICA_CHECK_SECONDS + 3
)
if REPLICA_READ_YOUR_WRITES_SECONDS < REPLICA_MAX_LAG_SECONDS + REPLICA_CHECK_SECONDS:
    raise ImproperlyConfigured(
        "REPLICA_READ_YOUR_WRITES_SECONDS must be at least REPLICA_MAX_LAG_SECONDS + "
        "REPLICA_CHECK_SECONDS, or a change can be missing from the next page."
    )

# Long work runs as tasks; the database-backed queue needs no other server. Workers:
# `python manage.py db_worker` (as many as needed, on any machine that reaches the database).
TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
# A running job whose worker has not reported for this long is marked failed.
JOB_HEARTBEAT_TIMEOUT = env_int("JOB_HEARTBEAT_TIMEOUT", 60)
# CSV imports: the largest file accepted, and where uploads wait between preview and import.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 100 * 1024 * 1024)
IMPORT_DIR = Path(os.environ.get("IMPORT_DIR", str(BASE_DIR / "var" / "imports")))
# Contacts per transaction in bulk label changes: smaller means shorter locks, more statements.
BULK_CHUNK_SIZE = env_int("BULK_CHUNK_SIZE", 20_000)
# Days a bulk change's records are kept, and so how long it can be undone.
LABEL_RECORD_DAYS = env_int("LABEL_RECORD_DAYS", 30)
# Run by every task worker when it starts and then once a day (`manage.py db_worker`): upkeep
# that needs no cron. Named by path, so that the base app imports no feature app.
WORKER_DAILY = ["contacts.services.label_records_prune"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords, the user name is
# locked out from every address, and the address for every user name, for
# LOGIN_LOCKOUT_MINUTES. The user name lock stops guessing one account from many addresses, the
# address lock stops trying one password on many accounts; the pair alone would stop neither.
# `manage.py axes_reset_username NAME` / `axes_reset_ip ADDRESS` / `axes_reset` unlock early.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
if AXES_FAILURE_LIMIT < 1 or LOGIN_LOCKOUT_MINUTES < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_MINUTES must be at least 1.")
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Attempts during a lockout neither count nor extend it, so the page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "trackly.lockout.lockout_response"
# Behind a proxy every request comes from the proxy's address: use the one it saw instead.
AXES_CLIENT_IP_CALLABLE = (
    "trackly.lockout.client_ip_behind_proxy" if env_bool("BEHIND_TLS_PROXY", False) else None
)
# No start-up banner on every command; failures are still logged as warnings.
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` gathers the static files that WhiteNoise serves with DEBUG off.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Only the app's own scripts and styles; no inline code, no third-party origins.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# The JSON API (the `api` package). django-ninja is an app so that its Swagger UI files are served
# from here, not from a CDN.
INSTALLED_APPS += ["ninja"]
# The cache all processes share; the API's rate limits live in it: Redis with
# CACHE_URL=redis://host:6379/0; on SQLite, a SQLite file of its own, so that counting a request
# never waits for the database's write lock; on PostgreSQL, a table of the database
# (`manage.py createcachetable` makes it).
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured("CACHE_URL must start with redis://, rediss:// or unix://.")
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    CACHES = {
        "default": {
            "BACKEND": "trackly.caches.SQLiteCache",
            "LOCATION": os.environ.get("SQLITE_CACHE_PATH", str(BASE_DIR / "cache.sqlite3")),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "trackly.caches.AtomicDatabaseCache",
            "LOCATION": "trackly_cache",
            # Culling starts beyond this many entries; rate counters live three seconds.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
# Requests a second per API key, and how many more a burst may add; 0 turns the limit off.
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 50)
API_RATE_BURST = env_int("API_RATE_BURST", 10)
# The largest JSON body the API reads, in bytes; CSV uploads have their own limit.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
