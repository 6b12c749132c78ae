"""Statements PostgreSQL parses and plans once per connection: the few every message makes.

Django talks to PostgreSQL with client-side binding, and turns psycopg's prepared
statements off (for connection poolers): psycopg writes the values into the text and
the server parses and plans the whole statement afresh every time. For the one
statement that stores a message (chat/actions/messages.py) that was over half of
PostgreSQL's CPU per message: the same statement under pgbench cost 495 µs of server
CPU a message sent as text and 218 µs prepared (docs/benchmarks.md). The cursor here
binds values on the server and asks psycopg to prepare every statement it runs: the
first run on a connection prepares it, later runs only execute it. psycopg keeps the
last 100 per connection, and a pooled connection keeps them from one hop to the next.

Only for statements written for it: fixed text (values always parameters, so one
prepared statement serves every message) whose parameters the server can type from
what psycopg sends (ints, text, timestamps), and that return no timestamps (Django fits
its own cursors' timestamp loader to a changed time zone; this one does not).
Elsewhere (SQLite) it is Django's cursor.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper


class _PreparingCursor(psycopg.Cursor):
    """psycopg's server-binding cursor, preparing whatever it executes."""

    def execute(  # type: ignore[override]
        self, query: Any, params: Any = None, *, prepare: bool | None = True, binary: Any = None
    ) -> _PreparingCursor:
        return super().execute(query, params, prepare=prepare, binary=binary)


def cursor(connection: BaseDatabaseWrapper = default_connection) -> CursorWrapper:
    """A cursor (Django's wrapper: errors translated, queries logged when they are)
    whose statements PostgreSQL keeps prepared on this connection."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _PreparingCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


def values(statement: str, params: list[Any]) -> list[Any]:
    """The first column of every row the statement returns, prepared on PostgreSQL."""
    with cursor() as prepared_cursor:
        prepared_cursor.execute(statement, params)
        return [row[0] for row in prepared_cursor.fetchall()]
