"""Settings for the test suite: SQLite, or DATABASE_URL when it is set."""

import os

import dj_database_url

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "phonenumber_field",
    "django_distinct",
    "tests.testapp",
]
AUTH_USER_MODEL = "testapp.User"

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    }

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PHONENUMBER_DEFAULT_REGION = "US"

DISTINCT = {
    "API_KEY": "test-api-key",
    # Tests that start other processes point them at their double this way.
    "BASE_URL": os.environ.get("DISTINCT_TEST_BASE_URL", "https://distinct.test"),
    "TIMEOUT": (2.0, 2.0),
    "CLAIM_TIMEOUT": int(os.environ.get("DISTINCT_TEST_CLAIM_TIMEOUT", "300")),
    "TASK_BACKEND": os.environ.get("DISTINCT_TEST_TASK_BACKEND") or None,
    "BACKOFF_BASE": float(os.environ.get("DISTINCT_TEST_BACKOFF", "60")),
}

# Only the Celery tests use these: a broker on this machine, and a queue of
# the test's own so that runs never pick up each other's tasks.
CELERY_BROKER_URL = os.environ.get("DISTINCT_TEST_BROKER", "redis://127.0.0.1:6379/15")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("DISTINCT_TEST_QUEUE", "distinct-tests")
