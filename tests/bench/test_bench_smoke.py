"""The benchmark harness at a tiny size against real servers: everything it sends
arrives, once, in order. Not a speed test (docs/benchmarks.md has the numbers)."""

from __future__ import annotations

import time

import pytest

from bench import servers
from bench.loadgen import Account, AdapterSpec, LocalDriver, PhaseSpec, summarize
from tests.support.factories import PASSWORD, amake_coach, amake_member

pytestmark = pytest.mark.e2e

PAIRS = 3
PHASES = (
    PhaseSpec("open", 1.5, rate=30, drain=5),
    PhaseSpec("closed", 1.5, window=2, drain=5),
)


async def run_phases(spec: AdapterSpec) -> list[dict]:
    driver = LocalDriver(spec, list(range(PAIRS)))
    try:
        await driver.prepare()
        assert await driver.connect() == PAIRS
        results = []
        for phase in PHASES:
            stats = await driver.phase(phase, time.monotonic() + 0.1)
            results.append({**summarize(stats), "gaps": stats.gaps})
        return results
    finally:
        await driver.close()


def assert_nothing_lost_and_in_order(results: list[dict]) -> None:
    for summary in results:
        assert summary["sent"] > 0, summary
        assert summary["delivered"] == summary["sent"], summary
        assert summary["lost"] == summary["unacked"] == 0, summary
        assert summary["out_of_order"] == summary["duplicates"] == summary["gaps"] == 0, summary
        assert summary["errors"] == {}, summary
        assert summary["closed_sockets"] == 0, summary


@pytest.mark.django_db(transaction=True)
async def test_member_to_coach_pairs_on_our_server(daphne_factory):
    # Capacity 1 and as many coaches as members: routing pairs them 1:1, as in the bench.
    server = daphne_factory(CHAT_RATE_PER_10S="100000")
    members = [await amake_member() for _ in range(PAIRS)]
    coaches = [await amake_coach(capacity=1) for _ in range(PAIRS)]
    spec = AdapterSpec(
        "ours",
        server.url,
        server.url,
        tuple(Account(m.username, PASSWORD) for m in members),
        tuple(Account(c.username, PASSWORD) for c in coaches),
    )
    results = await run_phases(spec)
    assert_nothing_lost_and_in_order(results)
    assert "TimeoutError" not in server.log()


async def test_room_pairs_on_the_websockets_relay(tmp_path):
    relay = servers.start_relay("relay", tmp_path)
    try:
        results = await run_phases(AdapterSpec("room", relay.url, relay.url))
    finally:
        relay.stop()
    assert_nothing_lost_and_in_order(results)
