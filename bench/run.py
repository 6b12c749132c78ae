"""Run the benchmarks: `python -m bench.run --scenario all` (see docs/benchmarks.md).

Writes bench/results/<run id>.json (everything measured), <run id>.md (the tables) and
<run id>/ (server logs, profiles), and prints the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

import redis

from bench import report, scenarios
from bench.databases import ADMIN_URL, Databases
from bench.loadgen import raise_nofile_limit
from bench.servers import ROOT

RESULTS = ROOT / "bench" / "results"
ORDER = [
    "throughput",
    "multiprocess",
    "balanced",
    "sharded",
    "idle",
    "history",
    "assignment",
    "message_path",
]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description="Benchmarks of the chat service and its baselines."
    )
    parser.add_argument(
        "--scenario",
        default="all",
        help=f"all, or a comma-separated list of: {', '.join(ORDER)}",
    )
    parser.add_argument("--size", choices=sorted(scenarios.SIZES), default="quick")
    parser.add_argument("--pairs", help="override the pair counts, e.g. 20,200,500")
    parser.add_argument("--duration", type=float, help="seconds per load phase")
    parser.add_argument(
        "--rates", help="open-loop phases: messages per second over all pairs, e.g. 50,200"
    )
    parser.add_argument("--window", type=int, help="closed loop: messages in flight per pair")
    parser.add_argument("--idle-sockets", type=int)
    parser.add_argument("--idle-seconds", type=float)
    parser.add_argument("--history-depths", help="e.g. 100,10000,100000")
    parser.add_argument("--multi-pairs", type=int, help="pairs for multiprocess and sharded")
    parser.add_argument(
        "--layers", default="pubsub,core", help="our channel layers to run: pubsub,core"
    )
    parser.add_argument(
        "--targets",
        default="relay,tutorial-core,tutorial-pubsub,ours-pubsub,ours-core",
        help="throughput targets",
    )
    parser.add_argument("--loadgen-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to wait for stragglers")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy our daphne at the largest pair count"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres-admin-url", default=ADMIN_URL)
    parser.add_argument("--keep-databases", action="store_true")
    return parser.parse_args(argv)


def build_size(arguments: argparse.Namespace) -> scenarios.Size:
    size = scenarios.SIZES[arguments.size]
    overrides: dict[str, Any] = {}
    if arguments.pairs:
        overrides["pairs"] = tuple(int(p) for p in arguments.pairs.split(","))
    if arguments.history_depths:
        overrides["history_depths"] = tuple(int(d) for d in arguments.history_depths.split(","))
    if arguments.rates:
        overrides["rates"] = tuple(float(r) for r in arguments.rates.split(","))
    for name in ("duration", "window", "idle_sockets", "idle_seconds", "multi_pairs"):
        value = getattr(arguments, name)
        if value is not None:
            overrides["phase_seconds" if name == "duration" else name] = value
    return dataclasses.replace(size, **overrides)


def machine_info(databases: Databases, redis_url: str) -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    packages = ["Django", "channels", "channels-redis", "daphne", "redis", "websockets"]
    packages += ["Twisted", "psycopg"]
    versions = {name: metadata.version(name) for name in packages}
    versions["python"] = platform.python_version()
    versions["postgresql"] = databases.server_version()
    versions["redis-server"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "kernel": platform.release(),
        "commit": commit,
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    raise_nofile_limit()
    size = build_size(arguments)
    wanted = ORDER if arguments.scenario == "all" else arguments.scenario.split(",")
    unknown = set(wanted) - set(ORDER)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    run_id = datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
    databases = Databases(run_id, arguments.postgres_admin_url)
    layers = tuple(arguments.layers.split(","))
    targets = tuple(
        t
        for t in arguments.targets.split(",")
        if not t.startswith("ours-") or t.split("-", 1)[1] in layers
    )
    ctx = scenarios.Context(
        run_id=run_id,
        size=size,
        results_dir=RESULTS,
        redis_url=arguments.redis_url,
        databases=databases,
        layers=layers,
        targets=targets,
        loadgen_procs=arguments.loadgen_procs,
        drain=arguments.drain,
        profile=arguments.profile,
        keep_databases=arguments.keep_databases,
    )
    results: dict[str, Any] = {
        "run_id": run_id,
        "size": arguments.size,
        "size_params": dataclasses.asdict(size),
        "command": "python -m bench.run " + shlex.join(sys.argv[1:]),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_info(databases, arguments.redis_url),
        "scenarios": {},
        "errors": {},
    }
    try:
        members, coaches = ctx.seed_counts()
        print(f"seeding a template database: {members} members, {coaches} coaches", flush=True)
        databases.create_template(
            members=members,
            coaches=coaches,
            password=scenarios.PASSWORD,
            log=ctx.log_dir / "seed.log",
        )
        for name in [n for n in ORDER if n in wanted]:
            print(f"{name}:", flush=True)
            try:
                results["scenarios"][name] = await scenarios.SCENARIOS[name](ctx)
            except Exception as error:
                # One broken scenario must not cost the others' numbers.
                results["errors"][name] = f"{type(error).__name__}: {error}"
                traceback.print_exc()
    finally:
        if not arguments.keep_databases:
            databases.drop_all()
        scenarios.forget_redis_keys(arguments.redis_url, ctx.redis_prefixes)
    results["errors"].update(ctx.errors)
    results["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    results["logs"] = ctx.logs
    results["targets"] = report.evaluate_targets(results["scenarios"], ctx.logs)
    return results


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C: servers stopped, databases dropped on the way out.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _terminate)
    arguments = parse_arguments(argv)
    results = asyncio.run(run(arguments))
    RESULTS.mkdir(parents=True, exist_ok=True)
    markdown = report.render(results)
    (RESULTS / f"{results['run_id']}.json").write_text(json.dumps(results, indent=1))
    (RESULTS / f"{results['run_id']}.md").write_text(markdown)
    print(markdown)
    print(f"results: {RESULTS / results['run_id']}.json, .md")


if __name__ == "__main__":
    main()
