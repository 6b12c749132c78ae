"""Reading settings from the environment, with one clear error per mistake.

Every function here raises :class:`ConfigError` with a sentence an operator can act
on; ``config/settings.py`` turns it into a one-line exit at start-up, so a bad
``DATABASE_URL`` never surfaces later as a traceback deep inside a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


class ConfigError(Exception):
    """A setting in the environment is missing or malformed."""


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        # An empty line in an env file means "not set", not "off".
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use 1 or 0)")


def env_int(environ: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is below its minimum of {minimum}")
    return value


def env_list(
    environ: Mapping[str, str], name: str, default: list[str], *, required: bool = False
) -> list[str]:
    raw = environ.get(name)
    if raw is None:
        return list(default)
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if required and not items:
        # An empty ALLOWED_HOSTS starts "fine" and then answers every request with 400.
        raise ConfigError(f"{name} is set but empty: name at least one value, or unset it")
    return items


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def env_log_level(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name}={raw!r} is not one of: {', '.join(LOG_LEVELS)}")
    return level


def env_writable_dir(environ: Mapping[str, str], name: str) -> str:
    """A folder this process may write to, or "" when the variable is unset."""
    raw = environ.get(name, "")
    if not raw:
        return ""
    path = Path(raw)
    if not path.is_dir():
        raise ConfigError(f"{name}={raw!r} is not an existing folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{name}={raw!r} is not writable by this process")
    return raw


def database_config(
    url: str | None, *, default_sqlite: Path, cwd: Path, sqlite_busy_timeout: int = 20
) -> dict[str, Any]:
    """Django's DATABASES["default"] for a ``DATABASE_URL``.

    ``sqlite:///relative/path`` is relative to the working directory and
    ``sqlite:////absolute/path`` is absolute, as in dj-database-url.
    ``postgres://user:password@host:port/name`` uses Django's connection pool.
    A SQLite writer waits up to ``sqlite_busy_timeout`` seconds for the write lock.
    """
    if not url:
        return _sqlite_config(default_sqlite, sqlite_busy_timeout)
    parts = _split(url, "DATABASE_URL")
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
            raise ConfigError(
                f"DATABASE_URL {url!r} is not sqlite:///relative/path or sqlite:////absolute/path"
            )
        path = Path(unquote(parts.path[1:]))
        if not path.is_absolute():
            path = cwd / path
        if not path.parent.is_dir():
            raise ConfigError(
                f"DATABASE_URL names {path}, but its folder {path.parent} does not exist "
                "(an absolute path takes four slashes: sqlite:////tmp/chat.sqlite3)"
            )
        return _sqlite_config(path, sqlite_busy_timeout)
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError(f"DATABASE_URL {_redact(url)!r} names no database")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"DATABASE_URL {_redact(url)!r} has a malformed port") from None
        options: dict[str, Any] = {
            # Under ASGI every sync hop may run on a different thread: persistent
            # per-thread connections leak, so CONN_MAX_AGE stays 0 and the pool
            # keeps connections warm instead.
            "pool": {"min_size": 2, "max_size": 16, "timeout": 5},
            "connect_timeout": 3,
            # Statements that ask to be prepared are (chat/prepared.py); Django's own
            # cursors bind on the client and never prepare. Django's default, None,
            # turns preparing off for poolers in transaction mode, which this
            # deployment does not use (docs/operations.md says which poolers fit).
            "prepare_threshold": 5,
        }
        for key, values in parse_qs(parts.query).items():
            options[key] = values[-1]
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": 0,
            "OPTIONS": options,
        }
    raise ConfigError(
        f"DATABASE_URL scheme {scheme or '(none)'!r} is not supported: use sqlite:// or postgres://"
    )


def _sqlite_config(path: Path, busy_timeout: int) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            # Writers wait for each other instead of failing with "database is locked";
            # IMMEDIATE takes the write lock at BEGIN, so a transaction that reads
            # then writes cannot deadlock against another one doing the same.
            "timeout": busy_timeout,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


def channel_layers_config(
    redis_url: str | None, *, layer: str, prefix: str
) -> dict[str, dict[str, Any]]:
    """CHANNEL_LAYERS for a ``REDIS_URL`` (comma-separated to shard over several servers)."""
    if not redis_url:
        # One process only: the layer lives in this process's memory.
        return {
            "default": {
                "BACKEND": "channels.layers.InMemoryChannelLayer",
                "CONFIG": {"capacity": 1000, "expiry": 60},
            }
        }
    hosts = []
    for address in (item.strip() for item in redis_url.split(",")):
        parts = _split(address, "REDIS_URL entry")
        if parts.scheme not in {"redis", "rediss", "unix"} or not (parts.hostname or parts.path):
            raise ConfigError(f"REDIS_URL entry {_redact(address)!r} is not redis://host:port/db")
        hosts.append(
            {
                "address": address,
                # redis-py 8 gave sockets a read timeout, which kills the layer's
                # blocking pop under load; the layer must wait for as long as it takes.
                "socket_timeout": None,
                # ...but connecting to a Redis that is down must fail fast, so the
                # frames that needed it get `unavailable` instead of hanging.
                "socket_connect_timeout": 2,
            }
        )
    if layer == "pubsub":
        return {
            "default": {
                "BACKEND": "chat.redis_layer.PipelinedPubSubChannelLayer",
                "CONFIG": {"hosts": hosts, "prefix": prefix},
            }
        }
    if layer == "core":
        return {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": hosts,
                    "prefix": prefix,
                    # The capacity counts a whole process's undelivered events, not a
                    # socket's: the layer keeps one Redis list per process for all its
                    # sockets. At 1,000, a process running a few seconds behind under
                    # load dropped stored, acked messages (docs/benchmarks.md); the
                    # expiry still clears what a dead process leaves behind.
                    "capacity": 20000,
                    "expiry": 60,
                    "group_expiry": 86400,
                },
            }
        }
    raise ConfigError(f"CHANNEL_LAYER={layer!r} is not one of: pubsub, core")


def _split(url: str, what: str) -> SplitResult:
    """``urlsplit``, whose ValueError ("Invalid IPv6 URL") would otherwise be a traceback."""
    try:
        return urlsplit(url)
    except ValueError as error:
        raise ConfigError(f"{what} is not a URL ({error})") from None


def _redact(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
