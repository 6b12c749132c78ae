"""Real daphne processes on the test database, for tests that speak to the service as
outside clients and browsers do.

The servers share the pytest test database (a file on SQLite, the test database on
PostgreSQL), so tests create users with the ordinary factories and log them in
over HTTP. Tests here are transactional: what they write is committed and visible
to the servers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """The test database, as a DATABASE_URL a server process can use."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(settings['NAME']).resolve()}"
    user = settings["USER"] or ""
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    auth = f"{user}{password}@" if user else ""
    host = settings["HOST"] or "127.0.0.1"
    port = f":{settings['PORT']}" if settings["PORT"] else ""
    return f"postgres://{auth}{host}{port}/{settings['NAME']}"


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis for multi-process tests: REDIS_URL, or the machine's default one."""
    url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    if not redis_reachable(url):
        require_service(f"Redis at {url} is not reachable")
    return url


@dataclass
class LiveServer:
    """One or more daphne processes serving the same database (and Redis, if several)."""

    env: dict[str, str]
    log_dir: Path
    # daphne's own options (config/serve.py passes them through), e.g. a short ping interval
    options: tuple[str, ...] = ()
    # "config.serve" (what we ship) or "daphne" (plain daphne, as outside rigs start it)
    program: str = "config.serve"
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start(self, count: int = 1) -> None:
        for _ in range(count):
            port = free_port()
            log = open(self.log_dir / f"daphne-{port}.log", "wb")  # noqa: SIM115
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self.program,
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    *self.options,
                    "config.asgi:application",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self.ports.append(port)
            self.processes.append(process)
            wait_healthy(f"http://127.0.0.1:{port}", process, self.log_dir / f"daphne-{port}.log")

    def kill(self, index: int) -> None:
        """SIGKILL one process, as a crash would."""
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait(10)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def log(self, index: int = 0) -> str:
        return (self.log_dir / f"daphne-{self.ports[index]}.log").read_text(errors="replace")


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"daphne exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne at {url} did not become healthy:\n{log.read_text()[-3000:]}")


def server_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "DJANGO_SETTINGS_MODULE"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": "e2e-" + uuid.uuid4().hex,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": database_url(),
            "CHAT_FAST_PASSWORD_HASHER": "1",
            "CHAT_LAYER_PREFIX": "e2e" + uuid.uuid4().hex[:8],
            "CHAT_BACKGROUND_WORK": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("REDIS_URL", None)
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    env.update(overrides)
    return env


@pytest.fixture
def daphne_factory(transactional_db, tmp_path) -> Iterator:
    """Start servers with chosen settings: daphne_factory(processes=2, REDIS_URL=...),
    daphne_factory(options=("--ping-interval", "1")), daphne_factory(program="daphne")."""
    servers: list[LiveServer] = []

    def start(
        processes: int = 1,
        options: tuple[str, ...] = (),
        program: str = "config.serve",
        **env: str,
    ) -> LiveServer:
        server = LiveServer(
            env=server_env(**env), log_dir=tmp_path, options=options, program=program
        )
        servers.append(server)
        server.start(processes)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def daphne_server(daphne_factory) -> LiveServer:
    """One daphne process on the test database."""
    return daphne_factory()
