"""A WebSocket client made by hand on a plain TCP socket, for clients no library would
be: one that completes the handshake and then never reads what the server sends, or
one that reads but never answers a ping."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any
from urllib.parse import urlsplit


class RawWebSocket:
    def __init__(self, base_url: str, cookie: str, *, receive_buffer: int = 4096) -> None:
        parts = urlsplit(base_url)
        self.sock = socket.socket()
        # A small receive window, so the server's kernel buffers fill soon.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect((parts.hostname, parts.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws/chat/ HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: {base_url}\r\n"
                f"Cookie: sessionid={cookie}\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            response += chunk
        status = response.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ConnectionError(f"handshake refused: {status!r}")

    def send_frame(self, frame: dict[str, Any]) -> None:
        """One masked text frame, as a client must send it; OSError once the server is gone."""
        payload = json.dumps(frame).encode()
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        if len(payload) < 126:
            header = struct.pack("!BB", 0x81, 0x80 | len(payload))
        else:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
        self.sock.sendall(header + mask + masked)

    def read_frame(self) -> tuple[int, bytes] | None:
        """The next frame from the server as (opcode, payload), unanswered whatever it
        is; None once the server has closed the connection."""
        header = self._read(2)
        if header is None:
            return None
        opcode, length = header[0] & 0x0F, header[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2) or b"\0\0")[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8) or bytes(8))[0]
        payload = self._read(length) if length else b""
        return None if payload is None else (opcode, payload)

    def _read(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            try:
                chunk = self.sock.recv(size - len(data))
            except ConnectionResetError:  # dropped rather than closed
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()
