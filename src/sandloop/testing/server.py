"""ScriptedResponsesServer: a real Responses API server on 127.0.0.1 that plays a script.

Users and our own tests point a ``ResponsesClient`` (or a whole agent) at ``server.base_url``.
Each ``POST /responses`` plays the next turn of the script, answered as JSON or as a realistic
SSE stream, after checking the request strictly against the conversation so far.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

from sandloop.testing._events import (
    Chunker,
    build_response,
    encode_event,
    rough_usage,
    stream_events,
)
from sandloop.testing._httpd import HttpServer, ResponseWriter
from sandloop.testing._ledger import Ledger
from sandloop.testing._lifecycle import not_found
from sandloop.testing._script import (
    Fault,
    ItemLike,
    RecordedRequest,
    ScriptedServerError,
    Turn,
    TurnLike,
    as_turn,
    item_dict,
    turn_error,
    turn_fields,
)
from sandloop.testing._tool_search import check_calls_offered

__all__ = ("ScriptedResponsesServer",)

_ids = itertools.count(1)


class ScriptedResponsesServer:
    """A scripted Responses API on a real socket, for testing agents without a model.

    A script is a list of turns; each ``POST /responses`` plays the next one. A turn is a list
    of output items (dicts, e.g. from :mod:`sandloop.testing` builders, or item models), a
    callable that receives the :class:`RecordedRequest` and returns items, or a :class:`Turn`
    for a failed/incomplete answer, custom usage or injected faults.

    Every request is checked: each client-executable call of the previous response must be
    answered by exactly one output of the right type and call id; ``previous_response_id`` must
    be known; without it, the full history must be replayed in order; a ``text.format`` of
    type ``json_schema`` must be well formed (strict schemas closed, every property required).
    A broken request, an extra request or an unused turn is reported: the offending request
    gets a 400 whose message names the problem, and :meth:`assert_done` (also run when the
    ``with`` block exits) raises :class:`ScriptedServerError`. Retrieve, cancel and compact are
    served too; background responses go ``queued`` → ``in_progress`` → final over successive
    retrieves. A streamed request with ``background=True`` is answered as a background JSON
    response.

    Example::

        with ScriptedResponsesServer([[function_call("add", {"a": 1, "b": 2})],
                                      [message("3", phase="final_answer")]]) as server:
            client = ResponsesClient(base_url=server.base_url)
            ...

    Args:
        turns: The script. More can be added with :meth:`add_turn`.
        stream_chunk_size: How streamed bodies are cut into flushed chunks: ``None`` sends the
            whole event stream in one write (fastest), an int gives fixed-size chunks and
            ``(low, high)`` random sizes, each flushed on its own (exercises SSE parsing across
            arbitrary boundaries).
        seed: Seed for the random chunk sizes.
        check_protocol: Set ``False`` to skip the conversation checks.
    """

    def __init__(
        self,
        turns: Iterable[TurnLike] = (),
        *,
        stream_chunk_size: int | tuple[int, int] | None = None,
        seed: int = 0,
        check_protocol: bool = True,
    ) -> None:
        self._turns: list[Turn] = [as_turn(t) for t in turns]
        self._chunker = Chunker(stream_chunk_size, seed=seed)
        self._check = check_protocol
        self._lock = threading.Lock()
        self._next_turn = 0
        self._faults_used = 0
        self._ledger = Ledger()
        self._http: HttpServer | None = None
        #: Every request received, in order.
        self.requests: list[RecordedRequest] = []
        #: Every Response object served, by id (final form for background responses).
        self.responses: dict[str, dict[str, Any]] = self._ledger.responses
        #: Every protocol problem found so far.
        self.problems: list[str] = []

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``; pass it as the client's ``base_url``."""
        if self._http is None:
            raise RuntimeError("the server is not running: use it as a context manager")
        return f"http://127.0.0.1:{self._http.port}/v1"

    def start(self) -> Self:
        """Bind an ephemeral port on 127.0.0.1 and serve from a background thread."""
        if self._http is None:
            self._http = HttpServer(self._handle)
            self._http.start()
        return self

    def close(self) -> None:
        """Stop serving and close every connection. Safe to call twice."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        self._finish(exc)

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import anyio

        await anyio.to_thread.run_sync(self.close)
        self._finish(exc)

    def _finish(self, exc: BaseException | None) -> None:
        problems = self._all_problems()
        if not problems:
            return
        if exc is None:
            raise ScriptedServerError(problems)
        # Do not hide the real failure; attach what the server saw to it.
        exc.add_note(str(ScriptedServerError(problems)))

    # --- script -----------------------------------------------------------------------------

    def add_turn(self, turn: TurnLike) -> None:
        """Append a turn to the script (a list of items, a callable, or a :class:`Turn`)."""
        with self._lock:
            self._turns.append(as_turn(turn))

    def turn(self, *items: ItemLike, **options: Any) -> None:
        """Append ``Turn(list(items), **options)``: ``server.turn(message("hi"))``."""
        self.add_turn(Turn(list(items), **options))

    @property
    def create_requests(self) -> list[RecordedRequest]:
        """The ``POST /responses`` requests only."""
        return [r for r in self.requests if r.method == "POST" and r.path == "/responses"]

    @property
    def remaining_turns(self) -> int:
        """How many turns have not been played yet."""
        return len(self._turns) - self._next_turn

    def assert_done(self) -> None:
        """Raise :class:`ScriptedServerError` if a problem was seen or a turn was not played."""
        problems = self._all_problems()
        if problems:
            raise ScriptedServerError(problems)

    def _all_problems(self) -> list[str]:
        with self._lock:
            problems = list(self.problems)
            left = len(self._turns) - self._next_turn
        if left:
            played = self._next_turn
            problems.append(f"{left} scripted turn(s) never requested ({played} played)")
        return problems

    # --- request handling -------------------------------------------------------------------

    def _handle(self, request: RecordedRequest, writer: ResponseWriter) -> None:
        with self._lock:
            self.requests.append(request)
        try:
            self._route(request, writer)
        except OSError:
            raise  # the client went away; nothing to answer
        except Exception as exc:
            # A turn callable (or the server) failed: fail the request loudly and remember it.
            self._reject(writer, f"{request.method} {request.path} raised {exc!r}")

    def _route(self, request: RecordedRequest, writer: ResponseWriter) -> None:
        parts = request.path.strip("/").split("/")
        route = (request.method, len(parts))
        if parts[0] != "responses":
            self._reject(writer, f"unexpected request {request.method} {request.path}", 404)
        elif route == ("POST", 1):
            self._create(request, writer)
        elif route == ("POST", 2) and parts[1] == "compact":
            self._compact(request, writer)
        elif route == ("GET", 2):
            self._retrieve(parts[1], writer)
        elif route == ("POST", 3) and parts[2] == "cancel":
            self._cancel(parts[1], writer)
        else:
            self._reject(writer, f"unexpected request {request.method} {request.path}", 404)

    def _reject(self, writer: ResponseWriter, problem: str, status: int = 400) -> None:
        with self._lock:
            self.problems.append(problem)
        error = {
            "message": f"scripted server: {problem}",
            "type": "invalid_request_error",
            "code": "scripted_protocol_error",
            "param": None,
        }
        writer.json(status, {"error": error})

    def _create(self, request: RecordedRequest, writer: ResponseWriter) -> None:
        body = request.body
        if not isinstance(body, dict):
            self._reject(writer, "POST /responses needs a JSON object body")
            return
        with self._lock:
            plan = self._plan(body)
        if isinstance(plan, str):
            self._reject(writer, plan)
            return
        turn, fault, wait = plan
        if wait:
            time.sleep(wait)
        if fault is not None and fault.kind == "status":
            writer.json(fault.status, fault.body, fault.headers)
            return
        try:
            response = self._play(turn, request, consume=fault is None)
        except _ScriptProblem as exc:
            self._reject(writer, str(exc))
            return
        if fault is not None:
            self._serve_fault(fault, response, body, writer)
        elif body.get("background"):
            with self._lock:
                visible = self._ledger.visible(response["id"])
            writer.json(200, visible)
        elif body.get("stream"):
            writer.stream(self._chunker.events(stream_events(response)), coalesce=self._chunker.off)
        else:
            writer.json(200, response)

    def _plan(self, body: dict[str, Any]) -> str | tuple[Turn, Fault | None, float]:
        """Under the lock: check the request and pick the turn and the fault to serve."""
        if self._next_turn >= len(self._turns):
            n = len(self._turns)
            return f"unexpected extra request: all {n} scripted turn(s) were already played"
        turn = self._turns[self._next_turn]
        if self._check and not turn.new_conversation:
            check = self._ledger.check(body)
            if check.problems:
                return "; ".join(check.problems)
        wait = 0.0
        while self._faults_used < len(turn.faults):
            fault = turn.faults[self._faults_used]
            self._faults_used += 1
            if fault.kind == "delay":
                wait += fault.seconds
                continue
            if turn.items is None and self._faults_used == len(turn.faults):
                self._advance()
            return turn, fault, wait
        # Claim the turn now, so a retry that overtakes a slow answer gets the next turn.
        self._advance()
        return turn, None, wait

    def _advance(self) -> None:
        self._next_turn += 1
        self._faults_used = 0

    def _play(self, turn: Turn, request: RecordedRequest, *, consume: bool) -> dict[str, Any]:
        """Build the turn's Response; when ``consume``, record it as served."""
        body = request.body
        items: Any = turn.items(request) if callable(turn.items) else turn.items
        if isinstance(items, Turn):
            turn = Turn(**{**turn_fields(items), "faults": ()})
            items = turn.items
        output = [item_dict(item) for item in items or ()]
        if self._check and not turn.new_conversation:
            with self._lock:
                history = self._ledger.tool_history(body)
            problems = check_calls_offered(body, history, output)
            if problems:
                raise _ScriptProblem("; ".join(problems))
        response = build_response(
            response_id=f"resp_scripted_{next(_ids):06d}",
            request=body,
            output=output,
            status=turn.status,
            usage=turn.usage if turn.usage is not None else rough_usage(_size(request), output),
            error=turn_error(turn),
            incomplete_reason=turn.incomplete_reason if turn.status == "incomplete" else None,
        )
        if consume:
            with self._lock:
                self._ledger.record(body, response, polls=turn.background_polls)
        return response

    def _serve_fault(
        self, fault: Fault, response: dict[str, Any], body: dict[str, Any], writer: ResponseWriter
    ) -> None:
        if not body.get("stream"):
            if fault.kind == "drop":
                writer.drop()
            else:
                writer.raw(200, b'{"id": "resp_broken", "output": [', "application/json")
            return
        events = [encode_event(e) for e in stream_events(response)[: fault.after_events]]
        if fault.kind == "drop":
            writer.stream(self._chunker.split(b"".join(events)), complete=False)
            return
        bad = b"event: response.output_text.delta\ndata: {this is not json\n\n"
        writer.stream(self._chunker.split(b"".join(events) + bad))

    def _retrieve(self, response_id: str, writer: ResponseWriter) -> None:
        with self._lock:
            answer = self._ledger.retrieve(response_id)
        if answer is None:
            writer.json(404, not_found(response_id))
        else:
            writer.json(200, answer)

    def _cancel(self, response_id: str, writer: ResponseWriter) -> None:
        with self._lock:
            answer = self._ledger.cancel(response_id)
        if isinstance(answer, dict):
            writer.json(200, answer)
        elif answer == "not_background":
            self._reject(
                writer, f"cancel {response_id}: only background responses can be cancelled"
            )
        else:
            writer.json(404, not_found(response_id))

    def _compact(self, request: RecordedRequest, writer: ResponseWriter) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        with self._lock:
            number = next(_ids)
            output = self._ledger.compact(body, number)
        writer.json(200, {
            "id": f"resp_compact_{number:06d}",
            "object": "response.compaction",
            "created_at": int(time.time()),
            "output": output,
            "usage": rough_usage(_size(request), output),
        })  # fmt: skip


class _ScriptProblem(Exception):
    """The turn about to be served does not fit the request (e.g. it calls a tool not loaded)."""


def _size(request: RecordedRequest) -> int:
    return int(request.headers.get("content-length") or 0)
