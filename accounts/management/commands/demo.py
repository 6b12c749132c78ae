"""One command to try the service: migrate, seed the demo accounts, serve with daphne.

python manage.py demo [--port 8000]
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from accounts.management.commands.seed_demo import DEMO_ACCOUNTS, demo_logins


class Command(BaseCommand):
    help = "Migrate, seed the demo accounts if absent, and serve on 127.0.0.1 with daphne."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        names = [account.username for account in DEMO_ACCOUNTS]
        if get_user_model().objects.filter(username__in=names).count() < len(names):
            call_command("seed_demo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(f"\nPelvic floor coaching chat: {url}\n\n{demo_logins()}\n")
        self.stdout.flush()
        environment = {**os.environ, "CHAT_DEMO": "1"}
        # Served as in production: no debug pages, no tracebacks to the browser.
        environment.setdefault("DEBUG", "0")
        argv = [
            sys.executable,
            "-m",
            "config.serve",
            "-b",
            options["host"],
            "-p",
            str(options["port"]),
            "config.asgi:application",
        ]
        os.execve(sys.executable, argv, environment)
