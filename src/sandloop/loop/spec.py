"""RunSpec: a run described as data — made in one process, run in another.

Part of ``loop`` (DESIGN §7: a spec in, a journal during, a state and a result out). A spec
holds the agent, the input, an unstarted sandbox, the client settings (never the API key) and
free labels and metadata. ``to_dict()`` is JSON with a format ``version``; ``from_dict()``
rebuilds it (refusing a newer version clearly); ``run()`` / ``run_sync()`` call
:func:`sandloop.run` with a client made from the settings, which the run owns and closes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from sandloop.client import ClientSettings
from sandloop.errors import ConfigError
from sandloop.items import dump_item
from sandloop.loop import api
from sandloop.loop._versioning import FORMAT_VERSION, check_version
from sandloop.loop.agent import Agent
from sandloop.loop.result import RunResult
from sandloop.loop.transcript import to_items
from sandloop.sandboxes.base import Sandbox
from sandloop.sandboxes.description import sandbox_from_dict

__all__ = ("RunSpec",)

_FIELDS = ("version", "agent", "input", "sandbox", "client", "labels", "metadata")


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run as a value: what to run, on what, where to send the model requests.

    Limits (``max_turns``, ``timeout``, ``token_budget``) are the agent's.

    Attributes:
        agent: What to run; every tool must be describable (see ``Agent.to_dict``).
        input: The user's message, or a list of items.
        sandbox: Where tools act: an unstarted sandbox, which the run starts and removes. Only
            its configuration is described; a process rebuilding the spec makes a new one.
        client: How to make the client; the API key comes from ``OPENAI_API_KEY`` where the
            spec runs.
        labels: Short string tags (``{"repo": "shop", "task": "fix-tests"}``) for whoever
            schedules or collects runs.
        metadata: Any other JSON-ready values that travel with the spec.

    Example::

        spec = RunSpec(agent, "make the tests pass", sandbox=DockerSandbox(workspace="/src/repo"))
        Path("spec.json").write_text(json.dumps(spec.to_dict()))
        # elsewhere:
        result = RunSpec.from_dict(json.loads(Path("spec.json").read_text())).run_sync()
    """

    agent: Agent
    input: str | list[Any]
    sandbox: Sandbox | None = None
    client: ClientSettings = field(default_factory=ClientSettings)
    labels: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.agent, Agent):
            raise ConfigError(f"RunSpec.agent must be an Agent, not {type(self.agent).__name__}")
        if not isinstance(self.client, ClientSettings):
            raise ConfigError(
                "RunSpec.client takes ClientSettings (ClientSettings.of(client) captures a "
                "client's), not a client"
            )
        bad = [k for k, v in self.labels.items() if not (isinstance(k, str) and isinstance(v, str))]
        if bad:
            raise ConfigError(f"RunSpec labels map strings to strings: {bad!r}")
        object.__setattr__(self, "labels", dict(self.labels))
        object.__setattr__(self, "metadata", dict(self.metadata))
        if not isinstance(self.input, str):
            object.__setattr__(self, "input", to_items(self.input))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, ``{"version": 1, ...}``.

        Raises:
            ConfigError: a tool or the sandbox cannot be described (named in the message), or
                metadata, the agent's ``reasoning`` or ``request_options`` are not JSON.
        """
        data = {
            "version": FORMAT_VERSION,
            "agent": self.agent.to_dict(),
            "input": self.input
            if isinstance(self.input, str)
            else [dump_item(i) for i in self.input],
            "sandbox": self.sandbox.to_dict() if self.sandbox is not None else None,
            "client": self.client.to_dict(),
            "labels": dict(self.labels),
            "metadata": dict(self.metadata),
        }
        for key in ("agent", "metadata"):
            try:
                json.dumps(data[key], allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"the spec's {key} is not JSON-ready: {exc}") from exc
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        """Rebuild a spec from :meth:`to_dict` output (its tools imported, its sandbox new).

        Raises:
            ConfigError: the version is missing or newer than this sandloop reads, a field is
                unknown or malformed, or a tool cannot be imported.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a RunSpec description is a dict, not {type(data).__name__}")
        check_version(data.get("version"), what="RunSpec")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"unknown RunSpec field(s): {', '.join(unknown)}")
        if "agent" not in data or "input" not in data:
            raise ConfigError("a RunSpec description needs 'agent' and 'input'")
        sandbox = data.get("sandbox")
        agent = data["agent"]
        if not isinstance(agent, Mapping):
            raise ConfigError(f"a RunSpec's 'agent' is an agent description, not {agent!r}")
        built = Agent.from_dict(agent)
        box = sandbox_from_dict(sandbox) if sandbox is not None else None
        settings = ClientSettings.from_dict(data.get("client") or {})
        try:
            labels, metadata = dict(data.get("labels") or {}), dict(data.get("metadata") or {})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"a RunSpec's labels and metadata are dicts: {exc}") from exc
        if not isinstance(data["input"], str | list):
            raise ConfigError(f"a RunSpec's input is text or a list of items: {data['input']!r}")
        return cls(built, data["input"], box, settings, labels, metadata)

    async def run(self, **options: Any) -> RunResult:
        """Run the spec: :func:`sandloop.run` with a client made from :attr:`client`.

        Args:
            **options: The other options of :func:`sandloop.run` (``approve``, ``on_event``,
                ``context``...), except ``sandbox`` and ``client``, which the spec gives.
        """
        given = sorted({"sandbox", "client"} & set(options))
        if given:
            raise ConfigError(f"the spec gives {' and '.join(given)}: build the spec with it")
        async with self.client.make_client() as client:
            return await api.run(
                self.agent, self.input, sandbox=self.sandbox, client=client, **options
            )

    def run_sync(self, **options: Any) -> RunResult:
        """Blocking form of :meth:`run` for scripts (starts its own event loop).

        Raises:
            ConfigError: called inside a running event loop (``await spec.run()`` there).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # none running: the normal case of a script
            return anyio.run(lambda: self.run(**options))
        raise ConfigError(
            "RunSpec.run_sync() was called inside a running event loop: use `await spec.run()`"
        )
