"""Settings from the environment: an empty or blank optional value means unset."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from chorus.settings import OPTIONAL_VALUES, Settings, env_name


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for field in Settings.model_fields:
        monkeypatch.delenv(env_name(field), raising=False)
        monkeypatch.delenv(f"CHORUS_{field.upper()}", raising=False)


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_api_key_means_the_simulator(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", blank)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", blank)
    settings = Settings()
    assert settings.uses_simulator is True
    assert settings.model_base_url == settings.simulator_url


@pytest.mark.parametrize("field", OPTIONAL_VALUES)
def test_every_optional_value_left_blank_is_none(
    monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    monkeypatch.setenv(env_name(field), " ")
    assert getattr(Settings(), field) is None
    for blank in ("", SecretStr("")):
        given: dict[str, Any] = {field: blank}  # as code passes it, beside the environment
        assert getattr(Settings(**given), field) is None


def test_an_empty_variable_with_a_default_takes_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("CHORUS_LOG_FORMAT", "")
    settings = Settings()
    assert settings.redis_url.get_secret_value() == "redis://127.0.0.1:6379/0"
    assert settings.log_format == "json"


def test_a_real_key_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    settings = Settings()
    assert settings.uses_simulator is False
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-test"
