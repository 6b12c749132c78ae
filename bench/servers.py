"""The processes under test: our daphne, the baselines, private Redis servers; and what
/proc says about them (CPU seconds, resident memory)."""

from __future__ import annotations

import atexit
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Servers still running, stopped at exit whatever happened (an interrupted run included).
_running: set[Server] = set()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- /proc -------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_memory_kb(pid: int, name: str = "VmRSS") -> int:
    """A line of /proc/<pid>/status in KiB: VmRSS (now) or VmHWM (the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return 0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies over all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time, which is already in user
    return total - idle, total


def machine_busy_pct(before: tuple[float, float], after: tuple[float, float]) -> float:
    """How busy all cores together were between two machine_cpu() readings (100 = all)."""
    busy = after[0] - before[0]
    total = after[1] - before[1]
    return round(100 * busy / total, 1) if total else 0.0


# --- log scanning ------------------------------------------------------------------------

LOG_PATTERNS = {
    "TimeoutError": re.compile(r"TimeoutError"),
    "Traceback": re.compile(r"^Traceback", re.MULTILINE),
    "ERROR": re.compile(r" ERROR "),
    "WARNING": re.compile(r" WARNING "),
}


def scan_log(path: Path) -> dict[str, object]:
    """Counts of the lines that matter in a server log, and a few samples of the bad ones."""
    text = path.read_text(errors="replace") if path.exists() else ""
    counts = {name: len(pattern.findall(text)) for name, pattern in LOG_PATTERNS.items()}
    samples = []
    for line in text.splitlines():
        bad = any(word in line for word in ("TimeoutError", " ERROR ", " WARNING ", "Error:"))
        if bad and line[:300] not in samples:
            samples.append(line[:300])
        if len(samples) >= 5:
            break
    return {**counts, "samples": samples}


# --- server processes --------------------------------------------------------------------


@dataclass(eq=False)
class Server:
    """One or more processes serving one target."""

    name: str
    log_dir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(pid) for pid in self.pids)

    def rss_kb(self) -> int:
        return sum(process_memory_kb(pid) for pid in self.pids)

    def peak_rss_mb(self) -> float:
        """The highest peak RSS among the processes (VmHWM), in MB."""
        return round(max(process_memory_kb(pid, "VmHWM") for pid in self.pids) / 1024, 1)

    def spawn(self, command: list[str], env: dict[str, str], port: int) -> None:
        log_path = self.log_dir / f"{self.name}-{port}.log"
        with open(log_path, "wb") as log:
            # Children inherit this process's open-file limit, raised by bench.run.
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        self.ports.append(port)
        self.logs.append(log_path)
        _running.add(self)

    def stop(self) -> dict[str, object]:
        """Stop the processes (ours only, by pid); returns what their logs say."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        _running.discard(self)
        return self.log_findings()

    def log_findings(self) -> dict[str, object]:
        findings: dict[str, object] = {}
        for path in self.logs:
            findings[path.name] = scan_log(path)
        return findings


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()


def _wait_ready(server: Server, port: int, health_path: str | None, timeout: float = 60) -> None:
    process = server.processes[-1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.logs[-1].read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{server.name} exited with {process.returncode}:\n{tail}")
        try:
            if health_path is None:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            else:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                with opener.open(f"http://127.0.0.1:{port}{health_path}", timeout=2) as reply:
                    if reply.status == 200:
                        return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} on port {port} did not become ready")


def base_env(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_SETTINGS_MODULE", "REDIS_URL", "DATABASE_URL"))
    }
    env.update({"PYTHONUNBUFFERED": "1"})
    env.update(overrides)
    return env


def ours_env(
    *,
    database_url: str,
    redis_url: str | None,
    layer: str,
    prefix: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment our daphne runs with under load."""
    env = base_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        CHANNEL_LAYER=layer,
        CHAT_LAYER_PREFIX=prefix or "bench" + uuid.uuid4().hex[:8],
        # The same MD5 hasher the seeding used: a PBKDF2 check costs ~0.4 s here.
        CHAT_FAST_PASSWORD_HASHER="1",  # noqa: S106 (a switch, not a password)
        # The real-world anti-flood limit (30 frames / 10 s) would cap the offered load.
        CHAT_RATE_PER_10S="1000000",
        CHAT_MAX_SOCKETS_PER_USER="20",
        # Pairs are fixed for the whole run: a coach's threads must not move away
        # between phases however long a setup takes.
        CHAT_COACH_GRACE_SECONDS="86400",
        CHAT_UNANSWERED_SECONDS="86400",
        LOG_LEVEL="WARNING",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def daphne_command(app: str, port: int, launcher: str = "daphne") -> list[str]:
    return [sys.executable, "-m", launcher, "-b", "127.0.0.1", "-p", str(port), app]


def start_ours(name: str, env: dict[str, str], log_dir: Path, processes: int = 1) -> Server:
    server = Server(name=name, log_dir=log_dir)
    for _ in range(processes):
        port = free_port()
        # As deployed: daphne on uvloop, through config/serve.py.
        server.spawn(daphne_command("config.asgi:application", port, "config.serve"), env, port)
        _wait_ready(server, port, "/healthz")
    return server


def start_tutorial(name: str, layer: str, redis_url: str, log_dir: Path, prefix: str) -> Server:
    """The Channels tutorial chat (bench/baselines/tutorial) on daphne."""
    env = base_env(
        DJANGO_SETTINGS_MODULE="bench.baselines.tutorial.settings",
        TUTORIAL_LAYER=layer,
        REDIS_URL=redis_url,
        TUTORIAL_PREFIX=prefix,
    )
    server = Server(name=name, log_dir=log_dir)
    port = free_port()
    server.spawn(daphne_command("bench.baselines.tutorial.asgi:application", port), env, port)
    _wait_ready(server, port, None)
    return server


def start_relay(name: str, log_dir: Path) -> Server:
    """The bare `websockets` relay (bench/baselines/ws_relay.py)."""
    server = Server(name=name, log_dir=log_dir)
    port = free_port()
    server.spawn(
        [sys.executable, "-m", "bench.baselines.ws_relay", "--port", str(port)], base_env(), port
    )
    _wait_ready(server, port, None)
    return server


def start_redis(name: str, log_dir: Path) -> Server:
    """A private, throw-away redis-server on a free port (the shared one is never touched)."""
    server = Server(name=name, log_dir=log_dir)
    port = free_port()
    command = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(log_dir),
    ]
    server.spawn(command, base_env(), port)
    _wait_ready(server, port, None)
    return server
