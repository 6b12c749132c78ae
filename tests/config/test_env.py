"""Settings come from the environment; a mistake stops the process with one clear line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from config.env import (
    ConfigError,
    channel_layers_config,
    database_config,
    env_bool,
    env_int,
    env_log_level,
)
from tests.support.processes import run_python

ROOT = Path(__file__).resolve().parents[2]


def test_no_database_url_means_the_sqlite_file_with_wal_and_immediate_transactions(tmp_path):
    config = database_config(None, default_sqlite=tmp_path / "db.sqlite3", cwd=tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "db.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["timeout"] > 0


def test_sqlite_urls_relative_and_absolute(tmp_path):
    (tmp_path / "data").mkdir()
    relative = database_config("sqlite:///data/chat.db", default_sqlite=Path("x"), cwd=tmp_path)
    assert relative["NAME"] == str(tmp_path / "data" / "chat.db")
    absolute = database_config(f"sqlite:///{tmp_path}/chat.db", default_sqlite=Path("x"), cwd=ROOT)
    assert absolute["NAME"] == f"{tmp_path}/chat.db"


def test_sqlite_url_into_a_missing_folder_says_how_to_write_an_absolute_path(tmp_path):
    with pytest.raises(ConfigError, match="four slashes"):
        database_config("sqlite:///nowhere/chat.db", default_sqlite=Path("x"), cwd=tmp_path)


def test_postgres_url_uses_the_connection_pool_and_no_persistent_connections():
    config = database_config(
        "postgres://chat:s%40cret@db.internal:6543/coaching?sslmode=require",
        default_sqlite=Path("x"),
        cwd=ROOT,
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("coaching", "chat", "s@cret")
    assert (config["HOST"], config["PORT"]) == ("db.internal", "6543")
    assert config["CONN_MAX_AGE"] == 0
    assert config["OPTIONS"]["pool"]["max_size"] >= 4
    assert config["OPTIONS"]["sslmode"] == "require"


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x/y",
        "postgres://host/",
        "postgres://host:notaport/db",
        "sqlite://relative.db",
        "junk",
    ],
)
def test_malformed_database_urls_are_refused(url):
    with pytest.raises(ConfigError):
        database_config(url, default_sqlite=Path("x"), cwd=ROOT)


def test_errors_never_echo_the_database_password():
    with pytest.raises(ConfigError) as error:
        database_config("postgres://u:hunter2@h:bad/db", default_sqlite=Path("x"), cwd=ROOT)
    assert "hunter2" not in str(error.value)


def test_no_redis_url_means_the_in_memory_layer():
    layers = channel_layers_config(None, layer="pubsub", prefix="p")
    assert layers["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


@pytest.mark.parametrize(
    ("layer", "backend"),
    [
        ("pubsub", "chat.redis_layer.PipelinedPubSubChannelLayer"),
        ("core", "channels_redis.core.RedisChannelLayer"),
    ],
)
def test_redis_url_selects_channels_redis_without_a_read_timeout(layer, backend):
    layers = channel_layers_config("redis://127.0.0.1:6379/0", layer=layer, prefix="p")
    assert layers["default"]["BACKEND"] == backend
    (host,) = layers["default"]["CONFIG"]["hosts"]
    assert host["address"] == "redis://127.0.0.1:6379/0"
    # The redis-py 8 trap: a socket read timeout kills the layer's blocking pop.
    assert host["socket_timeout"] is None


def test_comma_separated_redis_urls_shard_the_layer():
    layers = channel_layers_config("redis://a:6379/0,redis://b:6379/0", layer="core", prefix="p")
    assert [h["address"] for h in layers["default"]["CONFIG"]["hosts"]] == [
        "redis://a:6379/0",
        "redis://b:6379/0",
    ]


def test_unknown_layer_and_bad_redis_url_are_refused():
    with pytest.raises(ConfigError, match="CHANNEL_LAYER"):
        channel_layers_config("redis://h:6379/0", layer="rabbit", prefix="p")
    with pytest.raises(ConfigError, match="REDIS_URL"):
        channel_layers_config("http://h:6379", layer="core", prefix="p")


def test_booleans_and_numbers():
    assert env_bool({"X": "0"}, "X", True) is False
    assert env_bool({}, "X", True) is True
    with pytest.raises(ConfigError):
        env_bool({"X": "maybe"}, "X", True)
    assert env_int({"N": "45"}, "N", 1) == 45
    with pytest.raises(ConfigError):
        env_int({"N": "ten"}, "N", 1)


def _manage_check(**env: str) -> subprocess.CompletedProcess:
    return run_python("manage.py", "check", **env)


def _plain_daphne(**env: str) -> subprocess.CompletedProcess:
    # How outside load generators start it: daphne imports config.asgi, which loads settings.
    address = ("-b", "127.0.0.1", "-p", "1")
    return run_python("-m", "daphne", *address, "config.asgi:application", **env)


BAD_CONFIGURATIONS = [
    ({"DEBUG": "0"}, "DEBUG=0 needs a SECRET_KEY"),
    ({"DATABASE_URL": "mysql://nope/db"}, "DATABASE_URL scheme 'mysql' is not supported"),
    ({"DATABASE_URL": "postgres://u:p@[bad/db"}, "DATABASE_URL is not a URL"),
    ({"DATABASE_URL": "postgres://u@db:port/chat"}, "has a malformed port"),
    ({"DATABASE_URL": "sqlite:////no/such/folder/chat.sqlite3"}, "does not exist"),
    ({"REDIS_URL": "redis://[bad"}, "REDIS_URL entry is not a URL"),
    ({"REDIS_URL": "http://redis:6379"}, "is not redis://host:port/db"),
    ({"DEBUG": "perhaps"}, "DEBUG='perhaps' is not a boolean"),
    ({"CHAT_RATE_PER_10S": "lots"}, "CHAT_RATE_PER_10S='lots' is not a whole number"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is not one of"),
    ({"ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS is set but empty"),
    ({"PROMETHEUS_MULTIPROC_DIR": "/no/such/folder"}, "is not an existing folder"),
]


@pytest.mark.parametrize(("env", "says"), BAD_CONFIGURATIONS)
def test_bad_configuration_stops_the_process_with_one_clear_line(env, says):
    result = _manage_check(**env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: ")
    assert says in lines[0]


@pytest.mark.parametrize(("env", "says"), BAD_CONFIGURATIONS[:6])
def test_plain_daphne_with_bad_configuration_says_one_line_too(env, says):
    result = _plain_daphne(**env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]], result.stderr
    assert lines[0].startswith("configuration error: ") and says in lines[0]


def test_log_level_is_read_in_any_case():
    assert env_log_level({"LOG_LEVEL": "warning"}, "LOG_LEVEL", "INFO") == "WARNING"
    assert env_log_level({}, "LOG_LEVEL", "INFO") == "INFO"


def test_debug_off_with_a_secret_key_starts():
    result = _manage_check(DEBUG="0", SECRET_KEY="x" * 50, ALLOWED_HOSTS="127.0.0.1,chat.example")
    assert result.returncode == 0, result.stderr


def test_demo_mode_runs_without_a_secret_key():
    result = _manage_check(DEBUG="0", CHAT_DEMO="1")
    assert result.returncode == 0, result.stderr
