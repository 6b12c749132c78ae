"""daphne on uvloop: ``python -m config.serve [daphne's options] config.asgi:application``.

daphne creates its event loop when it is imported, before it loads the application, so
the loop is chosen here, before daphne, not in settings or config/asgi.py. uvloop runs
the same Twisted and asyncio work for less CPU a message than asyncio's own loop
(docs/benchmarks.md). ``CHAT_EVENT_LOOP=asyncio`` serves on asyncio's loop instead, as
plain ``daphne`` does; every option is daphne's own. The server is daphne's, with its
periodic connection checks paid per connection due one (config/daphne_server.py).
"""

from __future__ import annotations

import asyncio
import os


def main() -> None:
    loop = os.environ.get("CHAT_EVENT_LOOP", "uvloop")
    if loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    elif loop != "asyncio":
        raise SystemExit(f"CHAT_EVENT_LOOP must be uvloop or asyncio, not {loop!r}")
    from daphne.cli import CommandLineInterface

    from config.daphne_server import Server

    CommandLineInterface.server_class = Server
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
