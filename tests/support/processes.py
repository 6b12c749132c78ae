"""Running this project's Python in a fresh process, as an operator or a rig would: the
settings come from the environment given here, not from the test run's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Settings a developer's shell may carry that would change what the process sees.
_SETTINGS = (
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "LOG_LEVEL",
    "ALLOWED_HOSTS",
    "PROMETHEUS_MULTIPROC_DIR",
)


def fresh_environment(**env: str) -> dict[str, str]:
    """This process's environment without Django's, pytest's and the settings' variables,
    plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    for name in _SETTINGS:
        clean.pop(name, None)
    clean.update(env)
    return clean


def run_python(*arguments: str, **env: str) -> subprocess.CompletedProcess:
    """`python ARGUMENTS` in the repository, with fresh_environment(**env); output captured."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=fresh_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
