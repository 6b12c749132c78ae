"""Log filters: the layer's teardown noise goes, real errors stay; SQL and its values never
reach the log."""

from __future__ import annotations

import asyncio
import logging

from config.logging import LayerTeardownNoise
from tests.support.processes import run_python


def record(message: str, error: BaseException | None) -> logging.LogRecord:
    exc_info = (type(error), error, None) if error else None
    return logging.LogRecord(
        "channels_redis.pubsub", logging.ERROR, __file__, 1, message, (), exc_info
    )


def test_a_cancelled_unsubscribe_is_dropped():
    noise = record("Unexpected exception while cleaning-up channel:", asyncio.CancelledError())
    assert LayerTeardownNoise().filter(noise) is False


def test_other_errors_pass():
    real = record("Unexpected exception while cleaning-up channel:", ConnectionError("down"))
    assert LayerTeardownNoise().filter(real) is True
    assert LayerTeardownNoise().filter(record("Unexpected exception in receive task", None))


def test_sql_with_its_parameters_is_never_logged_even_at_debug(tmp_path):
    # LOG_LEVEL=DEBUG with DEBUG=1: Django would log each statement with its values,
    # a member's message among them.
    probe = (
        "import django, logging; django.setup();"
        "from django.db import connection;"
        "cursor = connection.cursor();"
        "cursor.execute('SELECT %s', ['a secret body']);"
        "print('done')"
    )
    result = run_python(
        "-c",
        probe,
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="1",
        LOG_LEVEL="DEBUG",
        DATABASE_URL=f"sqlite:///{tmp_path / 'log.sqlite3'}",
    )
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout
    assert "a secret body" not in result.stdout + result.stderr
