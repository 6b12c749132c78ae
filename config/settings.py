"""Settings: one module, every difference between machines comes from the environment.

See README.md ("Configuration") for the variables. A malformed value stops the
process here with one line on stderr.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from config.env import (
    ConfigError,
    channel_layers_config,
    database_config,
    env_bool,
    env_int,
    env_list,
    env_log_level,
    env_writable_dir,
)

BASE_DIR = Path(__file__).resolve().parent.parent
environ = os.environ


def _local_secret_key() -> str:
    """A per-checkout key for the demo and development, kept out of the repository."""
    path = BASE_DIR / ".demo-secret-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        path.chmod(0o600)
        return key


try:
    DEBUG = env_bool(environ, "DEBUG", True)
    # Demo mode (set by `manage.py demo`) may run with DEBUG=0 and no SECRET_KEY.
    DEMO_MODE = env_bool(environ, "CHAT_DEMO", False)
    HTTPS = env_bool(environ, "HTTPS", False)
    SECRET_KEY = environ.get("SECRET_KEY", "")
    if not SECRET_KEY:
        if not DEBUG and not DEMO_MODE:
            raise ConfigError("DEBUG=0 needs a SECRET_KEY (or run `python manage.py demo`)")
        SECRET_KEY = _local_secret_key()
    # Rotate keys without logging everyone out: the old key stays valid here for a while.
    SECRET_KEY_FALLBACKS = env_list(environ, "SECRET_KEY_FALLBACKS", [])
    ALLOWED_HOSTS = env_list(
        environ, "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"], required=True
    )
    CSRF_TRUSTED_ORIGINS = env_list(environ, "CSRF_TRUSTED_ORIGINS", [])
    DATABASES = {
        "default": database_config(
            environ.get("DATABASE_URL"),
            default_sqlite=BASE_DIR / "db.sqlite3",
            cwd=Path.cwd(),
            # How long a SQLite write waits for another writer before `unavailable`.
            sqlite_busy_timeout=env_int(environ, "SQLITE_BUSY_TIMEOUT", 20, minimum=1),
        )
    }
    CHANNEL_LAYERS = channel_layers_config(
        environ.get("REDIS_URL"),
        layer=environ.get("CHANNEL_LAYER", "pubsub").strip().lower(),
        prefix=environ.get("CHAT_LAYER_PREFIX", "chat"),
    )
    REDIS_URL = environ.get("REDIS_URL", "")
    # Database threads serving socket frames (chat/hop.py). PostgreSQL's pool holds 16
    # connections; SQLite serializes writers, so more threads there only wait.
    sqlite = DATABASES["default"]["ENGINE"].endswith("sqlite3")
    CHAT_DB_THREADS = env_int(environ, "CHAT_DB_THREADS", 2 if sqlite else 8, minimum=1)

    # Routing and socket policy (DESIGN.md, "Configuration").
    CHAT_COACH_GRACE_SECONDS = env_int(environ, "CHAT_COACH_GRACE_SECONDS", 60)
    # A daphne process that has not heartbeaten for this long is dead: its sockets are
    # forgotten and its coaches' grace periods start (heartbeats every third of it).
    CHAT_WORKER_STALE_SECONDS = env_int(environ, "CHAT_WORKER_STALE_SECONDS", 15, minimum=3)
    CHAT_UNANSWERED_SECONDS = env_int(environ, "CHAT_UNANSWERED_SECONDS", 300, minimum=1)
    CHAT_RATE_PER_10S = env_int(environ, "CHAT_RATE_PER_10S", 30, minimum=1)
    # Logout and deactivation close sockets at once through the channel layer; should
    # that event be lost, a socket's next frame this long after its last check closes it.
    CHAT_SESSION_RECHECK_SECONDS = env_int(environ, "CHAT_SESSION_RECHECK_SECONDS", 30)
    CHAT_MAX_SOCKETS_PER_USER = env_int(environ, "CHAT_MAX_SOCKETS_PER_USER", 10, minimum=1)
    CHAT_URGENT_WEIGHT = env_int(environ, "CHAT_URGENT_WEIGHT", 2, minimum=1)
    CHAT_EMERGENCY_NUMBER = environ.get("CHAT_EMERGENCY_NUMBER", "911")
    # The per-process ticker and queue feed (routing/ticker.py); unit tests run them by hand.
    CHAT_BACKGROUND_WORK = env_bool(environ, "CHAT_BACKGROUND_WORK", True)
    # Load generators log in thousands of users; PBKDF2 costs ~0.4 s a login here.
    # Refused behind TLS: a fast hasher is for loopback test rigs only.
    FAST_PASSWORD_HASHER = env_bool(environ, "CHAT_FAST_PASSWORD_HASHER", False)
    if FAST_PASSWORD_HASHER and HTTPS:
        raise ConfigError("CHAT_FAST_PASSWORD_HASHER=1 is for test rigs and refused with HTTPS=1")
    LOG_LEVEL = env_log_level(environ, "LOG_LEVEL", "INFO")
    # prometheus_client writes its files there at import; a missing folder would be a
    # traceback from the first module that counts something.
    env_writable_dir(environ, "PROMETHEUS_MULTIPROC_DIR")
except ConfigError as error:
    sys.exit(f"configuration error: {error}")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "accounts",
    "chat",
    "routing",
    "coaches",
    "members",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.service",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if FAST_PASSWORD_HASHER:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
LOGIN_FAILURES_ALLOWED = 5
LOGIN_LOCKOUT_SECONDS = 300

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Inside the config package, so an installed copy (pip install .) carries them too.
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 12
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The TLS terminator in front (nginx in docker-compose.yml) says the scheme.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"layer_teardown": {"()": "config.logging.LayerTeardownNoise"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["layer_teardown"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # Django logs every SQL statement with its parameters at DEBUG when DEBUG=1:
        # message bodies, which never go into logs. Its "django" logger stops at INFO
        # by default; this keeps it so if someone turns that logger up.
        "django.db.backends": {"level": "INFO"},
    },
}
