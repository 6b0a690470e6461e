"""The compose stack, checked without a Docker engine: every command is a real CLI command with
real options, every variable is known and documented, every service is health-checked,
nothing listens unauthenticated, and with `.env.example` as shipped every process talks to
the bundled simulator."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml

from chorus.cli.main import app
from chorus.runtime.commands import APP_MODULE
from chorus.settings import Settings
from tests.support.paths import REPO

ROOT = REPO
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
CLI: Any = typer.main.get_command(app)

# Variables the compose file passes that are not Settings fields, and who reads them.
EXTERNAL_ENV = {
    "FLOWER_BASIC_AUTH": "Flower",
    "REDISCLI_AUTH": "redis-cli in the healthcheck",
}


# Compose's interpolation: `$$` is a literal `$`; `${VAR}`, `${VAR:-default}` (unset or
# empty), `${VAR-default}` (unset only), `${VAR:?error}` and `${VAR?error}`.
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        value = env.get(name)
        missing = not value if op in (":-", ":?") else value is None
        if missing and op in (":?", "?"):
            raise ValueError(f"compose refuses to start: {name}: {arg}")
        if missing and op in (":-", "-"):
            return arg
        return value or ""  # compose substitutes "" for an unset variable (with a warning)

    return _VARIABLE.sub(one, text)


def read_dotenv(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[name.strip()] = value
    return env


def _interpolated(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolated(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(value, env) for key, value in node.items()}
    return node


def _process_env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def _settings_env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"CHORUS_{name.upper()}")
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.update(str(c) for c in choices or [])
    return names


def _chorus_services() -> list[tuple[str, list[str]]]:
    return [
        (name, service["command"])
        for name, service in SERVICES.items()
        if isinstance(service.get("command"), list) and service["command"][0] == "chorus"
    ]


def test_the_five_roles_and_redis_are_there() -> None:
    assert {"redis", "orchestrator", "worker", "api", "flower"} <= set(SERVICES)


@pytest.mark.parametrize(("name", "command"), _chorus_services())
def test_each_command_and_option_exists_in_the_cli(name: str, command: list[str]) -> None:
    sub = CLI.commands.get(command[1])
    assert sub is not None, f"{name}: `chorus {command[1]}` does not exist"
    options = {opt for param in sub.params for opt in getattr(param, "opts", [])}
    for word in command[2:]:
        if word.startswith("--"):
            assert word in options, f"{name}: `chorus {command[1]}` has no option {word}"
    # The parser accepts the whole command line (no missing values, no stray arguments).
    context = sub.make_context(command[1], list(command[2:]), resilient_parsing=False)
    context.close()


def test_every_environment_variable_is_known_and_in_env_example() -> None:
    known = _settings_env_names() | set(EXTERNAL_ENV)
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE))
    for name, service in SERVICES.items():
        for variable in service.get("environment") or {}:
            assert variable in known, f"{name}: {variable} is read by nothing"
    interpolated = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert interpolated <= documented, f"missing from .env.example: {interpolated - documented}"


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    for name, service in SERVICES.items():
        assert "healthcheck" in service and service["healthcheck"]["test"], name
        for dependency in (service.get("depends_on") or {}).values():
            assert dependency == {"condition": "service_healthy"}, name


def test_celery_healthchecks_ping_the_node_name_the_cli_gives() -> None:
    # `chorus worker` names its node worker@<hostname>; the check must ping that node.
    for role in ("orchestrator", "worker"):
        test = " ".join(SERVICES[role]["healthcheck"]["test"])
        assert f"inspect ping -d {role}@$$HOSTNAME" in test
        assert f"celery -A {APP_MODULE} " in test  # the app the workers run


def test_workers_scale_out() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker
    # Longer than the worker's own grace period, so SIGTERM's hand-back finishes before SIGKILL.
    grace = Settings().shutdown_grace_s
    assert float(worker["stop_grace_period"].rstrip("s")) > grace


def test_redis_has_a_password_an_append_only_file_and_never_evicts() -> None:
    command = SERVICES["redis"]["command"]
    for flag in ("--requirepass", "--appendonly yes", "--appendfsync everysec", "noeviction"):
        assert flag in command
    assert SERVICES["redis"]["image"].startswith("redis:")
    assert "ports" not in SERVICES["redis"]  # reachable inside the compose network only
    assert any(v.endswith(":/data") for v in SERVICES["redis"]["volumes"])


def test_nothing_listens_unauthenticated() -> None:
    api_env = SERVICES["api"]["environment"]
    assert ":?" in api_env["CHORUS_API_TOKENS"]  # compose refuses to start without tokens
    assert ":?" in api_env["CHORUS_METRICS_TOKEN"]
    flower = SERVICES["flower"]
    assert ":?" in flower["environment"]["FLOWER_BASIC_AUTH"]
    # /metrics and /healthcheck skip Flower's auth: publish on the host's loopback only.
    assert all(str(p).startswith("127.0.0.1:") for p in flower["ports"])
    assert ":?" in SERVICES["simulator"]["environment"]["CHORUS_SIMULATOR_API_KEY"]


def test_dockerfile_is_one_slim_image_running_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, flags=re.MULTILINE)
    user = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert "constraints.txt" in dockerfile  # the pinned versions CI tested


def test_interpolation_follows_compose_for_each_form() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET} ${EMPTY} ${UNSET}", env) == "x  "
    assert interpolate("${EMPTY:-d} ${UNSET:-d} ${SET:-d}", env) == "d d x"
    assert interpolate("${EMPTY-d} ${UNSET-d} ${SET-d}", env) == " d x"
    assert interpolate("$$HOSTNAME ${EMPTY?e}", env) == "$HOSTNAME "
    for refused in ("${EMPTY:?e}", "${UNSET:?e}", "${UNSET?e}"):
        with pytest.raises(ValueError, match="e"):
            interpolate(refused, env)


def _settings_in(service: str, dotenv: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The Settings a process of `service` builds, from the environment compose gives it."""
    resolved = _interpolated(COMPOSE, dotenv)["services"][service]
    for name in list(os.environ):
        if name.startswith(("CHORUS_", "ANTHROPIC_", "REDIS_")):
            monkeypatch.delenv(name)
    for name, value in _process_env(resolved).items():
        monkeypatch.setenv(name, value)
    return Settings()


@pytest.mark.parametrize(("name", "command"), _chorus_services())
def test_with_env_example_as_shipped_every_process_uses_the_compose_simulator(
    name: str, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = read_dotenv(ROOT / ".env.example")
    assert dotenv["ANTHROPIC_API_KEY"] == ""  # as shipped: no key, so the simulator
    settings = _settings_in(name, dotenv, monkeypatch)
    assert settings.uses_simulator is True, f"{name} would call the real API without a key"
    endpoint = urlsplit(settings.model_base_url or "")
    simulator = SERVICES.get(endpoint.hostname or "", {}).get("command", [])
    assert simulator[:2] == ["chorus", "simulator"], f"{name}: {endpoint.hostname} is no simulator"
    assert str(endpoint.port) == simulator[simulator.index("--port") + 1]
    # The simulator listens beyond loopback, so it wants the key the others send.
    assert settings.simulator_api_key is not None
    assert settings.simulator_api_key.get_secret_value() == dotenv["CHORUS_SIMULATOR_API_KEY"]
    redis = urlsplit(settings.redis_url.get_secret_value())
    assert (redis.hostname, redis.password) == ("redis", dotenv["REDIS_PASSWORD"])


@pytest.mark.parametrize(("name", "command"), _chorus_services())
def test_an_api_key_in_env_takes_every_process_to_the_api(
    name: str, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = {**read_dotenv(ROOT / ".env.example"), "ANTHROPIC_API_KEY": "sk-ant-example"}
    settings = _settings_in(name, dotenv, monkeypatch)
    assert settings.uses_simulator is False
    assert settings.model_base_url is None  # the SDK's own endpoint
