"""Test overrides of trackly.settings."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-that-is-long-enough-for-the-checks")

from trackly.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The test client and the live server speak plain HTTP.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# SQLite tests use a file, as production does, so that threads and worker processes share it
# with real locking (an in-memory database cannot show that). One file per test process.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"trackly-test-{os.getpid()}.sqlite3")
    }
# The rate-limit counters too; processes started by the tests are given this one's.
if CACHES["default"]["BACKEND"] == "trackly.caches.SQLiteCache":  # noqa: F405
    CACHES["default"]["LOCATION"] = os.environ.get(  # noqa: F405
        "SQLITE_CACHE_PATH",
        os.path.join(tempfile.gettempdir(), f"trackly-test-{os.getpid()}-cache.sqlite3"),
    )

# Static files come straight from the app directories; nothing is collected for tests.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

# Jobs run inside the request in tests; the worker tests run real worker processes, which set
# TASKS_BACKEND to the database queue.
TASKS = {
    "default": {
        "BACKEND": os.environ.get(
            "TASKS_BACKEND", "django.tasks.backends.immediate.ImmediateBackend"
        ),
        "QUEUES": ["default"],
    }
}
