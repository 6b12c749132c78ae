"""PostgreSQL databases for a run: one template migrated and seeded once, then a fresh
copy of it (CREATE DATABASE … TEMPLATE, a file copy: about a second) for each server
measured, so every measurement starts from the same rows."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from bench.servers import ROOT, base_env

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


class Databases:
    """bench_<run>_* databases on one PostgreSQL server; `drop_all` removes them."""

    def __init__(self, run_id: str, admin_url: str = ADMIN_URL) -> None:
        self.admin_url = admin_url
        self.prefix = f"bench_{run_id}"
        self.created: list[str] = []
        self.template: str | None = None

    def url(self, name: str) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def _execute(self, statement: sql.Composable, *params: object) -> list[tuple]:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            cursor = connection.execute(statement, params or None)
            return cursor.fetchall() if cursor.description else []

    def server_version(self) -> str:
        return self._execute(sql.SQL("SHOW server_version"))[0][0]

    def create_template(self, *, members: int, coaches: int, password: str, log: Path) -> str:
        """Migrate and seed (members, coaches with capacity 1) a template database."""
        name = f"{self.prefix}_template"
        self._create(name)
        env = base_env(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=self.url(name),
            DEBUG="0",
            SECRET_KEY="bench-" + uuid.uuid4().hex,
            # Hashes the servers can check quickly: they run with the same setting.
            CHAT_FAST_PASSWORD_HASHER="1",  # noqa: S106 (a switch, not a password)
            CHAT_BACKGROUND_WORK="0",
        )
        with open(log, "ab") as out:
            for command in (
                ["migrate", "--no-input"],
                [
                    "seed_demo",
                    f"--members={members}",
                    f"--coaches={coaches}",
                    "--supervisors=1",
                    "--capacity=1",
                    f"--password={password}",
                ],
            ):
                subprocess.run(
                    [sys.executable, "manage.py", *command],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=True,
                )
        self.template = name
        return name

    def fresh(self, label: str) -> str:
        """A new copy of the template; returns its DATABASE_URL."""
        name = f"{self.prefix}_{label}"
        self.drop(name)
        self._execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self.template)
            )
        )
        self.created.append(name)
        return self.url(name)

    def _create(self, name: str) -> None:
        self.drop(name)
        self._execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)

    def drop(self, name: str) -> None:
        self._execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.drop(name)
