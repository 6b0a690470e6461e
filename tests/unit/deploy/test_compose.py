"""The compose stack, checked without a Docker engine: every command is a real CLI command with
real options, every variable is known and documented, every service is health-checked, and
nothing listens unauthenticated."""

from __future__ import annotations

import re
from typing import Any

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
