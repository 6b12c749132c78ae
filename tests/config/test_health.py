"""Liveness, readiness (naming what is down) and metrics, as a load balancer sees them."""

from __future__ import annotations

import json

import pytest
from channels.layers import channel_layers
from channels.testing import HttpCommunicator
from django.test import override_settings

from config.asgi import application
from tests.support.processes import run_python

pytestmark = pytest.mark.django_db(transaction=True)


async def get(path: str, host: bytes = b"10.1.2.3:8000") -> tuple[int, bytes, dict]:
    # Probes come by address, with a Host that is not in ALLOWED_HOSTS, over plain HTTP.
    communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", host)])
    response = await communicator.get_response(timeout=10)
    return response["status"], response["body"], dict(response["headers"])


async def test_healthz_says_the_process_is_alive_whatever_the_host():
    status, body, headers = await get("/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers[b"cache-control"] == b"no-store"


async def test_healthz_answers_behind_https_redirects_too():
    with override_settings(SECURE_SSL_REDIRECT=True):
        status, _, _ = await get("/healthz")
    assert status == 200


async def test_readyz_checks_database_and_channel_layer():
    status, body, _ = await get("/readyz")
    assert status == 200
    assert json.loads(body)["checks"] == {"database": "ok", "channel_layer": "ok"}


@pytest.mark.parametrize("layer", ["core", "pubsub"])
async def test_readyz_names_an_unreachable_redis_and_answers_503(layer):
    from config.env import channel_layers_config

    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    layers = channel_layers_config("redis://127.0.0.1:1/0", layer=layer, prefix="down")
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        status, body, _ = await get("/readyz")
    assert status == 503
    report = json.loads(body)
    assert report["status"] == "unavailable"
    assert report["down"] == ["channel_layer"]
    assert report["checks"]["database"] == "ok"
    assert report["checks"]["channel_layer"].startswith("down")
    assert report["backends"]["channel_layer"] == "redis"
    assert b"127.0.0.1:1" not in body


async def test_readyz_names_an_unreachable_database(monkeypatch):
    from django.db import OperationalError

    from config import health

    async def refused():
        raise OperationalError("connection to server at 10.0.0.9 refused")

    monkeypatch.setattr(health, "_database_round_trip", refused)
    status, body, _ = await get("/readyz")
    assert status == 503
    report = json.loads(body)
    assert report["down"] == ["database"]
    assert report["checks"]["database"] == "down: OperationalError"
    assert b"10.0.0.9" not in body


async def test_metrics_are_prometheus_text():
    status, body, headers = await get("/metrics")
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/plain")
    for name in (b"chat_sockets_open", b"chat_frames_in_total", b"chat_errors_total"):
        assert name in body


async def test_other_paths_still_check_the_host():
    communicator = HttpCommunicator(
        application, "GET", "/accounts/login/", headers=[(b"host", b"evil.example")]
    )
    response = await communicator.get_response(timeout=10)
    assert response["status"] == 400


def test_readyz_names_a_database_that_was_never_migrated(tmp_path):
    # Plain daphne on a new database answered "ok" while every login failed with
    # "no such table": a load balancer must not send traffic there.
    probe = (
        "import asyncio, json, django; django.setup();"
        "from config.health import readiness;"
        "print(json.dumps(asyncio.run(readiness())))"
    )
    result = run_python(
        "-c",
        probe,
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'new.sqlite3'}",
        CHAT_BACKGROUND_WORK="0",
    )
    assert result.returncode == 0, result.stderr
    status, report = json.loads(result.stdout)
    assert status == 503
    assert report["down"] == ["database"]
    assert report["checks"]["database"] == "down: MigrationsPending"
