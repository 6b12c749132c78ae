"""The test suite's settings: the real settings, with test speed and isolation set
through the same environment variables (before the base module reads them)."""

import os

# Unit tests run the periodic work by hand, and log users in thousands of times.
os.environ.setdefault("CHAT_BACKGROUND_WORK", "0")
os.environ.setdefault("CHAT_FAST_PASSWORD_HASHER", "1")
# Each run keeps to its own keys on a shared Redis.
os.environ.setdefault("CHAT_LAYER_PREFIX", f"test{os.getpid()}")

from config.settings import *  # noqa: F403
from config.settings import DATABASES

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not SQLite's shared-cache memory database: tests run the socket
    # actions on other threads, and shared-cache locking is not SQLite's usual
    # locking (it fails at once instead of waiting out the busy timeout).
    name = DATABASES["default"]["NAME"]
    DATABASES["default"]["TEST"] = {"NAME": f"{name}-test-{os.getpid()}"}
