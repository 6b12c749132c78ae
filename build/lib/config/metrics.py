"""Prometheus metrics, aggregated over every daphne process when
PROMETHEUS_MULTIPROC_DIR is set (prometheus_client's multi-process mode).

Label values are small fixed sets (roles, frame types, error codes), never
user input: an unknown frame type is counted as "unknown".
"""

from __future__ import annotations

import atexit
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if MULTIPROCESS:
    # This process's live gauges (open sockets) must not outlive it in the shared directory.
    atexit.register(_multiprocess.mark_process_dead, os.getpid())

SOCKETS_OPEN = Gauge(
    "chat_sockets_open", "Open chat sockets", ["role"], multiprocess_mode="livesum"
)
FRAMES_IN = Counter("chat_frames_in", "Frames received from clients", ["type"])
FRAMES_OUT = Counter("chat_frames_out", "Frames sent to clients", ["type"])
ERRORS = Counter("chat_errors", "Error frames sent to clients", ["code"])
QUEUE_DEPTH = Gauge(
    "chat_queue_depth", "Queued threads by priority", ["priority"], multiprocess_mode="mostrecent"
)
WAIT_SECONDS = Histogram(
    "chat_wait_seconds",
    "Time a thread waited in the queue before a coach took it",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600),
)
MESSAGE_WRITE_SECONDS = Histogram(
    "chat_message_write_seconds",
    "Time to store a message (one database hop)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)


def render() -> tuple[bytes, str]:
    """The metrics page body and its content type."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
