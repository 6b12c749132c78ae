"""The deployment files (Dockerfile, docker-compose.yml, deploy/, .env.example) stay
valid and true to the app, checked without a Docker engine.

docker-compose.yml is validated and resolved by Debian's docker-compose (v1), which
needs no engine for `config`. Without that binary the compose tests skip on a
developer's machine and fail under CI (CI=true), where they must run.
"""

from __future__ import annotations

import ast
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from config.env import TRUE_WORDS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"

# Stand-ins for the values compose refuses to start without; never real secrets.
REQUIRED_SECRETS = {"SECRET_KEY": "test-only-not-a-secret", "POSTGRES_PASSWORD": "test-only"}

# Headers the app sets itself (config/settings.py, config/middleware.py): nginx must
# not add them a second time.
APP_SECURITY_HEADERS = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Strict-Transport-Security",
    "Cross-Origin-Opener-Policy",
]


# --- docker-compose ------------------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@pytest.fixture(scope="module")
def docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        message = "docker-compose is not installed (Debian: apt-get install docker-compose)"
        if _in_ci():
            pytest.fail(f"{message}; under CI the compose file must be validated, not skipped")
        pytest.skip(f"{message}; CI (CI=true) fails here instead of skipping")
    return binary


@pytest.fixture(scope="module")
def empty_env_file(tmp_path_factory) -> Path:
    """Passed as --env-file, so a developer's own .env cannot change the outcome."""
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


def _compose_environment(**values: str) -> dict[str, str]:
    """This process's environment without anything compose would read from it."""
    interpolated = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in interpolated and not name.startswith(("COMPOSE_", "DOCKER_"))
    }
    environment.update(values)
    return environment


def _run_compose(
    binary: str, env_file: Path, *arguments: str, **values: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *arguments],
        cwd=ROOT,
        env=_compose_environment(**values),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _yaml_to_json(text: str) -> Any:
    """Parse YAML with PyYAML: this interpreter's, or the one docker-compose runs on
    (docker-compose v1 is a Python program that depends on PyYAML)."""
    try:
        import yaml
    except ImportError:
        pass
    else:
        return yaml.safe_load(text)
    shebang = Path(shutil.which("docker-compose") or "").read_text().splitlines()[0]
    interpreter = shebang.removeprefix("#!").split()[0]
    result = subprocess.run(
        [
            interpreter,
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def compose(docker_compose, empty_env_file) -> dict[str, Any]:
    """docker-compose.yml as docker-compose resolves it (anchors merged, values
    interpolated, depends_on in its long form)."""
    result = _run_compose(docker_compose, empty_env_file, "config", **REQUIRED_SECRETS)
    assert result.returncode == 0, result.stderr
    return _yaml_to_json(result.stdout)


def test_compose_file_is_valid(docker_compose, empty_env_file):
    result = _run_compose(docker_compose, empty_env_file, "config", "-q", **REQUIRED_SECRETS)
    assert result.returncode == 0, result.stderr


def test_compose_file_is_valid_on_a_clean_clone(docker_compose, empty_env_file):
    # No .env, no secrets in the shell: the file alone must validate.
    result = _run_compose(docker_compose, empty_env_file, "config", "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("env_file", ["empty", ".env.example"])
def test_without_a_secret_key_the_service_refuses_to_start(
    docker_compose, empty_env_file, env_file
):
    # The one-shot migrate runs the web's settings first: with the environment compose
    # renders and no SECRET_KEY, it must stop with one line, and web never starts.
    source = empty_env_file if env_file == "empty" else ENV_EXAMPLE
    result = _run_compose(docker_compose, source, "config")
    assert result.returncode == 0, result.stderr
    services = _yaml_to_json(result.stdout)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == ""
    environment = dict(services["migrate"]["environment"])
    assert environment["SECRET_KEY"] == "" and environment["DEBUG"] == "0"
    environment["DATABASE_URL"] = "sqlite:///db.sqlite3"  # no postgres service here
    check = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode != 0
    assert check.stderr.strip().startswith("configuration error: DEBUG=0 needs a SECRET_KEY")
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_has_the_services(compose):
    assert set(compose["services"]) == {"redis", "postgres", "migrate", "web", "nginx", "seed"}


def test_web_can_be_scaled(compose):
    web = compose["services"]["web"]
    # A fixed name or a host port would make `--scale web=3` fail on the second replica.
    assert "container_name" not in web
    assert "ports" not in web
    assert "build" in web


def test_every_service_has_a_unique_name_and_no_fixed_container_name(compose):
    for name, service in compose["services"].items():
        assert "container_name" not in service, name


def _conditions(service: dict[str, Any]) -> dict[str, str]:
    return {name: dep["condition"] for name, dep in service.get("depends_on", {}).items()}


def test_start_order_waits_for_health_and_migrations(compose):
    services = compose["services"]
    assert _conditions(services["web"]) == {
        "redis": "service_healthy",
        "postgres": "service_healthy",
        "migrate": "service_completed_successfully",
    }
    assert _conditions(services["migrate"]) == {"postgres": "service_healthy"}
    assert _conditions(services["nginx"]) == {"web": "service_healthy"}
    assert _conditions(services["seed"])["migrate"] == "service_completed_successfully"


def test_long_running_services_have_healthchecks(compose):
    services = compose["services"]
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "/app/healthcheck.py"]
    assert services["nginx"]["healthcheck"]["test"][0] == "CMD"
    # One-shot jobs must not inherit the image's HEALTHCHECK.
    for one_shot in ("migrate", "seed"):
        assert services[one_shot]["healthcheck"]["test"] == ["NONE"], one_shot


def test_one_shot_jobs(compose):
    services = compose["services"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    assert services["seed"]["command"] == ["python", "manage.py", "seed_demo"]
    assert services["seed"]["profiles"] == ["demo"]
    # One image for all three, built from this directory.
    images = {services[name]["image"] for name in ("migrate", "web", "seed")}
    assert len(images) == 1


def test_web_environment(compose):
    environment = compose["services"]["web"]["environment"]
    assert environment["DEBUG"] == "0"
    assert environment["SECRET_KEY"] == REQUIRED_SECRETS["SECRET_KEY"]
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert environment["CHANNEL_LAYER"] in {"pubsub", "core"}
    for name in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "HTTPS"):
        assert name in environment
    # Multi-process metrics on a tmpfs, fresh at each container start.
    metrics_dir = environment["PROMETHEUS_MULTIPROC_DIR"]
    assert any(entry.split(":")[0] == metrics_dir for entry in compose["services"]["web"]["tmpfs"])
    # The ticker must run in every replica.
    assert "CHAT_BACKGROUND_WORK" not in environment
    assert "CHAT_FAST_PASSWORD_HASHER" not in environment


def test_nginx_service(compose):
    nginx = compose["services"]["nginx"]
    assert nginx["image"].startswith("nginx:")
    assert any(str(port.get("published")) == "8080" for port in nginx["ports"])
    assert any(
        volume.endswith(":/etc/nginx/nginx.conf:ro") and "deploy/nginx.conf" in volume
        for volume in nginx["volumes"]
    )


def test_postgres_keeps_its_data_in_a_named_volume(compose):
    postgres = compose["services"]["postgres"]
    assert any(volume.startswith("postgres-data:") for volume in postgres["volumes"])
    assert "postgres-data" in compose["volumes"]


# --- .env.example ---------------------------------------------------------------------------

_NO_DEFAULT = object()
_ENV_HELPERS = {"env_bool", "env_int", "env_list", "env_log_level", "env_writable_dir"}


class _Read:
    def __init__(self, name: str | None, default: Any, line: int) -> None:
        self.name = name
        self.default = default
        self.line = line


def _is_environ(node: ast.AST) -> bool:
    """`environ` (settings.py's alias) or `os.environ`."""
    if isinstance(node, ast.Name):
        return node.id == "environ"
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _literal(node: ast.AST | None) -> Any:
    if node is None:
        return _NO_DEFAULT
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _NO_DEFAULT


def _environment_reads(path: Path) -> list[_Read]:
    """Every read of an environment variable in a module: environ.get(...),
    environ[...], os.getenv(...) and the env_* helpers (_ENV_HELPERS).
    A name that is not a string literal is returned as None."""
    reads = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        name_node = default_node = None
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in _ENV_HELPERS:
                name_node = node.args[1] if len(node.args) > 1 else None
                default_node = node.args[2] if len(node.args) > 2 else None
            elif isinstance(func, ast.Attribute) and (
                (func.attr == "get" and _is_environ(func.value)) or func.attr == "getenv"
            ):
                name_node = node.args[0] if node.args else None
                default_node = node.args[1] if len(node.args) > 1 else None
            else:
                continue
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and _is_environ(node.value)
        ):
            name_node = node.slice
        else:
            continue
        name = name_node.value if isinstance(name_node, ast.Constant) else None
        reads.append(_Read(name, _literal(default_node), node.lineno))
    return reads


def _variables_read_by_the_app() -> dict[str, str]:
    """NAME → where it is read, over config/ (the test settings excepted)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "config").glob("*.py")):
        if path.name == "settings_test.py":
            continue
        for read in _environment_reads(path):
            if read.name is not None:
                found.setdefault(read.name, f"{path.relative_to(ROOT)}:{read.line}")
    return found


def _variables_in_env_example() -> set[str]:
    """Names set or shown commented out (`# NAME=...`) in .env.example."""
    pattern = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=")
    return {
        m.group(1) for line in ENV_EXAMPLE.read_text().splitlines() if (m := pattern.match(line))
    }


def test_the_scan_finds_the_settings_we_know_of():
    found = _variables_read_by_the_app()
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CHAT_RATE_PER_10S",
        "CHAT_BACKGROUND_WORK",
        "LOG_LEVEL",
        "PROMETHEUS_MULTIPROC_DIR",
    ):
        assert name in found, name


def test_settings_name_every_variable_literally():
    # A computed name would slip past the documentation check below.
    reads = _environment_reads(ROOT / "config" / "settings.py")
    unnamed = [read.line for read in reads if read.name is None]
    assert not unnamed, f"config/settings.py reads a computed variable name at lines {unnamed}"


def test_env_example_documents_every_variable_the_app_reads():
    documented = _variables_in_env_example()
    missing = {
        name: where
        for name, where in _variables_read_by_the_app().items()
        if name not in documented
    }
    assert not missing, f"add these to .env.example, with a comment: {missing}"


def test_env_example_commits_no_secret():
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    assert values["SECRET_KEY"] == ""
    assert values["POSTGRES_PASSWORD"] == ""


def _settings_defaults() -> dict[str, Any]:
    """NAME → literal default for each env_*/environ.get call in settings.py."""
    defaults: dict[str, Any] = {}
    for read in _environment_reads(ROOT / "config" / "settings.py"):
        if read.default is not _NO_DEFAULT:
            defaults[read.name] = read.default
    return defaults


def test_compose_defaults_repeat_the_settings_defaults():
    defaults = _settings_defaults()
    text = COMPOSE_FILE.read_text()
    checked = 0
    for name, value in re.findall(r"\$\{(\w+):-([^}]*)\}", text):
        default = defaults.get(name, _NO_DEFAULT)
        if isinstance(default, bool):
            assert (value.strip().lower() in TRUE_WORDS) is default, name
        elif isinstance(default, int):
            assert int(value) == default, name
        elif isinstance(default, str):
            assert value == default, name
        else:
            continue
        checked += 1
    assert checked >= 8


# --- Dockerfile and .dockerignore ---------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_dockerfile_runtime_stage():
    instructions = _instructions(DOCKERFILE.read_text())
    stages = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert all(instructions[i][1].startswith("python:3.11-slim") for i in stages)
    final = instructions[stages[-1] :]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}
    environment = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in environment
    assert "PYTHONUNBUFFERED=1" in environment
    assert any(keyword == "HEALTHCHECK" and "healthcheck.py" in rest for keyword, rest in final)
    command = json.loads(next(rest for keyword, rest in final if keyword == "CMD"))
    assert command == [
        "python",
        "-m",
        "config.serve",
        "-b",
        "0.0.0.0",  # noqa: S104 (inside the container; only the proxy reaches it)
        "-p",
        "8000",
        "--proxy-headers",
        "config.asgi:application",
    ]
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "pip install --no-deps ." in runs


def test_dockerfile_healthcheck_probes_healthz():
    assert "/healthz" in HEALTHCHECK.read_text()
    assert "healthcheck.py" in DOCKERFILE.read_text()


def test_dockerignore_keeps_secrets_and_data_out_of_the_image():
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".git", ".env", ".demo-secret-key", "tests", "*.sqlite3"):
        assert entry in ignored, entry
    for needed in ("README.md", "pyproject.toml", "manage.py", "config", "deploy"):
        assert needed not in ignored, needed


# --- deploy/healthcheck.py ---------------------------------------------------------------------


@pytest.fixture
def probe():
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", HEALTHCHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("allowed_hosts", "host"),
    [
        ("", "localhost"),
        ("*", "localhost"),
        ("chat.example.org,localhost", "chat.example.org"),
        (" , .example.org", "example.org"),
        ("*,[::1]", "[::1]"),
    ],
)
def test_probe_sends_a_host_that_django_allows(probe, allowed_hosts, host):
    assert probe.probe_host(allowed_hosts) == host


class _Recorder(http.server.BaseHTTPRequestHandler):
    status = 200
    seen: list[dict[str, str]] = []

    def do_GET(self):
        type(self).seen.append({"path": self.path, **dict(self.headers)})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Recorder.seen = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("status", "code"), [(200, 0), (400, 1), (301, 1), (503, 1)])
def test_probe_exit_code(probe, server, monkeypatch, status, code):
    monkeypatch.setattr(probe, "PORT", server.server_port)
    monkeypatch.setenv("ALLOWED_HOSTS", "chat.example.org")
    monkeypatch.setenv("HTTPS", "0")
    monkeypatch.setattr(_Recorder, "status", status)
    assert probe.main() == code
    request = _Recorder.seen[-1]
    assert request["path"] == "/healthz"
    assert request["Host"] == "chat.example.org"
    assert "X-Forwarded-Proto" not in request


def test_probe_says_https_when_the_app_redirects_plain_http(probe, server, monkeypatch):
    monkeypatch.setattr(probe, "PORT", server.server_port)
    monkeypatch.setenv("HTTPS", "1")
    assert probe.main() == 0
    assert _Recorder.seen[-1]["X-Forwarded-Proto"] == "https"


def test_probe_fails_when_nothing_listens(probe, monkeypatch):
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    port = httpd.server_port
    httpd.server_close()
    monkeypatch.setattr(probe, "PORT", port)
    assert probe.main() == 1


# --- deploy/nginx.conf ----------------------------------------------------------------------------


def _nginx_text() -> str:
    return "\n".join(line.split("#", 1)[0] for line in NGINX_CONF.read_text().splitlines())


def test_nginx_proxies_websockets_to_every_replica():
    text = _nginx_text()
    assert re.search(r"resolver\s+127\.0\.0\.11\b", text)
    assert re.search(r"set\s+\$web_upstream\s+http://web:8000;", text)
    assert re.search(r"proxy_pass\s+\$web_upstream;", text)
    assert re.search(r"proxy_http_version\s+1\.1;", text)
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade;", text)
    assert re.search(r"proxy_set_header\s+Connection\s+\$connection_upgrade;", text)
    assert re.search(r"proxy_set_header\s+Host\s+\$http_host;", text)
    # daphne trusts the first X-Forwarded-For entry: nginx must overwrite it.
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;", text)
    assert re.search(r"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;", text)
    socket_block = re.search(r"location\s+/ws/\s*\{(.*?)\}", text, re.S).group(1)
    assert re.search(r"proxy_read_timeout\s+\d+[hm];", socket_block)
    # proxy_set_header in a location would drop every inherited header.
    assert "proxy_set_header" not in socket_block
    assert re.search(r"listen\s+8080;", text)


def test_nginx_caps_a_sessions_sockets_across_replicas():
    # The service's own cap is per process; the proxy is the one place that sees them all.
    text = NGINX_CONF.read_text()
    assert re.search(r"limit_conn_zone \$cookie_sessionid zone=sockets_per_session:", text)
    socket_block = re.search(r"location\s+/ws/\s*\{(.*?)\}", text, re.S).group(1)
    assert re.search(r"limit_conn sockets_per_session 10;", socket_block)


def test_nginx_does_not_repeat_the_apps_security_headers():
    text = _nginx_text().lower()
    for header in APP_SECURITY_HEADERS:
        assert not re.search(rf"add_header\s+{header.lower()}\b", text), header


def test_nginx_keeps_metrics_private():
    assert re.search(r"location\s*=\s*/metrics\s*\{\s*return\s+404;", _nginx_text())


def test_nginx_accepts_the_config(tmp_path):
    nginx = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None
    )
    if nginx is None:
        pytest.skip("nginx is not installed here (Debian: apt-get install nginx-light)")
    if os.geteuid() != 0:
        pytest.skip("nginx -t needs root to open its logs and temp paths")
    text = NGINX_CONF.read_text()
    # The image's user and pid file; the test machine has neither.
    text = re.sub(r"^user\s+\S+;", "", text, flags=re.M)
    text = re.sub(r"^pid\s+\S+;", f"pid {tmp_path / 'nginx.pid'};", text, flags=re.M)
    config = tmp_path / "nginx.conf"
    config.write_text(text)
    result = subprocess.run(
        [nginx, "-t", "-q", "-c", str(config), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
