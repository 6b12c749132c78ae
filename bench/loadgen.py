"""The load generator: member/coach socket pairs, open- and closed-loop message load,
and what arrives where.

One pair is a member socket and a coach socket that see each other's messages: on our
service a member's thread assigned to that coach, on the baselines a room of two.
Members send, coaches receive; every message is tracked by (pair, n):

- latency is measured from the moment the message was *due* to be sent (open loop:
  its slot in the schedule, so a slow server cannot hide its backlog; closed loop:
  the moment it was sent) to the coach's receipt of it (`message.new` on ours);
- lost = acked (sent, on the baselines, which have no ack) but never delivered to
  the coach within the drain timeout;
- out of order = a `seq` at the coach not above the last one she saw in that thread.

A target is spoken to through an adapter (`OursAdapter`, `RoomAdapter`); everything
else is shared. `LocalDriver` runs one generator on this process's event loop;
`PoolDriver` spreads the pairs over worker processes, for when one process cannot
keep up (its CPU share is in every phase's result).
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.cookiejar
import inspect
import json
import logging
import multiprocessing
import re
import resource
import time
import traceback
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import websockets
from websockets.asyncio.client import connect as ws_connect

logger = logging.getLogger(__name__)

# Neutral text: triage tags nothing in it, so steady-state messages change no thread's
# priority and the queue stays still, as it does in most of a real conversation.
MESSAGE_TEXT = "bench message"
FIRST_TEXT = "Hello, this is the benchmark member saying hi"

SETUP_CONCURRENCY = 16
CONNECT_ATTEMPTS = 5
# A backlog that still moves is drained for at most this long after a phase ends.
MAX_DRAIN_SECONDS = 180

_CONNECT_OPTIONS: dict[str, Any] = {
    "open_timeout": 60,
    # Browsers send no pings and negotiate no compression with daphne; the websockets
    # baseline would otherwise compress and the comparison would be off.
    "ping_interval": None,
    "compression": None,
    "max_size": 2**24,
    "close_timeout": 2,
}
if "proxy" in inspect.signature(ws_connect.__init__).parameters:
    # websockets ≥ 15 honours proxy variables; the targets are all on loopback.
    _CONNECT_OPTIONS["proxy"] = None


def raise_nofile_limit() -> int:
    """Raise this process's open-file limit to the hard limit (thousands of sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_seconds() -> float:
    """CPU time of this process so far (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- logging in --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    password: str


_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def login(base_url: str, username: str, password: str) -> str:
    """Log in with Django's form, as a browser does; returns the session cookie value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar)
    )
    page = opener.open(f"{base_url}/accounts/login/", timeout=60).read().decode()
    match = _CSRF.search(page)
    if match is None:
        raise RuntimeError(f"no CSRF token on {base_url}/accounts/login/")
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": match.group(1)}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (base_url is the server under test)
        f"{base_url}/accounts/login/",
        data=form,
        headers={"Referer": f"{base_url}/accounts/login/"},
    )
    opener.open(request, timeout=60).read()
    session = {cookie.name: cookie.value for cookie in jar}.get("sessionid")
    if not session:
        raise RuntimeError(f"login failed for {username}")
    return session


async def login_all(base_url: str, accounts: list[Account], concurrency: int = 24) -> list[str]:
    """Session cookies for many accounts, logged in concurrently (in threads: urllib blocks)."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="login") as pool:
        return list(
            await asyncio.gather(
                *(
                    loop.run_in_executor(pool, login, base_url, a.username, a.password)
                    for a in accounts
                )
            )
        )


def ws_base(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)


# --- one socket --------------------------------------------------------------------------


class Client:
    """One socket. A reader task hands every text frame to `on_frame(client, text)`;
    setup steps wait on named futures that the frame handlers resolve."""

    def __init__(
        self, connection: websockets.ClientConnection, on_frame: Callable[[Client, str], None]
    ) -> None:
        self.connection = connection
        self.on_frame = on_frame
        self.waiters: dict[str, asyncio.Future] = {}
        self.pair: Pair | None = None
        self.user_id: int | None = None
        self.hello: dict[str, Any] | None = None
        self.close_code: int | None = None
        self.frame_errors = 0
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(
        cls,
        url: str,
        on_frame: Callable[[Client, str], None],
        *,
        cookie: str | None = None,
        origin: str | None = None,
    ) -> Client:
        headers = {"Cookie": f"sessionid={cookie}"} if cookie else None
        connection = await ws_connect(
            url, origin=origin, additional_headers=headers, **_CONNECT_OPTIONS
        )
        return cls(connection, on_frame)

    def expect(self, key: str) -> asyncio.Future:
        """The future for `key`: resolved by a frame handler, maybe already."""
        future = self.waiters.get(key)
        if future is None:
            future = self.waiters[key] = asyncio.get_running_loop().create_future()
        return future

    def resolve(self, key: str, value: Any) -> None:
        future = self.expect(key)
        if not future.done():
            future.set_result(value)

    def fail(self, key: str, error: BaseException) -> None:
        future = self.expect(key)
        if not future.done():
            future.set_exception(error)

    async def send(self, text: str) -> None:
        await self.connection.send(text)

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                if isinstance(raw, str):
                    try:
                        self.on_frame(self, raw)
                    except Exception:
                        # One bad frame must not stop the count; it is reported.
                        self.frame_errors += 1
                        logger.exception("frame handler failed")
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.connection.close_code
            for future in self.waiters.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"socket closed ({self.close_code})"))

    @property
    def closed(self) -> bool:
        return self._reader.done()

    async def close(self) -> None:
        await self.connection.close()
        await asyncio.wait([self._reader], timeout=5)


async def gather_limited(coroutines: list, limit: int) -> list:
    """asyncio.gather with at most `limit` running at once."""
    semaphore = asyncio.Semaphore(limit)

    async def limited(coroutine: Any) -> Any:
        async with semaphore:
            return await coroutine

    return list(await asyncio.gather(*(limited(c) for c in coroutines)))


# --- what is counted ---------------------------------------------------------------------


@dataclass(eq=False)
class Pair:
    index: int
    key: Any  # what the coach's frames name the pair by: a thread id, or a room
    member: Client
    coach: Client
    next_n: int = 0
    sent: dict[int, tuple[float, PhaseStats]] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)
    delivered: set[int] = field(default_factory=set)
    last_seq: int = 0
    window: asyncio.Semaphore | None = None


@dataclass
class PhaseStats:
    """One phase's counts and latencies in one generator; `merge` adds workers up."""

    mode: str
    start: float
    end: float
    label: str = ""
    sent: int = 0
    acked: int = 0
    delivered: int = 0
    in_window: int = 0  # deliveries between start and end: the throughput numerator
    lost: int = 0  # acked, never delivered within the drain
    unacked: int = 0  # no ack at all (an error frame, or the socket closed)
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0  # a seq more than one above the last one the coach saw
    stalls: int = 0  # closed loop: a window slot given up after the stall timeout
    queue_frames: int = 0
    queue_bytes: int = 0
    errors: Counter = field(default_factory=Counter)
    closed_sockets: int = 0
    loadgen_cpu: float = 0.0
    drain_end: float = 0.0
    # (intended send on the monotonic clock, latency) per delivered message: the
    # percentiles, and when in the phase the slow ones were.
    timeline: list[tuple[float, float]] = field(default_factory=list)
    # What was counted lost, to tell later whether it was only late (not serialized).
    lost_keys: list[tuple[Pair, int]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "lost_keys"}
        data["errors"] = dict(self.errors)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseStats:
        stats = cls(**{**data, "errors": Counter(data["errors"])})
        return stats

    @classmethod
    def merge(cls, parts: list[PhaseStats]) -> PhaseStats:
        first = parts[0]
        total = cls(mode=first.mode, start=first.start, end=first.end, label=first.label)
        for part in parts:
            for name in [
                "sent",
                "acked",
                "delivered",
                "in_window",
                "lost",
                "unacked",
                "duplicates",
                "out_of_order",
                "gaps",
                "stalls",
                "queue_frames",
                "queue_bytes",
                "closed_sockets",
                "loadgen_cpu",
            ]:
                setattr(total, name, getattr(total, name) + getattr(part, name))
            total.errors.update(part.errors)
            total.timeline.extend(part.timeline)
            total.drain_end = max(total.drain_end, part.drain_end)
        return total


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    mode: str  # "open": a set aggregate rate; "closed": a window of k in flight per pair
    duration: float
    rate: float = 0.0  # messages per second, for this generator's pairs together
    window: int = 1
    drain: float = 5.0  # lost: nothing more arrived for this long after the phase
    # Closed loop: a pair whose oldest message has not arrived after this long sends the
    # next one anyway (a stall), so one lost message does not silence it for good.
    stall_timeout: float = 10.0
    label: str = ""  # names the phase in results: "open-200", "closed"


# --- targets -----------------------------------------------------------------------------


class Adapter(Protocol):
    """How the generator speaks to one kind of target."""

    acks: bool  # the target acks each message (ours); else sent counts as acked

    async def prepare(self, gen: LoadGenerator, indices: list[int]) -> None:
        """Work before connecting that can run in all workers at once (logging in)."""

    async def connect(self, gen: LoadGenerator, indices: list[int]) -> list[Pair]:
        """Open and pair the sockets; returns the pairs."""

    def message(self, pair: Pair, n: int) -> str:
        """The frame a member sends for message n of her pair."""


class OursAdapter:
    """Our protocol: log in, coach `presence.set online`, member `thread.open` and a first
    message; routing assigns each thread to a coach and the pair is whoever it chose.

    Seeded coaches have capacity 1 and there are as many coaches as members, so the
    assignment is 1:1 by construction (routing still picks who gets whom, as it would).
    With several workers, pairing runs one worker after another, so every member's
    coach is on the same worker: earlier workers' coaches are already full.
    """

    acks = True

    def __init__(
        self,
        *,
        member_url: str,
        coach_url: str,
        members: list[Account],
        coaches: list[Account],
        origin: str | None = None,
    ) -> None:
        # Comma-separated URLs spread the sockets over several processes, pair by pair,
        # as a proxy in front of them would.
        self.member_urls = member_url.split(",")
        self.coach_urls = coach_url.split(",")
        self.member_url = self.member_urls[0]
        self.members = members
        self.coaches = coaches
        self.origin = origin or self.member_url
        self.cookies: dict[str, str] = {}
        self.coach_by_user: dict[int, Client] = {}
        self.by_thread: dict[int, Pair] = {}

    async def prepare(self, gen: LoadGenerator, indices: list[int]) -> None:
        accounts = [self.members[i] for i in indices] + [self.coaches[i] for i in indices]
        cookies = await login_all(self.member_url, accounts)
        self.cookies.update({a.username: c for a, c in zip(accounts, cookies, strict=True)})

    async def connect(self, gen: LoadGenerator, indices: list[int]) -> list[Pair]:
        # In stages, a few at a time: every connect and every first message (which runs
        # an assignment) queues for the server's database threads, and daphne drops a
        # handshake the application has not accepted within 5 s.
        await gather_limited([self._coach_online(gen, i) for i in indices], SETUP_CONCURRENCY)
        members = await gather_limited(
            [self._member_socket(gen, i) for i in indices], SETUP_CONCURRENCY
        )
        return await gather_limited(
            [self._member_pair(i, c) for i, c in zip(indices, members, strict=True)],
            SETUP_CONCURRENCY,
        )

    async def _open(self, gen: LoadGenerator, url: str, account: Account, handler: Any) -> Client:
        """Connect and wait for `hello`, retrying as a client would (counted)."""
        attempt = 0
        while True:
            client = None
            try:
                client = await Client.open(
                    f"{ws_base(url)}/ws/chat/",
                    lambda c, raw: handler(gen, c, raw),
                    cookie=self.cookies[account.username],
                    origin=self.origin,
                )
                client.hello = await asyncio.wait_for(client.expect("hello"), 60)
                return client
            except (OSError, TimeoutError, websockets.InvalidHandshake, ConnectionError) as error:
                if client is not None:
                    await client.close()
                gen.connect_retries[type(error).__name__] += 1
                attempt += 1
                if attempt == CONNECT_ATTEMPTS:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)

    async def _coach_online(self, gen: LoadGenerator, index: int) -> None:
        url = self.coach_urls[index % len(self.coach_urls)]
        client = await self._open(gen, url, self.coaches[index], self._coach_frame)
        client.user_id = client.hello["user"]["id"]
        self.coach_by_user[client.user_id] = client
        await client.send(json.dumps({"type": "presence.set", "status": "online", "ref": "p"}))
        await asyncio.wait_for(client.expect("ref:p"), 60)

    async def _member_socket(self, gen: LoadGenerator, index: int) -> Client:
        url = self.member_urls[index % len(self.member_urls)]
        return await self._open(gen, url, self.members[index], self._member_frame)

    async def _member_pair(self, index: int, client: Client) -> Pair:
        account = self.members[index]
        await client.send(json.dumps({"type": "thread.open", "ref": "o"}))
        thread = await asyncio.wait_for(client.expect("ref:o"), 60)
        if thread["status"] != "active":
            first = {
                "type": "message.send",
                "ref": "first",
                "thread": thread["id"],
                "client_id": f"open-{time.time_ns()}",
                "body": FIRST_TEXT,
            }
            await client.send(json.dumps(first))
            await asyncio.wait_for(client.expect("ref:first"), 60)
        coach_id = await asyncio.wait_for(client.expect("active"), 120)
        coach = self.coach_by_user.get(coach_id)
        if coach is None:
            raise RuntimeError(f"{account.username} was given coach {coach_id}, not one of ours")
        pair = Pair(index=index, key=thread["id"], member=client, coach=coach)
        client.pair = coach.pair = pair
        self.by_thread[thread["id"]] = pair
        return pair

    def message(self, pair: Pair, n: int) -> str:
        return json.dumps(
            {
                "type": "message.send",
                "thread": pair.key,
                "client_id": f"b{n}",
                "body": f"{MESSAGE_TEXT} {n}",
            }
        )

    def _member_frame(self, gen: LoadGenerator, client: Client, raw: str) -> None:
        if raw.startswith('{"type":"message.new"'):
            return  # her own message coming back to her: not what is measured
        frame = json.loads(raw)
        kind = frame.get("type")
        ref = frame.get("ref")
        if kind == "message.ack":
            client_id = frame["client_id"]
            if client.pair is not None and client_id.startswith("b"):
                gen.record_ack(client.pair, int(client_id[1:]))
            elif ref:
                client.resolve(f"ref:{ref}", frame)
        elif kind == "thread":
            thread = frame["thread"]
            if ref:
                client.resolve(f"ref:{ref}", thread)
            if thread["status"] == "active" and thread.get("coach"):
                client.resolve("active", thread["coach"]["id"])
        elif kind == "hello":
            client.resolve("hello", frame)
        elif kind == "error":
            gen.record_error(frame.get("code", "?"))
            if ref:
                client.fail(f"ref:{ref}", RuntimeError(f"error frame: {frame}"))

    def _coach_frame(self, gen: LoadGenerator, client: Client, raw: str) -> None:
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "message.new":
            message = frame["message"]
            pair = self.by_thread.get(message["thread"])
            if pair is None:
                return  # the thread's first frames, before the pair is known
            gen.record_seq(pair, message["seq"])
            client_id = message.get("client_id") or ""
            if message["sender"]["role"] == "member" and client_id.startswith("b"):
                gen.record_delivery(pair, int(client_id[1:]))
        elif kind == "queue":
            gen.record_queue_frame(len(raw))
        elif kind == "hello":
            client.resolve("hello", frame)
        elif kind == "presence":
            if frame.get("ref"):
                client.resolve(f"ref:{frame['ref']}", frame)
        elif kind == "error":
            gen.record_error(frame.get("code", "?"))
            if frame.get("ref"):
                client.fail(f"ref:{frame['ref']}", RuntimeError(f"error frame: {frame}"))


class RoomAdapter:
    """The baselines' protocol (the Channels tutorial's): `/ws/chat/<room>/`, frames
    `{"message": ...}` sent to everyone in the room. Pair i is room `bench<i>`; the
    message names its pair and number, which stand in for a thread's seq."""

    acks = False

    def __init__(self, *, member_url: str, coach_url: str, origin: str | None = None) -> None:
        self.member_url = member_url
        self.coach_url = coach_url
        self.origin = origin or member_url

    async def prepare(self, gen: LoadGenerator, indices: list[int]) -> None:
        return None

    async def connect(self, gen: LoadGenerator, indices: list[int]) -> list[Pair]:
        return await gather_limited([self._pair(gen, i) for i in indices], 64)

    async def _pair(self, gen: LoadGenerator, index: int) -> Pair:
        pairs: dict[str, Pair] = {}

        def coach_frame(client: Client, raw: str) -> None:
            _, n = json.loads(raw)["message"].split()
            pair = pairs["pair"]
            # n + 1: the first message is n = 0, and seqs start above 0.
            gen.record_seq(pair, int(n) + 1)
            gen.record_delivery(pair, int(n))

        room = f"bench{index}"
        # The coach joins first: a room only relays to whoever is in it already.
        coach = await Client.open(
            f"{ws_base(self.coach_url)}/ws/chat/{room}/", coach_frame, origin=self.origin
        )
        member = await Client.open(
            f"{ws_base(self.member_url)}/ws/chat/{room}/",
            lambda client, raw: None,  # her own message coming back: not measured
            origin=self.origin,
        )
        pairs["pair"] = pair = Pair(index=index, key=room, member=member, coach=coach)
        return pair

    def message(self, pair: Pair, n: int) -> str:
        return json.dumps({"message": f"{pair.index} {n}"})


@dataclass(frozen=True)
class AdapterSpec:
    """A picklable description of an adapter, for worker processes."""

    kind: str  # "ours" or "room"
    member_url: str
    coach_url: str
    members: tuple[Account, ...] = ()
    coaches: tuple[Account, ...] = ()

    def build(self) -> Adapter:
        if self.kind == "ours":
            return OursAdapter(
                member_url=self.member_url,
                coach_url=self.coach_url,
                members=list(self.members),
                coaches=list(self.coaches),
            )
        return RoomAdapter(member_url=self.member_url, coach_url=self.coach_url)


# --- the generator -----------------------------------------------------------------------


class LoadGenerator:
    """Pairs on one event loop, and the phases run over them."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.pairs: list[Pair] = []
        self.current: PhaseStats | None = None
        self.finished: list[PhaseStats] = []
        self.setup_out_of_order = 0
        self.setup_errors: Counter = Counter()
        self.connect_retries: Counter = Counter()

    async def prepare(self, indices: list[int]) -> None:
        await self.adapter.prepare(self, indices)

    async def connect(self, indices: list[int]) -> int:
        self.pairs.extend(await self.adapter.connect(self, indices))
        return len(self.pairs)

    # Recording, called by the adapters' frame handlers.

    def record_ack(self, pair: Pair, n: int) -> None:
        entry = pair.sent.get(n)
        if entry is not None and n not in pair.acked:
            pair.acked.add(n)
            entry[1].acked += 1

    def record_delivery(self, pair: Pair, n: int) -> None:
        now = time.monotonic()
        entry = pair.sent.get(n)
        if entry is None:
            return
        intended, stats = entry
        if n in pair.delivered:
            stats.duplicates += 1
            return
        pair.delivered.add(n)
        stats.delivered += 1
        stats.timeline.append((intended, now - intended))
        if stats.start <= now <= stats.end:
            stats.in_window += 1
        if stats.mode == "closed" and pair.window is not None:
            pair.window.release()

    def record_seq(self, pair: Pair, seq: int) -> None:
        if seq <= pair.last_seq:
            if self.current is not None:
                self.current.out_of_order += 1
            else:
                self.setup_out_of_order += 1
        else:
            if pair.last_seq and seq > pair.last_seq + 1 and self.current is not None:
                self.current.gaps += 1
            pair.last_seq = seq

    def record_error(self, code: str) -> None:
        if self.current is not None:
            self.current.errors[code] += 1
        else:
            self.setup_errors[code] += 1

    def record_queue_frame(self, size: int) -> None:
        if self.current is not None:
            self.current.queue_frames += 1
            self.current.queue_bytes += size

    # Phases.

    async def run_phase(self, spec: PhaseSpec, start_at: float) -> PhaseStats:
        """Run one phase starting at `start_at` (time.monotonic(), shared by all workers),
        then wait up to `spec.drain` for what is still in flight."""
        stats = PhaseStats(
            mode=spec.mode,
            start=start_at,
            end=start_at + spec.duration,
            label=spec.label or spec.mode,
        )
        self.current = stats
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        cpu_before = cpu_seconds()
        if spec.mode == "open":
            await self._open_loop(stats, spec.rate)
        else:
            for pair in self.pairs:
                pair.window = asyncio.Semaphore(spec.window)
            await asyncio.gather(*(self._closed_loop(pair, stats, spec) for pair in self.pairs))
        await self._drain(stats, spec)
        stats.drain_end = time.monotonic()
        stats.loadgen_cpu = cpu_seconds() - cpu_before
        for pair in self.pairs:
            for n, (_, owner) in pair.sent.items():
                if owner is stats and n not in pair.delivered:
                    if n in pair.acked:
                        stats.lost += 1
                        stats.lost_keys.append((pair, n))
                    else:
                        stats.unacked += 1
            pair.window = None
        stats.closed_sockets = sum(p.member.closed + p.coach.closed for p in self.pairs)
        self.current = None
        self.finished.append(stats)
        return stats

    def setup_info(self) -> dict[str, Any]:
        """What happened while setting up: connects retried, error frames, disorder."""
        return {
            "connect_retries": dict(self.connect_retries),
            "errors": dict(self.setup_errors),
            "out_of_order": self.setup_out_of_order,
        }

    def late(self) -> dict[str, int]:
        """Per phase, how many of the messages counted lost have arrived since."""
        return {
            stats.label: sum(n in pair.delivered for pair, n in stats.lost_keys)
            for stats in self.finished
        }

    async def _drain(self, stats: PhaseStats, spec: PhaseSpec) -> None:
        """Wait for what is in flight until all of it arrived, or nothing arrived for
        `spec.drain` seconds (a backlog still moving is waited for, up to MAX_DRAIN)."""
        hard_stop = stats.end + MAX_DRAIN_SECONDS
        seen, progress_at = stats.delivered, time.monotonic()
        while stats.delivered < stats.sent:
            now = time.monotonic()
            if stats.delivered != seen:
                seen, progress_at = stats.delivered, now
            if now - max(progress_at, stats.end) > spec.drain or now > hard_stop:
                return
            await asyncio.sleep(0.05)

    async def _send(self, pair: Pair, intended: float, stats: PhaseStats) -> None:
        n = pair.next_n
        pair.next_n += 1
        pair.sent[n] = (intended, stats)
        stats.sent += 1
        if not self.adapter.acks:
            pair.acked.add(n)
            stats.acked += 1
        try:
            await pair.member.send(self.adapter.message(pair, n))
        except websockets.ConnectionClosed:
            stats.errors["socket_closed"] += 1

    async def _open_loop(self, stats: PhaseStats, rate: float) -> None:
        if not self.pairs or rate <= 0:
            return
        interval = 1.0 / rate
        i = 0
        while True:
            intended = stats.start + i * interval
            if intended >= stats.end:
                return
            delay = intended - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            # Round robin: each pair sends every len(pairs) / rate seconds.
            await self._send(self.pairs[i % len(self.pairs)], intended, stats)
            i += 1

    async def _closed_loop(self, pair: Pair, stats: PhaseStats, spec: PhaseSpec) -> None:
        while True:
            remaining = stats.end - time.monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(
                    pair.window.acquire(), timeout=min(spec.stall_timeout, remaining)
                )
            except TimeoutError:
                if time.monotonic() >= stats.end:
                    return
                # A message that never arrives must not stop the pair for good.
                stats.stalls += 1
            await self._send(pair, time.monotonic(), stats)

    async def close(self) -> None:
        clients = {id(c): c for p in self.pairs for c in (p.member, p.coach)}
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)


# --- drivers: one process, or several ------------------------------------------------------


class LocalDriver:
    """One generator on the caller's event loop."""

    def __init__(self, spec: AdapterSpec | Adapter, indices: list[int]) -> None:
        adapter = spec.build() if isinstance(spec, AdapterSpec) else spec
        self.gen = LoadGenerator(adapter)
        self.indices = indices
        self.processes = 1

    async def prepare(self) -> None:
        await self.gen.prepare(self.indices)

    async def connect(self) -> int:
        return await self.gen.connect(self.indices)

    async def phase(self, spec: PhaseSpec, start_at: float) -> PhaseStats:
        return await self.gen.run_phase(spec, start_at)

    async def late(self) -> dict[str, int]:
        return self.gen.late()

    async def setup_info(self) -> dict[str, Any]:
        return self.gen.setup_info()

    async def close(self) -> None:
        await self.gen.close()


def _worker_main(spec: AdapterSpec, indices: list[int], conn: Any) -> None:
    raise_nofile_limit()
    asyncio.run(_worker_loop(spec, indices, conn))


async def _worker_loop(spec: AdapterSpec, indices: list[int], conn: Any) -> None:
    gen = LoadGenerator(spec.build())
    loop = asyncio.get_running_loop()
    while True:
        command, argument = await loop.run_in_executor(None, conn.recv)
        try:
            if command == "prepare":
                result: Any = await gen.prepare(indices)
            elif command == "connect":
                result = await gen.connect(indices)
            elif command == "phase":
                phase_spec, start_at = argument
                result = (await gen.run_phase(phase_spec, start_at)).to_dict()
            elif command == "late":
                result = gen.late()
            elif command == "setup_info":
                result = gen.setup_info()
            else:
                await gen.close()
                conn.send(("ok", None))
                return
            conn.send(("ok", result))
        except Exception:
            conn.send(("error", traceback.format_exc()))


class PoolDriver:
    """The pairs spread over worker processes, each with its own event loop."""

    def __init__(self, spec: AdapterSpec, indices: list[int], processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.processes = processes
        self.workers = []
        for k in range(processes):
            parent, child = context.Pipe()
            share = indices[k::processes]
            process = context.Process(
                target=_worker_main, args=(spec, share, child), daemon=True, name=f"loadgen-{k}"
            )
            process.start()
            self.workers.append((process, parent))

    async def _call(self, k: int, command: str, argument: Any = None) -> Any:
        _, conn = self.workers[k]
        conn.send((command, argument))
        status, result = await asyncio.to_thread(conn.recv)
        if status != "ok":
            raise RuntimeError(f"load generator worker {k} failed:\n{result}")
        return result

    async def prepare(self) -> None:
        await asyncio.gather(*(self._call(k, "prepare") for k in range(self.processes)))

    async def connect(self) -> int:
        # One worker after another: see OursAdapter on why pairing is sequential.
        total = 0
        for k in range(self.processes):
            total += await self._call(k, "connect")
        return total

    async def phase(self, spec: PhaseSpec, start_at: float) -> PhaseStats:
        share = dataclasses.replace(spec, rate=spec.rate / self.processes)
        parts = await asyncio.gather(
            *(self._call(k, "phase", (share, start_at)) for k in range(self.processes))
        )
        return PhaseStats.merge([PhaseStats.from_dict(p) for p in parts])

    async def setup_info(self) -> dict[str, Any]:
        parts = await asyncio.gather(*(self._call(k, "setup_info") for k in range(self.processes)))
        retries: Counter = Counter()
        errors: Counter = Counter()
        for part in parts:
            retries.update(part["connect_retries"])
            errors.update(part["errors"])
        return {
            "connect_retries": dict(retries),
            "errors": dict(errors),
            "out_of_order": sum(part["out_of_order"] for part in parts),
        }

    async def late(self) -> dict[str, int]:
        total: Counter = Counter()
        for part in await asyncio.gather(*(self._call(k, "late") for k in range(self.processes))):
            total.update(part)
        return dict(total)

    async def close(self) -> None:
        await asyncio.gather(
            *(self._call(k, "close") for k in range(self.processes)), return_exceptions=True
        )
        for process, _ in self.workers:
            process.join(10)
            if process.is_alive():
                process.kill()


def make_driver(spec: AdapterSpec, indices: list[int], processes: int = 1) -> Any:
    """A LocalDriver for one process, a PoolDriver for more."""
    if processes <= 1:
        return LocalDriver(spec, indices)
    return PoolDriver(spec, indices, min(processes, len(indices)))


# --- summaries ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def summarize(stats: PhaseStats, processes: int = 1) -> dict[str, Any]:
    """What a phase's result table shows (times in ms, rates per second)."""
    duration = stats.end - stats.start
    busy = max(stats.drain_end - stats.start, 1e-9)

    latencies = [latency for _, latency in stats.timeline]

    def ms(p: float) -> float | None:
        value = percentile(latencies, p)
        return None if value is None else round(value * 1000, 2)

    return {
        "mode": stats.mode,
        "label": stats.label,
        "duration_s": round(duration, 2),
        "sent": stats.sent,
        "acked": stats.acked,
        "delivered": stats.delivered,
        "offered_per_s": round(stats.sent / duration, 1),
        "delivered_per_s": round(stats.in_window / duration, 1),
        "p50_ms": ms(50),
        "p95_ms": ms(95),
        "p99_ms": ms(99),
        "max_ms": ms(100),
        "lost": stats.lost,
        "unacked": stats.unacked,
        "duplicates": stats.duplicates,
        "out_of_order": stats.out_of_order,
        "gaps": stats.gaps,
        "stalls": stats.stalls,
        "errors": dict(stats.errors),
        "closed_sockets": stats.closed_sockets,
        "queue_frames": stats.queue_frames,
        "queue_mb": round(stats.queue_bytes / 1e6, 2),
        "loadgen_processes": processes,
        # CPU of the load generator over the phase and its drain, as a share of one
        # core (summed over worker processes): near 100 % per process means the
        # generator, not the server, is what limits the numbers.
        "loadgen_cpu_pct": round(100 * stats.loadgen_cpu / busy, 1),
        "slow_spells": slow_spells(stats),
    }


SLOW_SECONDS = 0.05  # the DESIGN's p99 bound
SPELL_GAP_SECONDS = 0.5


def slow_spells(stats: PhaseStats, limit: int = 20) -> list[dict[str, Any]]:
    """Stretches of messages slower than SLOW_SECONDS, merged when under SPELL_GAP_SECONDS
    apart: a tail from a few periodic stalls looks different here from a server that is
    slow throughout. `at` is on the monotonic clock, which the servers' logs can share."""
    spells: list[dict[str, Any]] = []
    for intended, latency in sorted(stats.timeline):
        if latency <= SLOW_SECONDS:
            continue
        last = spells[-1] if spells else None
        if last is not None and intended - last["_end"] < SPELL_GAP_SECONDS:
            last["_end"] = intended
            last["messages"] += 1
            last["max_ms"] = max(last["max_ms"], round(latency * 1000, 1))
        else:
            spells.append(
                {
                    "offset_s": round(intended - stats.start, 2),
                    "at": round(intended, 3),
                    "_end": intended,
                    "messages": 1,
                    "max_ms": round(latency * 1000, 1),
                }
            )
    for spell in spells:
        spell["length_s"] = round(spell.pop("_end") - spell["at"], 2)
    return sorted(spells, key=lambda spell: -spell["messages"])[:limit]
