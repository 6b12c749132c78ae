"""Per-socket frame rate limit: a token bucket of CHAT_RATE_PER_10S frames per 10 s."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

# Timers fire up to a few milliseconds early (uvloop keeps milliseconds), and a client
# that waits exactly its retry_after must not be refused for that: a frame this close
# to its token takes it.
EARLY_SECONDS = 0.005


class FrameRateLimiter:
    """Allows bursts up to `per_10s` frames, refilling at per_10s / 10 frames a second.

    Each refused frame is given its own slot to come back in, after the slots already
    given: a phone that retries every refused message at its own retry_after (what the
    portal's outbox does) comes back at the refill rate and is served, instead of all
    at once, into a bucket with room for one.

    A client that sends another full bucket's worth of frames while limited is
    flooding: :attr:`flooding` turns true and the socket should be closed.
    """

    def __init__(self, per_10s: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_10s)
        self.rate = per_10s / 10.0
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()
        self.refused = 0
        # The last slot given to a refused frame (clock time).
        self.promised = 0.0
        # Seconds until the next token, as of the last refusal: how long the socket
        # need not be read (Transport.regulate).
        self.wait = 0.0

    def take(self) -> float:
        """Spend a token: 0.0 if the frame may go ahead, else seconds until its slot."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens + EARLY_SECONDS * self.rate >= 1.0:
            self.tokens = max(0.0, self.tokens - 1.0)
            if self.tokens >= self.capacity - 1.0:
                self.refused = 0
            return 0.0
        self.refused += 1
        self.wait = (1.0 - self.tokens) / self.rate
        self.promised = max(now + self.wait, self.promised + 1.0 / self.rate)
        return self.promised - now

    @property
    def flooding(self) -> bool:
        return self.refused >= self.capacity


def retry_after_seconds(seconds: float) -> float:
    """What a client is told to wait: rounded up to a tenth of a second, never early."""
    return math.ceil(seconds * 10 - 1e-9) / 10
