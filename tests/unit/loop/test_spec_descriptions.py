"""Every public tool, sandbox and agent option round-trips through to_dict / from_dict.

Property tests: any combination of options gives a JSON description that rebuilds an object
describing itself the same way and behaving the same (the same request tool definitions, the
same per-call settings, the same function run). What cannot be described is refused by name.
"""

from __future__ import annotations

import contextlib
import json
import types
from pathlib import Path
from typing import Any

import pytest
import spec_support
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandloop.errors import ConfigError
from sandloop.executors import (
    ApplyPatchTool,
    ComputerTool,
    CustomTool,
    FunctionTool,
    LocalShellTool,
    ShellTool,
    ToolContext,
)
from sandloop.executors.descriptions import describe_tool, tool_from_dict
from sandloop.items import CustomToolCall, FunctionCall
from sandloop.loop import Agent
from sandloop.sandboxes import LocalSandbox, SandboxPool, sandbox_from_dict
from sandloop.sandboxes.docker import DockerSandbox

HERE = str(Path(__file__).parent)
names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
timeouts = st.none() | st.floats(0.001, 1e6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def shell_tools(draw: st.DrawFn) -> ShellTool:
    max_timeout = draw(st.floats(0.01, 1e5))
    limit = draw(st.integers(0, 10**8))
    return ShellTool(
        environment=draw(st.sampled_from([None, {"type": "local"}])),
        default_timeout=draw(st.floats(0.001, 1.0)) * max_timeout,
        max_timeout=max_timeout,
        max_output_length=draw(st.integers(0, limit)),
        max_output_limit=limit,
        needs_approval=draw(st.booleans()),
        timeout=draw(timeouts),
    )


@st.composite
def local_shell_tools(draw: st.DrawFn) -> LocalShellTool:
    max_timeout = draw(st.floats(0.01, 1e5))
    return LocalShellTool(
        default_timeout=draw(st.floats(0.001, 1.0)) * max_timeout,
        max_timeout=max_timeout,
        max_output_length=draw(st.integers(0, 10**8)),
        allow_user=draw(st.booleans()),
        needs_approval=draw(st.booleans()),
        timeout=draw(timeouts),
    )


apply_patch_tools = st.builds(
    ApplyPatchTool,
    as_custom=st.booleans(),
    description=texts,
    sequential=st.booleans(),
    needs_approval=st.booleans(),
    timeout=timeouts,
)
computer_tools = st.builds(
    ComputerTool,
    preview=st.booleans(),
    display_size=st.tuples(st.integers(1, 8000), st.integers(1, 8000)),
    environment=st.sampled_from(["linux", "ubuntu", "browser", "mac", "windows"]),
    needs_approval=st.booleans(),
    timeout=timeouts,
)
function_tools = st.builds(
    FunctionTool,
    st.sampled_from([spec_support.shout, spec_support.add.func]),
    name=st.none() | names,
    description=st.none() | texts.filter(bool),
    strict=st.booleans(),
    sequential=st.booleans(),
    needs_approval=st.booleans(),
    timeout=timeouts,
    namespace=st.none() | names,
    idempotent=st.booleans(),
)
custom_tools = st.builds(
    CustomTool,
    st.just(spec_support.echo),
    name=st.none() | names,
    description=st.none() | texts.filter(bool),
    grammar=st.none() | texts.filter(str.strip),
    syntax=st.sampled_from(["lark", "regex"]),
    sequential=st.booleans(),
    needs_approval=st.booleans(),
    timeout=timeouts,
    namespace=st.none() | names,
)
hosted_tools = st.sampled_from(
    [{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["vs_1"]}]
)
any_tool = st.one_of(
    shell_tools(),
    local_shell_tools(),
    apply_patch_tools,
    computer_tools,
    function_tools,
    custom_tools,
    hosted_tools,
    st.just(spec_support.add),
)


def per_call_settings(tool: Any) -> tuple[Any, ...]:
    if isinstance(tool, dict):
        return (tool,)
    keys = ("call_type", "name", "namespace", "sequential", "needs_approval", "timeout")
    return (type(tool), *(getattr(tool, k) for k in keys), tool.definition())


def registry_key(tool: Any) -> tuple[Any, ...]:
    """What an agent keeps unique: one tool per name, one nameless tool per call type."""
    if isinstance(tool, dict):
        return ("hosted", tool["type"])
    return ("named", tool.name) if tool.name is not None else (tool.call_type,)


def through_json(data: Any) -> Any:
    return json.loads(json.dumps(data, allow_nan=False))


@given(any_tool)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_every_tool_option_round_trips(tool: Any) -> None:
    described = through_json(describe_tool(tool))
    rebuilt = tool_from_dict(described)
    assert describe_tool(rebuilt) == described
    assert per_call_settings(rebuilt) == per_call_settings(tool)
    if hasattr(tool, "limits"):
        assert rebuilt.limits == tool.limits
    if isinstance(tool, FunctionTool):
        assert rebuilt.schema.parameters == tool.schema.parameters
        assert rebuilt.idempotent == tool.idempotent


@given(
    model=names,
    instructions=st.none() | texts,
    tools=st.lists(any_tool, max_size=6, unique_by=lambda t: registry_key(t)),
    max_turns=st.integers(1, 10**6),
    timeout=timeouts,
    token_budget=st.none() | st.integers(1, 10**9),
    store=st.booleans(),
    background=st.booleans(),
    reasoning=st.none() | st.dictionaries(names, json_values, max_size=3),
    max_concurrency=st.integers(1, 64),
    approval_policy=st.sampled_from(["tools", "all", "never"]),
    compact_threshold=st.none() | st.integers(1, 10**7),
    compaction=st.sampled_from(["client", "server"]),
    namespaces=st.dictionaries(names, texts, max_size=3),
    request_options=st.dictionaries(names, json_values, max_size=3),
)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_every_agent_option_round_trips(tools: list[Any], **options: Any) -> None:
    if options["background"]:
        options["store"] = True
    agent = Agent(tools=tools, **options)
    described = through_json(agent.to_dict())
    rebuilt = Agent.from_dict(described)
    assert rebuilt.to_dict() == described
    assert rebuilt.registry.definitions() == agent.registry.definitions()
    assert [per_call_settings(t) for t in rebuilt.tools] == [
        per_call_settings(t) for t in agent.tools
    ]
    assert {f: getattr(rebuilt, f) for f in options} == {
        f: (dict(v) if isinstance(v, dict) else v) for f, v in options.items()
    }


docker_sandboxes = st.builds(
    DockerSandbox,
    st.sampled_from(["sandloop/base:0.1.0", "alpine:3", "example.org/img@sha256:" + "a" * 64]),
    workspace=st.sampled_from([None, HERE, "."]),
    mount=st.just("bind"),
    network=st.booleans(),
    user=st.none() | st.sampled_from(["1000:1000", "nobody"]),
    memory=st.integers(4 * 2**20, 2**40) | st.sampled_from(["512m", "2g"]),
    cpus=st.floats(0.01, 64),
    pids=st.integers(1, 10**6),
    cap_add=st.lists(st.sampled_from(["NET_BIND_SERVICE", "CHOWN", "SYS_PTRACE"]), max_size=3),
    tmpfs=st.dictionaries(st.sampled_from(["/tmp", "/run", "/cache"]), st.just("size=64m")),
    env=st.dictionaries(names, texts, max_size=3),
    labels=st.dictionaries(names, texts, max_size=3),
    start_timeout=st.floats(0.1, 1e4),
)
copy_sandboxes = st.builds(
    DockerSandbox, workspace=st.sampled_from([HERE, "."]), mount=st.just("copy")
)
runtime_sandboxes = st.builds(
    DockerSandbox,
    runtime=st.sampled_from(["runsc", "runc", "kata-runtime"]),
    pids=st.integers(1, 99),
)
local_sandboxes = st.builds(
    LocalSandbox,
    st.sampled_from([HERE, "."]),
    python=st.none() | st.just("/usr/bin/python3"),
    env=st.dictionaries(names, texts, max_size=3),
    start_timeout=st.floats(0.1, 1e4),
)


@given(st.one_of(docker_sandboxes, copy_sandboxes, runtime_sandboxes, local_sandboxes))
@settings(max_examples=200)
def test_every_sandbox_option_round_trips(sandbox: Any) -> None:
    described = through_json(sandbox.to_dict())
    rebuilt = sandbox_from_dict(described)
    assert type(rebuilt) is type(sandbox)
    assert rebuilt.to_dict() == described
    assert rebuilt is not sandbox
    if isinstance(sandbox, DockerSandbox):
        keys: tuple[str, ...] = ("image", "workspace", "mount", "network", "user", "memory")
        keys += ("cpus", "pids", "cap_add", "tmpfs", "env", "labels", "start_timeout", "runtime")
        assert {k: getattr(rebuilt, k) for k in keys} == {k: getattr(sandbox, k) for k in keys}
    else:
        assert rebuilt.workdir == sandbox.workdir
        assert isinstance(rebuilt, LocalSandbox)
        assert rebuilt._environment() == sandbox._environment()  # type: ignore[attr-defined]


@given(st.one_of(docker_sandboxes, local_sandboxes), st.integers(1, 50), st.integers(1, 10))
@settings(max_examples=50)
def test_a_pool_like_a_sandbox_round_trips(sandbox: Any, size: int, starting: int) -> None:
    pool = SandboxPool.like(sandbox, size=size, max_starting=starting)
    described = through_json(pool.to_dict())
    rebuilt = SandboxPool.from_dict(described)
    assert rebuilt.to_dict() == described
    assert rebuilt.size == size
    assert rebuilt._factory().to_dict() == sandbox.to_dict()  # what it will start


def test_a_pool_factory_by_import_path_round_trips() -> None:
    pool = SandboxPool(spec_support.make_local_sandbox, size=3)
    described = through_json(pool.to_dict())
    assert described["factory"] == "spec_support:make_local_sandbox"
    assert SandboxPool.from_dict(described)._factory is spec_support.make_local_sandbox


async def test_rebuilt_function_and_custom_tools_run_the_same_function() -> None:
    ctx = ToolContext(run_id="r", call_id="c1")
    direct = FunctionTool(spec_support.shout, name="yell", strict=False, timeout=3.0)
    again = tool_from_dict(through_json(describe_tool(direct)))
    call = FunctionCall(call_id="c1", name="yell", arguments='{"text": "hi", "times": 2}')
    assert (await again.execute(call, ctx)).output == "HI HI"
    custom = CustomTool(spec_support.echo, grammar="start: /.+/")
    again = tool_from_dict(through_json(describe_tool(custom)))
    assert (
        await again.execute(CustomToolCall(call_id="c1", name="echo", input="x"), ctx)
    ).output == "echo:x"
    # A decorated function comes back as the module's very tool object.
    assert tool_from_dict(through_json(describe_tool(spec_support.add))) is spec_support.add


def test_a_users_tool_class_with_options_round_trips() -> None:
    tool = spec_support.CountingTool(name="tally", start=4)
    described = through_json(describe_tool(tool))
    assert described == {
        "tool": "spec_support:CountingTool",
        "options": {"name": "tally", "start": 4},
    }
    rebuilt = tool_from_dict(described)
    assert (type(rebuilt), rebuilt.options()) == (type(tool), tool.options())


def _nested_tools() -> list[tuple[Any, str]]:
    def inner(text: str) -> str:
        """Nested."""
        return text

    prefix = "p"

    def closure(text: str) -> str:
        """Closure."""
        return prefix + text

    return [
        (FunctionTool(inner), "inner"),
        (FunctionTool(closure, name="closed"), "closure"),
        (FunctionTool(lambda: "x", name="lam"), "<lambda>"),
        (CustomTool(closure, name="raw"), "closure"),
        (CustomTool(lambda text: text, name="rawlam"), "<lambda>"),
    ]


@pytest.mark.parametrize(("tool", "named"), _nested_tools())
def test_closures_lambdas_and_nested_functions_are_refused_by_name(tool: Any, named: str) -> None:
    with pytest.raises(ConfigError, match=rf"{tool.name!r}.*{named}.*cannot import") as info:
        Agent(model="m", tools=[tool]).to_dict()
    assert "define it at module level" in str(info.value)


def test_a_function_of_main_and_a_rebound_name_are_refused() -> None:
    main_func = FunctionTool(spec_support.shout, name="m")
    main_func.func = types.FunctionType(
        spec_support.shout.__code__, {"__name__": "__main__"}, "shout"
    )
    main_func.func.__module__ = "__main__"
    with pytest.raises(ConfigError, match=r"'m'.*__main__"):
        describe_tool(main_func)
    impostor = FunctionTool(spec_support.echo, name="e")
    impostor.func = types.FunctionType(spec_support.echo.__code__, {}, "echo")
    impostor.func.__module__ = "spec_support"
    impostor.func.__qualname__ = "echo"
    with pytest.raises(ConfigError, match=r"'e'.*spec_support:echo names .*not this object"):
        describe_tool(impostor)


def test_what_holds_live_objects_is_refused_by_name() -> None:
    class Screen:
        display_size = (800, 600)
        environment = "linux"

        async def screenshot(self) -> bytes:
            return b""

        async def _act(self, *args: object, **kwargs: object) -> None: ...

        click = double_click = drag = keypress = move = scroll = type = wait = _act

    with pytest.raises(ConfigError, match="ComputerTool over your own Computer"):
        describe_tool(ComputerTool(Screen()))
    with pytest.raises(ConfigError, match="client="):
        DockerSandbox(client=object()).to_dict()  # type: ignore[arg-type]
    import anyio

    with pytest.raises(ConfigError, match="limiter="):
        DockerSandbox(limiter=anyio.CapacityLimiter(2)).to_dict()
    with pytest.raises(ConfigError, match=r"factory.*lambda"):
        SandboxPool(lambda: LocalSandbox(".")).to_dict()

    class Anonymous:
        call_type = "function_call"
        name = "anon"
        namespace = None
        sequential = needs_approval = False
        timeout = None

        def definition(self) -> dict[str, Any]:
            return {"type": "function", "name": "anon"}

        async def execute(self, call: Any, ctx: Any) -> Any: ...

    with pytest.raises(ConfigError, match=r"'anon'.*options\(\)"):
        describe_tool(Anonymous())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("spec_support:add", "a tool description is"),
        ({"tool": "nosuch"}, "unknown tool kind 'nosuch'"),
        ({"tool": "shell", "options": {"bogus": 1}}, "no option.*bogus"),
        ({"tool": "computer", "options": {"computer": "x"}}, "no option.*computer"),
        ({"tool": "function", "options": {}}, "'function' import path"),
        ({"tool": "function", "options": {"function": "no_such_mod_x:f"}}, "cannot import"),
        ({"tool": "json:dumps", "options": {}}, "not a class"),
        ({"tool": "spec_support:CountingTool", "options": {"nope": 1}}, "no option.*nope"),
        ({"name": "x"}, "needs 'type'"),
    ],
)
def test_malformed_tool_descriptions_are_config_errors(data: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        tool_from_dict(data)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"image": "x"}, "a dict with a 'kind'"),
        ({"kind": "cloud"}, "unknown sandbox kind"),
        ({"kind": "pool", "size": 1}, "SandboxPool.from_dict"),
        ({"kind": "docker", "imag": "x"}, "no option.*imag"),
        ({"kind": "docker", "client": None}, "cannot give client"),
        ({"kind": "local"}, "needs its 'root'"),
        ({"kind": "local", "root": "/no/such/dir/x"}, "not a directory"),
        ({"kind": "json:dumps"}, "not a Sandbox class"),
    ],
)
def test_malformed_sandbox_descriptions_are_config_errors(data: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        sandbox_from_dict(data)


async def test_a_rebuilt_local_sandbox_is_new_and_works(tmp_path: Path) -> None:
    async with LocalSandbox(tmp_path, env={"GREETING": "hi"}) as sandbox:
        described = sandbox.to_dict()  # the configuration, also of a started sandbox
        rebuilt = sandbox_from_dict(described)
        async with rebuilt:
            result = await rebuilt.exec("echo $GREETING; pwd")
    assert rebuilt is not sandbox
    assert result.stdout.decode().split() == ["hi", sandbox.workdir]


DESCRIBED = [
    describe_tool(ShellTool()),
    describe_tool(LocalShellTool()),
    describe_tool(ApplyPatchTool()),
    describe_tool(ComputerTool()),
    describe_tool(FunctionTool(spec_support.shout)),
    describe_tool(CustomTool(spec_support.echo)),
]


@given(st.sampled_from(DESCRIBED), st.data(), json_values)
@settings(max_examples=300)
def test_a_wrongly_typed_tool_option_is_a_config_error(
    described: dict[str, Any], data: st.DataObject, value: Any
) -> None:
    key = data.draw(st.sampled_from(sorted(described["options"])))
    broken = {**described, "options": {**described["options"], key: value}}
    with contextlib.suppress(ConfigError):
        tool_from_dict(broken)


@given(
    st.sampled_from([DockerSandbox().to_dict(), LocalSandbox(HERE).to_dict()]),
    st.data(),
    json_values,
)
@settings(max_examples=300)
def test_a_wrongly_typed_sandbox_option_is_a_config_error(
    described: dict[str, Any], data: st.DataObject, value: Any
) -> None:
    key = data.draw(st.sampled_from(sorted(k for k in described if k != "kind")))
    with contextlib.suppress(ConfigError):
        sandbox_from_dict({**described, key: value})


@given(st.data(), json_values)
@settings(max_examples=300)
def test_a_wrongly_typed_agent_field_is_a_config_error(data: st.DataObject, value: Any) -> None:
    described = Agent(model="m", tools=[ShellTool()]).to_dict()
    key = data.draw(st.sampled_from(sorted(described)))
    with contextlib.suppress(ConfigError):
        Agent.from_dict({**described, key: value})
