"""Per-socket frame rate limit: a token bucket of CHAT_RATE_PER_10S frames per 10 s."""

from __future__ import annotations

import time


class FrameRateLimiter:
    """Allows bursts up to `per_10s` frames, refilling at per_10s / 10 frames a second.

    A client that sends another full bucket's worth of frames while limited is
    flooding: :attr:`flooding` turns true and the socket should be closed.
    """

    def __init__(self, per_10s: int, *, clock: callable = time.monotonic) -> None:
        self.capacity = float(per_10s)
        self.rate = per_10s / 10.0
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()
        self.refused = 0

    def take(self) -> float:
        """Spend a token: 0.0 if the frame may go ahead, else seconds until one is free."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            if self.tokens >= self.capacity - 1.0:
                self.refused = 0
            return 0.0
        self.refused += 1
        return (1.0 - self.tokens) / self.rate

    @property
    def flooding(self) -> bool:
        return self.refused >= self.capacity
