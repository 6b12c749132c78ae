"""A client for a live server, as an outside client would be: it logs in through
/accounts/login/ like a browser, then speaks the socket protocol with `websockets`."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from typing import Any

import websockets


def login(base_url: str, username: str, password: str) -> str:
    """Log in with Django's form (CSRF token and all); returns the session cookie value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base_url}/accounts/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/accounts/login/", data=form, headers={"Referer": f"{base_url}/accounts/login/"}
    )
    opener.open(request, timeout=10).read()
    session = {cookie.name: cookie.value for cookie in jar}.get("sessionid")
    if not session:
        raise RuntimeError(f"login failed for {username}")
    return session


class LiveSocket:
    """One socket: send frames, wait for frames of a type (keeping the others)."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection
        self.seen: list[dict[str, Any]] = []
        self._unread: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, base_url: str, session: str, *, origin: str | None = None) -> LiveSocket:
        ws_url = base_url.replace("http://", "ws://") + "/ws/chat/"
        connection = await websockets.connect(
            ws_url,
            origin=origin or base_url,
            additional_headers={"Cookie": f"sessionid={session}"},
            open_timeout=10,
            # A test reads only the frames it asserts on. With websockets' default
            # queue (16 frames) the unread rest stops it reading at all, so close()
            # waited out its 10 s timeout for a close frame the server had sent.
            max_queue=None,
        )
        return cls(connection)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(frame))

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        if self._unread:
            return self._unread.pop(0)
        frame = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
        self.seen.append(frame)
        return frame

    async def expect(self, frame_type: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The next frame of this type (and these field values); others are kept for later."""
        skipped = []
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise TimeoutError(f"no {frame_type} frame matching {match}")
                frame = await self.next(remaining)
                if frame.get("type") == frame_type and all(
                    frame.get(k) == v for k, v in match.items()
                ):
                    return frame
                skipped.append(frame)
        finally:
            self._unread = skipped + self._unread

    async def close(self) -> None:
        await self.connection.close()
