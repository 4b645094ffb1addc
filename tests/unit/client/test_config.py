"""API key and base URL resolution."""

from __future__ import annotations

import pytest

from sandloop.client import DEFAULT_BASE_URL, ResponsesClient
from sandloop.client._config import is_loopback_url, resolve_config
from sandloop.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_no_key_for_the_real_api_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        ResponsesClient()


def test_blank_key_counts_as_missing() -> None:
    with pytest.raises(ConfigError, match="no API key"):
        resolve_config(api_key="  ", base_url="https://example.com/v1")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/v1", "http://localhost:1/v1", "http://[::1]:9/v1", "http://127.1.2.3"],
)
def test_loopback_urls_work_without_a_key(url: str) -> None:
    assert is_loopback_url(url)
    assert resolve_config(api_key=None, base_url=url).api_key is None


def test_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.example/v1/")
    config = resolve_config(api_key=None, base_url=None)
    assert config.api_key == "sk-env"
    assert config.base_url == "https://proxy.example/v1"


def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    config = resolve_config(api_key="sk-arg", base_url=None)
    assert config == type(config)(api_key="sk-arg", base_url=DEFAULT_BASE_URL)


@pytest.mark.parametrize("url", ["ftp://example.com", "api.openai.com/v1", "http://"])
def test_bad_base_url(url: str) -> None:
    with pytest.raises(ConfigError, match="base_url"):
        resolve_config(api_key="k", base_url=url)
