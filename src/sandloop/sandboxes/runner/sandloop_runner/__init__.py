"""sandloop's in-sandbox runner: a standalone, stdlib-only python3 program.

The host packs it into a zip (``sandloop.sandboxes._runner_program``), runs it in the sandbox
(``python3 runner.zip ROOT``, or ``python3 runner/ ROOT`` from the source tree) and then talks to
it over its stdin/stdout with framed messages, so a command costs a fork+exec instead of a round
trip through the engine.

Protocol (version 1). Every frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON.
The runner first sends ``{"id": 0, "ok": true, "result": {"hello": "sandloop-runner", ...}}``.
Requests are ``{"id": N, "op": NAME, ...}`` with ids chosen by the client; each gets exactly one
reply ``{"id": N, "ok": true, "result": {...}}`` or ``{"id": N, "ok": false, "error": {...}}``.
Replies come in completion order, so several requests can be in flight. Binary payloads are
base64 strings. The runner never relies on stdin EOF, but exits on it (or on ``shutdown``), killing
the commands it started.

File operations are confined to the workspace root given as ``argv[1]`` (``paths``).

Parts: ``framing`` (frames), ``paths`` (the confined walk), ``files`` and ``commits`` (file
operations), ``process`` and ``commands`` (spawning and running commands), ``desktop`` (the
computer image's display), ``ops`` (the operations table: add a new operation there), ``serve``
(the request loop and ``main``).

Every file here must stay importable by any python3 >= 3.8 (tests/unit/sandboxes/
test_runner_package.py parses them for it and runs the zip with the oldest python available): no
third-party imports, no newer syntax, and no annotation evaluated at run time that 3.8 cannot
evaluate. The host never imports these modules; it runs them.
"""
