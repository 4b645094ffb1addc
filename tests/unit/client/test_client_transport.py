"""ResponsesClient against httpx.MockTransport: error mapping, retries, statuses, streams.

The same behaviours are exercised over a real socket in tests/e2e/test_client.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.client.recording import RecordingClient
from sandloop.errors import (
    ApiConnectionError,
    ApiStatusError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFailedError,
    ServerError,
)
from sandloop.items import (
    FunctionCall,
    FunctionToolParam,
    ResponseCreateParams,
    ResponseTextDeltaEvent,
    parse_item,
)

FAST = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002)
Handler = Callable[[httpx.Request], httpx.Response]


def response_json(status: str = "completed", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "status": status,
        "output": [
            {"type": "message", "id": "m1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "hi", "annotations": []}]},
        ],
    }  # fmt: skip
    body.update(extra)
    return body


def make_client(handler: Handler, **kwargs: Any) -> ResponsesClient:
    kwargs.setdefault("retry", FAST)
    return ResponsesClient(
        base_url="https://api.example.test/v1",
        api_key="sk-test",
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


class Recorder:
    """A handler that answers from a list and records each request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer.content.startswith(b"event: ") and "content-type" not in answer.headers:
            answer.headers["content-type"] = "text/event-stream"
        return answer


async def test_create_sends_auth_and_json_and_parses_items() -> None:
    rec = Recorder(httpx.Response(200, json=response_json()))
    async with make_client(rec) as client:
        response = await client.create(ResponseCreateParams(model="m", input="hello"))
    request = rec.requests[0]
    assert request.url == "https://api.example.test/v1/responses"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert json.loads(request.content) == {"model": "m", "input": "hello"}
    assert response.output_text == "hi"


async def test_item_models_in_a_dict_body_are_sent_in_request_form() -> None:
    rec = Recorder(httpx.Response(200, json=response_json()))
    call = parse_item({"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}",
                       "created_by": "model"})  # fmt: skip
    tool = FunctionToolParam(name="f", parameters={"type": "object"}, strict=True)
    async with make_client(rec) as client:
        await client.create({"model": "m", "input": [call, {"role": "user", "content": "x"}],
                             "tools": [tool]})  # fmt: skip
    sent = json.loads(rec.requests[0].content)
    assert sent["input"][0] == {"type": "function_call", "call_id": "c", "name": "f",
                                "arguments": "{}"}  # fmt: skip
    assert sent["tools"][0]["name"] == "f"


async def test_recording_client_reports_the_body_it_sends() -> None:
    # The CLI writes what the listener gets to a JSON transcript: item models must arrive in
    # wire form, exactly as sent.
    reported: list[tuple[str, dict[str, Any]]] = []
    call = parse_item({"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"})
    rec = Recorder(httpx.Response(200, json=response_json()))
    client = RecordingClient(
        listener=lambda kind, payload: reported.append((kind, payload)),
        base_url="https://api.example.test/v1",
        api_key="sk-test",
        transport=httpx.MockTransport(rec),
    )
    async with client:
        await client.create({"model": "m", "input": [call]})
    kind, body = reported[0]
    assert kind == "request"
    assert json.loads(json.dumps(body)) == json.loads(rec.requests[0].content)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, BadRequestError),
        (418, ApiStatusError),
    ],
)
async def test_client_errors_are_mapped_and_not_retried(
    status: int, kind: type[ApiStatusError]
) -> None:
    body = {"error": {"message": "model 'x' does not exist", "code": "model_not_found"}}
    rec = Recorder(httpx.Response(status, json=body, headers={"x-request-id": "req_42"}))
    async with make_client(rec) as client:
        with pytest.raises(kind) as info:
            await client.create({"model": "x"})
    assert type(info.value) is kind
    assert info.value.status_code == status
    assert info.value.request_id == "req_42"
    assert info.value.code == "model_not_found"
    assert "model 'x' does not exist" in str(info.value)
    assert len(rec.requests) == 1


RETRYABLE = [(429, RateLimitError), (500, ServerError), (503, ServerError), (409, ConflictError)]


@pytest.mark.parametrize(("status", "kind"), RETRYABLE)
async def test_retryable_statuses_are_retried_then_raised(
    status: int, kind: type[ApiStatusError]
) -> None:
    rec = Recorder(*[httpx.Response(status, text="busy") for _ in range(3)])
    async with make_client(rec) as client:
        with pytest.raises(kind, match="busy"):
            await client.create({"model": "m"})
    assert len(rec.requests) == 3  # the first attempt and max_retries=2


async def test_server_error_then_success() -> None:
    rec = Recorder(httpx.Response(502), httpx.Response(200, json=response_json()))
    async with make_client(rec) as client:
        assert (await client.create({"model": "m"})).id == "resp_1"
    assert len(rec.requests) == 2


async def test_retries_can_be_disabled() -> None:
    rec = Recorder(httpx.Response(500))
    async with make_client(rec, retry=None, max_retries=0) as client:
        with pytest.raises(ServerError):
            await client.create({"model": "m"})
    assert len(rec.requests) == 1


async def test_connection_errors_are_retried_then_mapped() -> None:
    rec = Recorder(*[httpx.ConnectError("refused") for _ in range(3)])
    async with make_client(rec) as client:
        with pytest.raises(ApiConnectionError, match="refused") as info:
            await client.create({"model": "m"})
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(rec.requests) == 3


async def test_timeouts_are_mapped() -> None:
    rec = Recorder(*[httpx.ReadTimeout("slow") for _ in range(3)])
    async with make_client(rec) as client:
        with pytest.raises(ApiTimeoutError):
            await client.retrieve("resp_1")


async def test_retry_after_header_sets_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    rec = Recorder(
        httpx.Response(429, headers={"retry-after": "7"}),
        httpx.Response(429, headers={"retry-after-ms": "1500"}),
        httpx.Response(200, json=response_json()),
    )
    async with make_client(rec, retry=RetryPolicy(max_retries=3)) as client:
        await client.create({"model": "m"})
    assert slept == [7.0, 1.5]


async def test_failed_response_raises_with_the_response() -> None:
    failed = response_json("failed", error={"code": "server_error", "message": "boom"})
    rec = Recorder(httpx.Response(200, json=failed))
    async with make_client(rec) as client:
        with pytest.raises(ResponseFailedError, match="boom") as info:
            await client.create({"model": "m"})
    assert info.value.code == "server_error"
    assert info.value.response.id == "resp_1"


async def test_incomplete_response_is_returned_not_raised() -> None:
    body = response_json("incomplete", incomplete_details={"reason": "max_output_tokens"})
    rec = Recorder(httpx.Response(200, json=body))
    async with make_client(rec) as client:
        response = await client.create({"model": "m"})
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize("content", [b"<html>oops</html>", b"[1, 2]", b'{"output": 5}'])
async def test_unparsable_bodies_raise_invalid_response(content: bytes) -> None:
    rec = Recorder(httpx.Response(200, content=content))
    async with make_client(rec) as client:
        with pytest.raises(InvalidResponseError):
            await client.create({"model": "m"})


async def test_create_refuses_stream_true() -> None:
    async with make_client(Recorder()) as client:
        with pytest.raises(ConfigError, match="stream"):
            await client.create({"model": "m", "stream": True})


async def test_response_ids_cannot_escape_the_path() -> None:
    async with make_client(Recorder()) as client:
        with pytest.raises(ConfigError):
            await client.retrieve("../files")


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def text_stream(final_text: str, delta: str = "hi") -> bytes:
    msg = response_json()["output"][0]
    final = response_json()
    final["output"][0]["content"][0]["text"] = final_text
    at = {"item_id": "m1", "output_index": 0, "content_index": 0}
    return sse(
        {"type": "response.created", "response": response_json("in_progress", output=[])},
        {"type": "response.output_item.added", "output_index": 0, "item": dict(msg, content=[])},
        {"type": "response.output_text.delta", **at, "delta": delta},
        {"type": "response.something_new", "whatever": 1},
        {"type": "response.output_text.done", **at, "text": final_text},
        {"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]},
        {"type": "response.completed", "response": final},
    )


async def test_stream_yields_typed_events_and_the_final_response() -> None:
    rec = Recorder(httpx.Response(200, content=text_stream("hi")))
    async with make_client(rec) as client, client.stream({"model": "m"}) as stream:
        events = [event async for event in stream]
    assert json.loads(rec.requests[0].content)["stream"] is True
    types = [e.type for e in events]
    assert "response.something_new" not in types  # unknown events are skipped
    assert types[-1] == "response.completed"
    assert any(isinstance(e, ResponseTextDeltaEvent) and e.delta == "hi" for e in events)
    assert stream.response.output_text == "hi"


class _HeldOpen(httpx.AsyncByteStream):
    """A body that sends its events, then keeps the connection open without a byte more."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> Any:
        yield self.body
        await anyio.sleep_forever()


async def test_stream_ends_at_the_terminal_event_even_if_the_body_does_not() -> None:
    # A proxy that holds the connection open after response.completed must not hang the run.
    answer = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, stream=_HeldOpen(text_stream("hi"))
    )
    async with make_client(lambda _: answer) as client, client.stream({"model": "m"}) as stream:
        with anyio.fail_after(30):  # a hang guard, far above the short drain
            response = await stream.get_final_response()
    assert response.output_text == "hi"


async def test_stream_deltas_that_disagree_with_the_final_text_are_reported() -> None:
    rec = Recorder(httpx.Response(200, content=text_stream("hi", delta="ho")))
    async with make_client(rec) as client, client.stream({"model": "m"}) as stream:
        with pytest.raises(InvalidResponseError, match="deltas"):
            await stream.get_final_response()


async def test_stream_without_terminal_event_is_an_error() -> None:
    body = sse({"type": "response.created", "response": response_json("in_progress")})
    rec = Recorder(httpx.Response(200, content=body))
    async with make_client(rec) as client, client.stream({"model": "m"}) as stream:
        with pytest.raises(InvalidResponseError, match=r"without response\.completed"):
            await stream.get_final_response()


def _recording(rec: Recorder, reported: list[tuple[str, dict[str, Any]]]) -> RecordingClient:
    return RecordingClient(
        listener=lambda kind, payload: reported.append((kind, payload)),
        base_url="https://api.example.test/v1",
        api_key="sk-test",
        transport=httpx.MockTransport(rec),
        retry=FAST,
    )


async def test_a_recorded_stream_reports_its_final_response_once_it_ends() -> None:
    reported: list[tuple[str, dict[str, Any]]] = []
    rec = Recorder(httpx.Response(200, content=text_stream("hi")))
    async with _recording(rec, reported) as client, client.stream({"model": "m"}) as stream:
        assert stream.final_response is None
        await stream.get_final_response()
    assert [kind for kind, _ in reported] == ["request", "response"]
    assert reported[1][1]["output"][0]["content"][0]["text"] == "hi"


async def test_a_recorded_stream_that_breaks_reports_an_error() -> None:
    reported: list[tuple[str, dict[str, Any]]] = []
    body = sse({"type": "response.created", "response": response_json("in_progress")})
    rec = Recorder(httpx.Response(200, content=body))
    async with _recording(rec, reported) as client, client.stream({"model": "m"}) as stream:
        with pytest.raises(InvalidResponseError):
            await stream.get_final_response()
        assert stream.final_response is None
    assert reported[1:] == [("error", {"message": "the stream ended before its final response"})]


async def test_stream_items_must_match_the_completed_response() -> None:
    other = dict(response_json()["output"][0], id="m2")
    final = response_json()
    body = sse(
        {"type": "response.output_item.done", "output_index": 0, "item": other},
        {"type": "response.completed", "response": final},
    )
    rec = Recorder(httpx.Response(200, content=body))
    async with make_client(rec) as client, client.stream({"model": "m"}) as stream:
        with pytest.raises(InvalidResponseError, match="differs"):
            await stream.get_final_response()


async def test_stream_fills_in_output_missing_from_completed() -> None:
    call = {"type": "function_call", "id": "fc1", "call_id": "c1", "name": "f", "arguments": "{}"}
    body = sse(
        {"type": "response.output_item.done", "output_index": 0, "item": call},
        {"type": "response.completed", "response": response_json(output=[])},
    )
    rec = Recorder(httpx.Response(200, content=body))
    async with make_client(rec) as client, client.stream({"model": "m"}) as stream:
        response = await stream.get_final_response()
    assert isinstance(response.output[0], FunctionCall)


async def test_stream_error_event_and_failed_event_raise() -> None:
    error = sse({"type": "error", "code": "server_error", "message": "overloaded", "param": None})
    failed = sse({"type": "response.failed", "response": response_json(
        "failed", error={"code": "rate_limit_exceeded", "message": "slow down"})})  # fmt: skip
    rec = Recorder(httpx.Response(200, content=error), httpx.Response(200, content=failed))
    async with make_client(rec) as client:
        for code in ("server_error", "rate_limit_exceeded"):
            async with client.stream({"model": "m"}) as stream:
                with pytest.raises(ResponseFailedError) as info:
                    await stream.get_final_response()
            assert info.value.code == code


async def test_stream_answered_with_json_is_a_clear_error() -> None:
    rec = Recorder(httpx.Response(200, json=response_json()))
    async with make_client(rec) as client, client.stream({"model": "m"}) as stream:
        with pytest.raises(InvalidResponseError, match="expected an event stream"):
            await stream.get_final_response()


async def test_stream_status_errors_are_retried_before_the_body() -> None:
    rec = Recorder(
        httpx.Response(503, text="later"),
        httpx.Response(200, content=text_stream("hi")),
    )
    async with make_client(rec) as client, client.stream({"model": "m"}) as stream:
        response = await stream.get_final_response()
    assert response.output_text == "hi"
    assert len(rec.requests) == 2


async def test_stream_bad_request_is_raised_on_enter() -> None:
    body = {"error": {"message": "bad tools", "code": "invalid_value"}}
    rec = Recorder(httpx.Response(400, json=body))
    async with make_client(rec) as client:
        with pytest.raises(BadRequestError, match="bad tools"):
            async with client.stream({"model": "m"}):
                pass  # pragma: no cover
    assert len(rec.requests) == 1


async def test_background_create_polls_until_done(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(
        httpx.Response(200, json=response_json("queued", output=[])),
        httpx.Response(200, json=response_json("in_progress", output=[])),
        httpx.Response(200, json=response_json()),
    )
    async with make_client(rec, poll_interval=0.001) as client:
        response = await client.create({"model": "m", "background": True})
    assert response.output_text == "hi"
    assert [r.method for r in rec.requests] == ["POST", "GET", "GET"]
    assert rec.requests[2].url.path == "/v1/responses/resp_1"


async def test_background_cancelled_caller_cancels_on_the_server() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/cancel"):
            return httpx.Response(200, json=response_json("cancelled", output=[]))
        return httpx.Response(200, json=response_json("queued", output=[]))

    async with make_client(handler, poll_interval=0.01, max_poll_interval=0.01) as client:
        with anyio.move_on_after(0.2) as scope:
            await client.create({"model": "m", "background": True})
    assert scope.cancelled_caught
    assert seen[0] == "POST /v1/responses"
    assert seen[-1] == "POST /v1/responses/resp_1/cancel"


async def test_background_polling_that_fails_cancels_on_the_server() -> None:
    # Giving up on a background response must not leave it running (and billing) unseen.
    rec = Recorder(
        httpx.Response(200, json=response_json("queued", output=[])),
        *[httpx.Response(503, json={"error": {"message": "down"}})] * 3,
        httpx.Response(200, json=response_json("cancelled", output=[])),
    )
    async with make_client(rec, poll_interval=0.001) as client:
        with pytest.raises(ServerError):
            await client.create({"model": "m", "background": True})
    calls = [f"{r.method} {r.url.path}" for r in rec.requests]
    assert calls[-1] == "POST /v1/responses/resp_1/cancel"


async def test_an_authorization_header_of_the_caller_is_not_replaced_without_a_key() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json=response_json())

    local: dict[str, Any] = {"base_url": "http://127.0.0.1:1/v1", "api_key": "",
                             "transport": httpx.MockTransport(handler)}  # fmt: skip
    async with ResponsesClient(**local, headers={"Authorization": "Basic dXNlcjpwdw=="}) as own:
        await own.create({"model": "m", "input": "hi"})
    async with ResponsesClient(**local) as bare:
        await bare.create({"model": "m", "input": "hi"})
    assert seen == ["Basic dXNlcjpwdw==", "Bearer sandloop-no-key"]
