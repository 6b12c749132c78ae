"""The scenarios of docs/benchmarks.md. Each one starts what it measures, measures it,
stops it, and returns a JSON-able dict; `bench.run` strings them together.

- throughput: member→coach pairs, open loop then closed loop, on every target
  (the websockets relay, the tutorial on both layers, ours on both layers)
- idle: N idle sockets on one daphne process (CPU % of a core, memory per socket)
- history: thread.history over the socket and the selector in-process, by depth
- assignment: one decision with 1,000 queued threads and 200 coaches (in-process)
- multiprocess: members on one daphne, coaches on another, same Redis and PostgreSQL
- balanced: two daphne processes each serving half the members and half the coaches
- sharded: the channel layer over two Redis servers
- message_path: the message.send database hop alone, in-process (ms and queries)
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench import loadgen, servers
from bench.databases import Databases
from bench.loadgen import Account, AdapterSpec, Client, PhaseSpec

PASSWORD = "bench-pass-2026"  # noqa: S105 (seeded into throw-away bench databases)
LAYERS = ("pubsub", "core")
BASELINES = ("relay", "tutorial-core", "tutorial-pubsub")
# Lost means "not delivered within the drain"; this much longer tells late from never.
LATE_GRACE_SECONDS = 15


@dataclass(frozen=True)
class Size:
    """How big a run is. `quick` is the default; `full` is what docs/benchmarks.md reports."""

    pairs: tuple[int, ...]
    phase_seconds: float
    rates: tuple[float, ...]  # open loop, messages per second over all pairs, one phase each
    window: int  # closed loop, messages in flight per pair
    idle_sockets: int
    idle_seconds: float
    history_depths: tuple[int, ...]
    history_rounds: int
    assignment_threads: int
    assignment_coaches: int
    multi_pairs: int  # pairs for the two-process and sharded scenarios
    # Idle, two processes and sharded on every layer of --layers, or on the first only.
    every_layer: bool = True


SIZES = {
    "quick": Size(
        pairs=(20, 100),
        phase_seconds=4,
        rates=(50, 200),
        window=1,
        idle_sockets=500,
        idle_seconds=10,
        history_depths=(100, 10_000),
        history_rounds=50,
        assignment_threads=1000,
        assignment_coaches=200,
        multi_pairs=20,
        every_layer=False,
    ),
    "full": Size(
        pairs=(20, 200, 500),
        phase_seconds=15,
        rates=(50, 200),
        window=1,
        idle_sockets=5000,
        idle_seconds=60,
        history_depths=(100, 10_000, 100_000),
        history_rounds=300,
        assignment_threads=1000,
        assignment_coaches=200,
        multi_pairs=200,
    ),
}


@dataclass
class Context:
    """One run: where things go, what is shared between scenarios."""

    run_id: str
    size: Size
    results_dir: Path
    redis_url: str
    databases: Databases
    layers: tuple[str, ...] = LAYERS
    targets: tuple[str, ...] = (*BASELINES, "ours-pubsub", "ours-core")
    loadgen_procs: int = 1
    drain: float = 5.0
    profile: bool = False
    logs: dict[str, Any] = field(default_factory=dict)
    redis_prefixes: list[str] = field(default_factory=list)

    @property
    def log_dir(self) -> Path:
        path = self.results_dir / self.run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def seed_counts(self) -> tuple[int, int]:
        """Members and coaches the template needs for every scenario of this size."""
        size = self.size
        pairs = max((*size.pairs, size.multi_pairs))
        members = max(pairs, size.idle_sockets, size.assignment_threads, len(size.history_depths))
        coaches = max(pairs, size.assignment_coaches)
        return members, coaches

    errors: dict[str, str] = field(default_factory=dict)
    keep_databases: bool = False

    def scenario_layers(self) -> tuple[str, ...]:
        """The layers the idle, two-process and sharded scenarios run on."""
        return self.layers if self.size.every_layer else self.layers[:1]

    def stop(self, server: servers.Server, database_url: str | None = None) -> None:
        self.logs.update(server.stop())
        if database_url and not self.keep_databases:
            self.databases.drop(database_url.rsplit("/", 1)[1])

    def failed(self, label: str, error: BaseException) -> None:
        self.errors[label] = f"{type(error).__name__}: {error}"
        print(f"  {label} failed: {self.errors[label]}", flush=True)
        traceback.print_exc()

    def ours(
        self, label: str, layer: str, *, processes: int = 1, redis_url: str | None = None
    ) -> tuple[servers.Server, str]:
        """A fresh copy of the seeded database and our daphne on it."""
        database_url = self.databases.fresh(label.replace("-", "_"))
        prefix = f"bench{uuid.uuid4().hex[:8]}"
        self.redis_prefixes.append(prefix)
        env = servers.ours_env(
            database_url=database_url,
            redis_url=redis_url or self.redis_url,
            layer=layer,
            prefix=prefix,
        )
        return servers.start_ours(label, env, self.log_dir, processes), database_url


def accounts(kind: str, count: int) -> tuple[Account, ...]:
    return tuple(Account(f"{kind}{i}", PASSWORD) for i in range(1, count + 1))


# --- throughput --------------------------------------------------------------------------


async def measure_pairs(
    ctx: Context,
    server: servers.Server,
    spec: AdapterSpec,
    pairs: int,
    *,
    profile_name: str | None = None,
) -> dict[str, Any]:
    """Set up `pairs` pairs on a running target, run the open then the closed loop."""
    size = ctx.size
    driver = loadgen.make_driver(spec, list(range(pairs)), ctx.loadgen_procs)
    started = time.monotonic()
    result: dict[str, Any] = {"pairs": pairs, "phases": {}}
    try:
        await driver.prepare()
        await driver.connect()
        result["setup_s"] = round(time.monotonic() - started, 1)
        result["setup"] = await driver.setup_info()
        # Let the queue feed's last frames (1/s at most) go out before measuring.
        await asyncio.sleep(2)
        phases = [
            PhaseSpec("open", size.phase_seconds, rate=r, drain=ctx.drain, label=f"open-{r:g}")
            for r in size.rates
        ]
        closed = PhaseSpec(
            "closed", size.phase_seconds, window=size.window, drain=ctx.drain, label="closed"
        )
        for phase in [*phases, closed]:
            result["phases"][phase.label] = await _measured_phase(server, driver, phase)
        if any(p["lost"] for p in result["phases"].values()):
            await asyncio.sleep(LATE_GRACE_SECONDS)
        for label, late in (await driver.late()).items():
            result["phases"][label]["late_after_drain"] = late
        if profile_name:
            result["profile"] = await _profile(ctx, server, driver, closed, profile_name)
        result["peak_rss_mb"] = server.peak_rss_mb()
    finally:
        await driver.close()
    return result


async def _measured_phase(server: servers.Server, driver: Any, phase: PhaseSpec) -> dict[str, Any]:
    cpu_before = server.cpu_seconds()
    machine_before = servers.machine_cpu()
    start_at = time.monotonic() + 0.3
    stats = await driver.phase(phase, start_at)
    server_cpu = server.cpu_seconds() - cpu_before
    summary = loadgen.summarize(stats, driver.processes)
    summary["server_cpu_s_per_1k"] = (
        round(1000 * server_cpu / stats.delivered, 3) if stats.delivered else None
    )
    summary["server_cpu_pct"] = round(100 * server_cpu / (stats.drain_end - stats.start), 1)
    summary["machine_busy_pct"] = servers.machine_busy_pct(machine_before, servers.machine_cpu())
    return summary


async def _profile(
    ctx: Context, server: servers.Server, driver: Any, phase: PhaseSpec, name: str
) -> dict[str, Any]:
    """The closed loop again under py-spy, once per recording (not counted in the results):

    - flamegraph: an SVG of every thread's non-idle stacks;
    - cpu: collapsed stacks of whichever thread holds the GIL (`--gil`): where the
      process's Python CPU time goes;
    - wall: collapsed stacks of every thread, idle included (`--idle --threads`): how
      busy the database threads are, and on what.
    """
    seconds = max(5, int(phase.duration))
    recordings = {
        "flamegraph": (ctx.log_dir / f"{name}.svg", ["--format", "flamegraph"]),
        "cpu": (ctx.log_dir / f"{name}-cpu.txt", ["--format", "raw", "--gil"]),
        "wall": (ctx.log_dir / f"{name}-wall.txt", ["--format", "raw", "--idle", "--threads"]),
    }
    for path, options in recordings.values():
        recorder = await _py_spy(server, path, seconds, options)
        await asyncio.sleep(1)  # attached before the load starts
        await driver.phase(phase, time.monotonic() + 0.2)
        _, error = await recorder.communicate()
        if recorder.returncode != 0:
            return {"error": error.decode(errors="replace")[-500:]}
    return {
        "files": {k: str(path) for k, (path, _) in recordings.items()},
        **hot_spots(recordings["cpu"][0]),
        "database_thread": database_thread(recordings["wall"][0]),
    }


async def _py_spy(
    server: servers.Server, path: Path, seconds: int, options: list[str]
) -> asyncio.subprocess.Process:
    """`py-spy record` attached to our first daphne process for `seconds`, into `path`."""
    command = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid"]
    command += [str(server.pids[0]), "--duration", str(seconds), "--output", str(path)]
    return await asyncio.create_subprocess_exec(
        *command, *options, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _collapsed(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's collapsed stacks: one "frame;frame;… count" per line."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks.append((stack.split(";"), int(count)))
    return stacks


def hot_spots(collapsed: Path, top: int = 20) -> dict[str, Any]:
    """Self and inclusive shares of functions, and self share by package."""
    self_time: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    packages: dict[str, int] = {}
    total = 0
    for frames, count in _collapsed(collapsed):
        total += count
        leaf = frames[-1]
        self_time[leaf] = self_time.get(leaf, 0) + count
        package = _package_of(leaf)
        packages[package] = packages.get(package, 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def share(table: dict[str, int]) -> list[tuple[str, float]]:
        ranked = sorted(table.items(), key=lambda item: -item[1])[:top]
        return [(name, round(100 * n / max(total, 1), 1)) for name, n in ranked]

    return {
        "samples": total,
        "self": share(self_time),
        "inclusive": share(inclusive),
        "self_by_package": share(packages),
    }


def _package_of(frame: str) -> str:
    """'fn (django/db/x.py:12)' → 'django'; 'fn (threading.py:3)' → 'threading.py'."""
    if "(" not in frame:
        return frame
    path = frame.rsplit("(", 1)[1].rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    return path.lstrip("/").split("/", 1)[0]


HOP_FRAME = "(chat/hop.py"


def database_thread(collapsed: Path, top: int = 25) -> dict[str, Any]:
    """From an `--idle --threads` recording: the share of wall time the database thread
    (the one running chat/hop.py's actions) spends in actions, and where, inclusive."""
    per_thread: dict[str, int] = {}
    in_hop: dict[str, int] = {}
    frames_in_hop: dict[str, dict[str, int]] = {}
    for frames, count in _collapsed(collapsed):
        thread = next((f for f in frames if f.startswith("thread ")), frames[0])
        per_thread[thread] = per_thread.get(thread, 0) + count
        if any(HOP_FRAME in f for f in frames):
            in_hop[thread] = in_hop.get(thread, 0) + count
            table = frames_in_hop.setdefault(thread, {})
            for frame in set(frames):
                table[frame] = table.get(frame, 0) + count
    if not in_hop:
        return {}
    thread = max(in_hop, key=in_hop.get)
    busy = in_hop[thread]
    ranked = sorted(frames_in_hop[thread].items(), key=lambda item: -item[1])
    return {
        "thread": thread,
        "busy_pct": round(100 * busy / per_thread[thread], 1),
        "inclusive_pct_of_busy": [
            (name, round(100 * n / busy, 1))
            for name, n in ranked
            if not name.startswith(("thread ", "process "))
        ][:top],
    }


async def throughput(ctx: Context) -> dict[str, Any]:
    """Every target at every pair count, baselines and ours back to back per count."""
    results: dict[str, Any] = {}
    biggest = max(ctx.size.pairs)
    for pairs in ctx.size.pairs:
        for target in ctx.targets:
            label = f"{target}-{pairs}"
            print(f"  throughput: {label}", flush=True)
            # Only ours is profiled: the baselines' hot spots tell the speed work nothing.
            profile = ctx.profile and pairs == biggest and target.startswith("ours")
            try:
                results[label] = {
                    "target": target,
                    **await _throughput_one(
                        ctx, target, pairs, label, f"profile-{label}" if profile else None
                    ),
                }
            except Exception as error:
                # One target failing must not cost the others' numbers.
                ctx.failed(label, error)
    return results


async def _throughput_one(
    ctx: Context, target: str, pairs: int, label: str, profile: str | None
) -> dict[str, Any]:
    if target == "relay":
        server = servers.start_relay(label, ctx.log_dir)
    elif target.startswith("tutorial-"):
        layer = target.split("-", 1)[1]
        prefix = f"benchtut{uuid.uuid4().hex[:8]}"
        ctx.redis_prefixes.append(prefix)
        server = servers.start_tutorial(label, layer, ctx.redis_url, ctx.log_dir, prefix)
    else:
        layer = target.split("-", 1)[1]
        server, database_url = ctx.ours(label, layer)
    try:
        if target.startswith("ours"):
            spec = AdapterSpec(
                "ours", server.url, server.url, accounts("member", pairs), accounts("coach", pairs)
            )
        else:
            spec = AdapterSpec("room", server.url, server.url)
        return await measure_pairs(ctx, server, spec, pairs, profile_name=profile)
    finally:
        ctx.stop(server, database_url if target.startswith("ours") else None)


# --- several processes, several Redis servers ------------------------------------------------


async def multiprocess(ctx: Context) -> dict[str, Any]:
    """Members on one daphne process, their coaches on another: same Redis and PostgreSQL."""
    return await _two_processes(ctx, "multiprocess", "2proc", lambda a, b: (a, b))


async def balanced(ctx: Context) -> dict[str, Any]:
    """Two daphne processes sharing the load as behind a proxy: each process serves half
    the members and half the coaches, and most pairs span the two."""
    return await _two_processes(ctx, "balanced", "balanced", lambda a, b: (f"{a},{b}", f"{b},{a}"))


async def _two_processes(
    ctx: Context, scenario: str, tag: str, split: Callable[[str, str], tuple[str, str]]
) -> dict[str, Any]:
    """Pairs over two daphne processes, members' and coaches' URLs as `split` spreads
    them (a comma-separated list spreads pairs round robin); invariants counted after."""
    results = {}
    pairs = ctx.size.multi_pairs
    for layer in ctx.scenario_layers():
        label = f"ours-{layer}-{tag}-{pairs}"
        print(f"  {scenario}: {label}", flush=True)
        server, database_url = ctx.ours(label, layer, processes=2)
        try:
            member_urls, coach_urls = split(*server.urls)
            spec = AdapterSpec(
                "ours", member_urls, coach_urls, accounts("member", pairs), accounts("coach", pairs)
            )
            result = await measure_pairs(ctx, server, spec, pairs)
            ctx.stop(server)
            result["invariants"] = run_inproc(["invariants"], database_url)
            results[label] = {"target": f"ours-{layer}", "processes": 2, **result}
        except Exception as error:
            ctx.failed(label, error)
        finally:
            ctx.stop(server, database_url)
    return results


async def sharded(ctx: Context) -> dict[str, Any]:
    """One daphne process, the layer sharded over the shared Redis and a private one."""
    results = {}
    pairs = ctx.size.multi_pairs
    private = servers.start_redis("redis-shard", ctx.log_dir)
    try:
        urls = f"{ctx.redis_url},redis://127.0.0.1:{private.ports[0]}/0"
        for layer in ctx.scenario_layers():
            label = f"ours-{layer}-sharded-{pairs}"
            print(f"  sharded: {label}", flush=True)
            server, database_url = ctx.ours(label, layer, redis_url=urls)
            try:
                spec = AdapterSpec(
                    "ours",
                    server.url,
                    server.url,
                    accounts("member", pairs),
                    accounts("coach", pairs),
                )
                result = await measure_pairs(ctx, server, spec, pairs)
                results[label] = {"target": f"ours-{layer}", "redis_servers": 2, **result}
            except Exception as error:
                ctx.failed(label, error)
            finally:
                ctx.stop(server, database_url)
    finally:
        ctx.stop(private)
    return results


# --- idle sockets ------------------------------------------------------------------------


async def idle(ctx: Context) -> dict[str, Any]:
    """N members connected and idle on one daphne process: CPU and memory per socket."""
    results = {}
    count = ctx.size.idle_sockets
    for layer in ctx.scenario_layers():
        label = f"ours-{layer}-idle-{count}"
        print(f"  idle: {label}", flush=True)
        server, database_url = ctx.ours(label, layer)
        clients: list[Client] = []
        try:
            started = time.monotonic()
            cookies = await loadgen.login_all(server.url, list(accounts("member", count)), 32)
            login_s = time.monotonic() - started
            await asyncio.sleep(2)
            rss_before = server.rss_kb()

            async def open_one(cookie: str, url: str = server.url) -> Client:
                client = await Client.open(
                    f"{loadgen.ws_base(url)}/ws/chat/", _resolve_hello, cookie=cookie, origin=url
                )
                await asyncio.wait_for(client.expect("hello"), 120)
                return client

            started = time.monotonic()
            clients = await loadgen.gather_limited([open_one(c) for c in cookies], 50)
            connect_s = time.monotonic() - started
            await asyncio.sleep(5)  # let allocations settle
            rss_after = server.rss_kb()
            cpu_before = server.cpu_seconds()
            await asyncio.sleep(ctx.size.idle_seconds)
            cpu = server.cpu_seconds() - cpu_before
            profile = await _profile_idle(ctx, server, label) if ctx.profile else None
            results[label] = {
                "target": f"ours-{layer}",
                "sockets": count,
                "still_open": sum(not c.closed for c in clients),
                "login_s": round(login_s, 1),
                "connect_s": round(connect_s, 1),
                "idle_s": ctx.size.idle_seconds,
                "cpu_pct_of_core": round(100 * cpu / ctx.size.idle_seconds, 2),
                "rss_before_mb": round(rss_before / 1024, 1),
                "rss_after_mb": round(rss_after / 1024, 1),
                "kb_per_socket": round((rss_after - rss_before) / count, 1),
                "peak_rss_mb": server.peak_rss_mb(),
            }
            if profile is not None:
                results[label]["profile"] = profile
        except Exception as error:
            ctx.failed(label, error)
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
            ctx.stop(server, database_url)
    return results


async def _profile_idle(ctx: Context, server: servers.Server, label: str) -> dict[str, Any]:
    """The idle sockets for as long again under `py-spy --gil` (after the CPU is measured,
    so not counted): what an idle process spends its CPU on."""
    path = ctx.log_dir / f"profile-{label}-cpu.txt"
    recorder = await _py_spy(server, path, int(ctx.size.idle_seconds), ["--format", "raw", "--gil"])
    _, error = await recorder.communicate()
    if recorder.returncode != 0:
        return {"error": error.decode(errors="replace")[-500:]}
    return {"files": {"cpu": str(path)}, **hot_spots(path)}


def _resolve_hello(client: Client, raw: str) -> None:
    if raw.startswith('{"type":"hello"'):
        client.resolve("hello", json.loads(raw))


# --- history -----------------------------------------------------------------------------


async def history(ctx: Context) -> dict[str, Any]:
    """Threads of each depth filled in bulk; pages timed in-process and over the socket."""
    depths = ctx.size.history_depths
    rounds = ctx.size.history_rounds
    print(f"  history: depths {depths}", flush=True)
    database_url = ctx.databases.fresh("history")
    setup = run_inproc(
        ["history", "--depths", ",".join(map(str, depths)), "--rounds", str(rounds)],
        database_url,
    )
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    ctx.redis_prefixes.append(prefix)
    env = servers.ours_env(
        database_url=database_url, redis_url=ctx.redis_url, layer=ctx.layers[0], prefix=prefix
    )
    server = servers.start_ours("ours-history", env, ctx.log_dir)
    try:
        for entry in setup.values():
            cookie = (await loadgen.login_all(server.url, [Account(entry["member"], PASSWORD)]))[0]
            entry["socket"] = await _time_history(server.url, cookie, entry, rounds)
    finally:
        ctx.stop(server, database_url)
    return setup


async def _time_history(
    url: str, cookie: str, entry: dict[str, Any], rounds: int
) -> dict[str, Any]:
    def on_frame(client: Client, raw: str) -> None:
        frame = json.loads(raw)
        if frame.get("type") == "hello":
            client.resolve("hello", frame)
        elif frame.get("ref"):
            client.resolve(f"ref:{frame['ref']}", frame)

    ws_url = f"{loadgen.ws_base(url)}/ws/chat/"
    client = await Client.open(ws_url, on_frame, cookie=cookie, origin=url)
    try:
        await asyncio.wait_for(client.expect("hello"), 30)
        results = {}
        for position, before_seq in entry["positions"].items():
            samples = []
            for r in range(rounds + 1):
                ref = f"{position}-{r}"
                frame: dict[str, Any] = {"type": "thread.history", "ref": ref}
                frame["thread"] = entry["thread"]
                if before_seq is not None:
                    frame["before_seq"] = before_seq
                started = time.perf_counter()
                await client.send(json.dumps(frame))
                reply = await asyncio.wait_for(client.expect(f"ref:{ref}"), 30)
                elapsed = time.perf_counter() - started
                if reply.get("type") != "thread.messages":
                    raise RuntimeError(f"thread.history failed: {reply}")
                if r:  # the first round warms up
                    samples.append(elapsed)
            results[position] = _ms(samples)
        return results
    finally:
        await client.close()


def _ms(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(1000 * loadgen.percentile(samples, 50), 3),
        "p99_ms": round(1000 * loadgen.percentile(samples, 99), 3),
        "max_ms": round(1000 * max(samples), 3),
    }


# --- assignment --------------------------------------------------------------------------


async def assignment(ctx: Context) -> dict[str, Any]:
    """1,000 queued threads, 200 online coaches with room for them all; each decision timed."""
    size = ctx.size
    print(
        f"  assignment: {size.assignment_threads} queued, {size.assignment_coaches} coaches",
        flush=True,
    )
    database_url = ctx.databases.fresh("assignment")
    capacity = max(1, -(-size.assignment_threads // size.assignment_coaches))
    try:
        return run_inproc(
            [
                "assignment",
                "--threads",
                str(size.assignment_threads),
                "--coaches",
                str(size.assignment_coaches),
                "--capacity",
                str(capacity),
            ],
            database_url,
        )
    finally:
        if not ctx.keep_databases:
            ctx.databases.drop(database_url.rsplit("/", 1)[1])


async def message_path(ctx: Context) -> dict[str, Any]:
    """The message.send database hop alone, in-process: ms and queries per message."""
    print("  message path: the database hop in-process", flush=True)
    database_url = ctx.databases.fresh("message_path")
    try:
        return run_inproc(["message-path", "--messages", "300"], database_url)
    finally:
        if not ctx.keep_databases:
            ctx.databases.drop(database_url.rsplit("/", 1)[1])


def run_inproc(arguments: list[str], database_url: str) -> dict[str, Any]:
    """Run `python -m bench.inproc …` against a database; returns its JSON."""
    env = servers.base_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        DEBUG="0",
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        CHAT_BACKGROUND_WORK="0",
        LOG_LEVEL="WARNING",
    )
    completed = subprocess.run(
        [sys.executable, "-m", "bench.inproc", *arguments],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"bench.inproc {arguments[0]} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def forget_redis_keys(redis_url: str, prefixes: list[str]) -> int:
    """Delete this run's keys from the shared Redis (the core layer keeps groups a day)."""
    client = redis.Redis.from_url(redis_url)
    removed = 0
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            removed += client.delete(*keys)
    return removed


SCENARIOS = {
    "throughput": throughput,
    "idle": idle,
    "history": history,
    "assignment": assignment,
    "message_path": message_path,
    "multiprocess": multiprocess,
    "balanced": balanced,
    "sharded": sharded,
}
