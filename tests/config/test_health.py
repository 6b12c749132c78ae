"""Liveness, readiness (naming what is down) and metrics."""

from __future__ import annotations

import json

import pytest
from channels.layers import channel_layers
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_says_the_process_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_and_channel_layer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok"}


@pytest.mark.parametrize("layer", ["core", "pubsub"])
def test_readyz_names_an_unreachable_redis_and_answers_503(client, layer):
    from config.env import channel_layers_config

    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    layers = channel_layers_config("redis://127.0.0.1:1/0", layer=layer, prefix="down")
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["down"] == ["channel_layer"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"].startswith("down")
    assert "127.0.0.1:1" not in json.dumps(body)


def test_readyz_names_an_unreachable_database(client, monkeypatch):
    from django.db import OperationalError

    from config import health

    async def probe():
        raise OperationalError("connection to server at 10.0.0.9 refused")

    monkeypatch.setattr(health, "_database_round_trip", probe)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["database"]
    assert body["checks"]["database"] == "down: OperationalError"
    assert "10.0.0.9" not in json.dumps(body)


def test_metrics_are_prometheus_text(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in ("chat_sockets_open", "chat_frames_in_total", "chat_errors_total"):
        assert name in text
