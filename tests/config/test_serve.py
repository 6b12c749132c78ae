"""The launcher (config/serve.py): daphne on the event loop CHAT_EVENT_LOOP names.

That it serves, on uvloop, is proven by every test under tests/e2e (their daphne
processes are started through it; tests/e2e/test_live_chat.py reads the log line).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def launch(*arguments: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "config.serve", *arguments],
        cwd=ROOT,
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unknown_event_loop_is_refused_by_name() -> None:
    result = launch("config.asgi:application", CHAT_EVENT_LOOP="tokio")

    assert result.returncode != 0
    assert "CHAT_EVENT_LOOP must be uvloop or asyncio, not 'tokio'" in result.stderr


def test_daphnes_own_options_pass_through() -> None:
    result = launch("--help")

    assert result.returncode == 0
    assert "--proxy-headers" in result.stdout
