"""The compose file's commands are real CLI commands, and nothing runs unauthenticated."""

from pathlib import Path

import typer.main
import yaml

from shared.cli.main import app

COMPOSE = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())


def test_every_chorus_command_in_compose_exists() -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    for name, service in COMPOSE["services"].items():
        command = service.get("command")
        if isinstance(command, list) and command[0] == "chorus":
            assert command[1] in commands, f"{name}: unknown command {command[1]}"


def test_redis_requires_a_password_and_never_evicts() -> None:
    redis_cmd = COMPOSE["services"]["redis"]["command"]
    assert "--requirepass" in redis_cmd and "noeviction" in redis_cmd
    assert "healthcheck" in COMPOSE["services"]["redis"]
