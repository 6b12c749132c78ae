from __future__ import annotations

import os

import pytest
from channels.layers import channel_layers

from chat.layer import recovery
from routing.queue_feed import feed
from routing.triage import catalogue

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(reason: str) -> None:
    """A missing service fails the test under CI, and skips it on a developer's machine."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def fresh_process_state():
    """Each test starts with an empty channel layer, queue feed and layer recovery (all
    per process)."""
    channel_layers.backends.clear()
    feed.__init__()
    recovery.__init__()
    yield
    channel_layers.backends.clear()
    feed.__init__()
    recovery.__init__()


@pytest.fixture(autouse=True)
def seeded_catalogue(request: pytest.FixtureRequest):
    """The tag catalogue and triage rules the migration seeds, for every database test.

    Transactional tests flush every table afterwards, seeded rows included.
    """
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        yield
        return
    from tests.support.catalogue import ensure_catalogue

    transactional = marker.kwargs.get("transaction", False)
    request.getfixturevalue("transactional_db" if transactional else "db")
    ensure_catalogue()
    catalogue.invalidate()
    yield


@pytest.fixture(scope="session", autouse=True)
def close_connection_pools(django_db_setup):
    """PostgreSQL pools keep connections open; close them before the test database is dropped."""
    yield
    from django.db import connections

    for alias in connections:
        close_pool = getattr(connections[alias], "close_pool", None)
        if close_pool is not None:
            close_pool()


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own, on a free port, to stop and start at will: the
    machine's shared Redis is never stopped."""
    from tests.support.redis_server import RedisServer  # it imports require_service from here

    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
