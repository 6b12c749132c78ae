"""The per-socket rate limit (chat/ratelimit.py) on a clock the tests move: what a client
that obeys retry_after gets, and when a client is flooding."""

from __future__ import annotations

import pytest

from chat.ratelimit import FrameRateLimiter, retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_full_bucket_goes_through_at_once_and_the_next_frame_waits_for_a_token(clock):
    limiter = FrameRateLimiter(30, clock=clock)
    assert [limiter.take() for _ in range(30)] == [0.0] * 30
    assert limiter.take() == pytest.approx(1 / 3)
    clock.now += 1 / 3
    assert limiter.take() == 0.0


def test_every_refused_frame_retried_at_its_own_retry_after_is_served(clock):
    # The portal's outbox: 45 messages at once (written offline, say), then each
    # refused one resent when its own retry_after has passed, all timers started
    # together. Each comes back into a bucket with a token for it.
    limiter = FrameRateLimiter(30, clock=clock)
    start = clock.now
    refused = [wait for wait in (limiter.take() for _ in range(45)) if wait]
    assert len(refused) == 15
    waits = [retry_after_seconds(wait) for wait in refused]
    assert waits == sorted(waits) and len(set(waits)) == 15  # one slot each, in order
    for wait in waits:
        clock.now = start + wait
        assert limiter.take() == 0.0
    assert not limiter.flooding


def test_a_frame_a_few_milliseconds_early_for_its_token_still_takes_it(clock):
    # uvloop fires timers up to a millisecond or so early.
    limiter = FrameRateLimiter(30, clock=clock)
    for _ in range(30):
        limiter.take()
    wait = limiter.take()
    clock.now += wait - 0.002
    assert limiter.take() == 0.0


def test_retry_after_is_rounded_up_never_down():
    assert retry_after_seconds(1 / 3) == 0.4
    assert retry_after_seconds(0.3) == 0.3
    assert retry_after_seconds(0.0001) == 0.1


def test_a_client_sending_another_full_bucket_while_limited_is_flooding(clock):
    limiter = FrameRateLimiter(30, clock=clock)
    for _ in range(30):
        limiter.take()
    for _ in range(29):
        assert limiter.take() > 0
        assert not limiter.flooding
    assert limiter.take() > 0
    assert limiter.flooding


def test_a_client_that_slows_down_is_forgiven(clock):
    limiter = FrameRateLimiter(30, clock=clock)
    for _ in range(40):
        limiter.take()
    assert limiter.refused == 10
    clock.now += 10  # the bucket refills
    assert limiter.take() == 0.0
    assert limiter.refused == 0


def test_the_socket_need_not_be_read_until_the_next_token_however_late_the_slot(clock):
    limiter = FrameRateLimiter(30, clock=clock)
    for _ in range(30):
        limiter.take()
    waits = [limiter.take() for _ in range(10)]
    assert waits[-1] == pytest.approx(10 / 3)
    assert limiter.wait == pytest.approx(1 / 3)
