"""The ASGI application: HTTP (Django, static files) and the chat socket at /ws/chat/.

Run with ``python -m config.serve config.asgi:application`` (daphne on uvloop;
plain ``daphne`` serves it too). Background work (presence heartbeats, grace timers,
the assignment sweep) starts as soon as daphne's reactor runs, and failing that with
the first request this process serves: daphne has no lifespan events.
"""

import asyncio
import gc
import logging
import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before the consumers' modules import models.
django_http = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

from chat import transport  # noqa: E402
from chat.consumers import ChatConsumer  # noqa: E402
from config import health  # noqa: E402
from routing.ticker import start_background_work  # noqa: E402

websocket_urls = [path("ws/chat/", ChatConsumer.as_asgi())]

router = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_http),
        # A foreign Origin is refused at the handshake (HTTP 403): cross-site
        # WebSocket hijacking would otherwise ride the member's session cookie.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urls))),
    }
)


async def application(scope, receive, send):
    if scope["type"] in ("http", "websocket"):
        start_background_work()
    if scope["type"] == "http" and scope["path"] in health.PATHS:
        return await health.health_app(scope, receive, send)
    return await router(scope, receive, send)


if "daphne.server" in sys.modules:
    # Served by daphne, whose import installed Twisted's asyncio reactor. A process
    # restarted after a crash must heartbeat, expire the dead process's sockets and
    # sweep the queue without waiting for someone to send it a request.
    from twisted.internet import reactor

    # callWhenRunning fires before the asyncio loop turns; callLater runs inside it.
    reactor.callWhenRunning(reactor.callLater, 0, start_background_work)

# Which loop daphne made, for whoever reads the log (config/serve.py chooses it).
logging.getLogger("config.asgi").info(
    "event loop: %s", type(asyncio.get_event_loop_policy()).__module__.split(".")[0]
)

# daphne's sockets send each frame straight away instead of registering with the event
# loop for writability first, the largest single cost in the profile (chat/transport.py).
transport.write_at_end_of_turn()
# A frame over 1 MiB gets close code 1009 (PROTOCOL.md), not a cut connection.
transport.close_failed_sockets_with_a_code()

# The garbage collector, for a process holding thousands of sockets. A full collection
# walks every tracked object and stops the event loop meanwhile: 90-175 ms at 1,000
# sockets, a burst of late messages each time. What is loaded by now (Django, the apps,
# ~100,000 objects) lives as long as the process, so it is moved out of the collector's
# sight, and every full collection has that much less to walk (docs/benchmarks.md).
# Collecting less often was tried too: it let closed sockets' memory wait that much
# longer for a collection, and the socket churn test saw it grow.
gc.collect()
gc.freeze()
