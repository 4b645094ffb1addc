"""The view's readers and pages on hand-made records: malformed and hostile ones included.

No browser here (the e2e tests load real runs' pages in Chromium): these check the markup a
page is made of, and that a record whose fields have the wrong types still makes a page.
"""

from __future__ import annotations

import base64
import html
import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from sandloop.errors import ConfigError
from sandloop.view import Renderer, load_batch, load_run, render
from sandloop.view.call_views import render_call
from sandloop.view.records import CallView

HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>\"'&"


def _png(width: int, height: int) -> str:
    """A real (tiny-content) PNG of the given size, as a data URL."""
    raw = b"".join(b"\0" + b"\xff" * (width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
    png += chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _journal(path: Path, records: list[Any]) -> Path:
    header = {"kind": "header", "version": 1, "run_id": "r1", "run": {"agent": {"model": "m"}}}
    header["input"] = [{"type": "message", "role": "user", "content": HOSTILE}]
    lines = [json.dumps(header), *(json.dumps(r) for r in records)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _response(*items: Any) -> dict[str, Any]:
    usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    return {"id": "r", "status": "completed", "model": "m", "output": list(items), "usage": usage}


def test_hostile_text_becomes_no_markup(tmp_path: Path) -> None:
    message = {"type": "message", "role": "assistant", "content": [{"text": HOSTILE}]}
    call = {"type": "function_call", "call_id": "c1", "name": HOSTILE, "arguments": HOSTILE}
    output = {"type": "function_call_output", "call_id": "c1", "output": HOSTILE}
    journal = _journal(
        tmp_path / "journal.jsonl",
        [
            {"kind": "response", "turn": 1, "response": _response(message, call)},
            {"kind": "call_finished", "turn": 1, "call_id": "c1", "status": "failed",
             "output": output},
            {"kind": "end", "status": HOSTILE},
        ],
    )  # fmt: skip
    page = render(journal).read_text()
    assert page.count("<script") == 1  # the page's own, with its nonce
    assert "<img" not in page
    # As text: the task, the message, the call's name, arguments and output, the status.
    assert page.count(html.escape(HOSTILE)) >= 5
    policy = re.search(r'Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    rules = html.unescape(policy.group(1))
    assert "script-src 'nonce-" in rules
    assert "default-src 'none'" in rules


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        'data:image/png;base64,AAAA" onload="alert(1)',
        "https://example.com/tracker.png",
    ],
)
def test_a_screenshot_is_only_ever_an_image_data_url(url: str) -> None:
    call = CallView(
        "c1",
        {"type": "computer_call", "call_id": "c1", "action": {"type": "click", "x": 1, "y": 2}},
        {"type": "computer_call_output", "call_id": "c1", "output": {"image_url": url}},
    )
    markup = render_call(call)
    assert "<img" not in markup
    assert "not an image data URL" in markup


def test_a_screenshot_is_shown_at_its_size_with_the_click_marked() -> None:
    action = {"type": "double_click", "x": 30, "y": 20}
    call = CallView(
        "c1",
        {"type": "computer_call", "call_id": "c1", "action": action},
        {"type": "computer_call_output", "call_id": "c1", "output": {"image_url": _png(64, 48)}},
    )
    markup = render_call(call)
    assert 'width="64" height="48"' in markup
    assert 'viewBox="0 0 64 48"' in markup
    assert 'cx="30" cy="20"' in markup


def test_records_of_the_wrong_shape_still_make_a_page(tmp_path: Path) -> None:
    journal = _journal(
        tmp_path / "journal.jsonl",
        [
            {"kind": "response", "turn": "one", "response": ["not", "a", "dict"]},
            {"kind": "response", "turn": 2, "response": {"output": "nope", "usage": 3}},
            {"kind": "response", "turn": 3, "response": _response(
                {"type": "shell_call", "call_id": "c1", "action": {"commands": [1, None]}},
                {"type": "apply_patch_call", "call_id": "c2", "operation": "x"},
                {"type": "computer_call", "call_id": "c3", "actions": [{"type": "drag"}]},
                "not an item",
            )},
            {"kind": "call_finished", "call_id": "c1", "output": {"call_id": "c1", "output": 7}},
            {"kind": "call_finished", "call_id": 5},
            "a string record",
        ],
    )  # fmt: skip
    view = load_run(journal)
    assert [t.number for t in view.turns] == [1, 2, 3]
    assert [c.call_id for c in view.calls] == ["c1", "c2", "c3"]
    page = render(journal).read_text()
    assert page.count('class="call') == 3
    (tmp_path / "journal.jsonl").write_text('{"kind": "header", "version": 1}\n{"kind": "resp')
    assert load_run(tmp_path / "journal.jsonl").turns == []  # a torn last line is skipped


def test_a_page_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "journal.jsonl", [{"kind": "end", "status": "completed"}])
    target = tmp_path / "victim.txt"
    target.write_text("keep me\n")
    (tmp_path / "journal.html").symlink_to(target)
    page = render(journal)
    assert target.read_text() == "keep me\n"
    assert not page.is_symlink()


def test_a_batch_with_odd_task_ids_gets_safe_page_names(tmp_path: Path) -> None:
    for task_id, status in (("ok-1", "solved"), ("é x", "unsolved")):
        folder = tmp_path / "tasks" / task_id
        folder.mkdir(parents=True)
        record = {"id": task_id, "status": status, "turns": 1, "tokens": 9, "cost": 0.5}
        (folder / "result.json").write_text(json.dumps({**record, "wall_time": 1.5}))
    (tmp_path / "tasks" / "running").mkdir()
    (tmp_path / "tasks" / "running" / "journal.jsonl").write_text("")
    (tmp_path / "summary.json").write_text(json.dumps({"tasks": 4}))
    view = load_batch(tmp_path)
    assert [r.status for r in view.rows] == ["solved", "running", "unsolved", "pending"]
    assert view.live
    renderer = Renderer(tmp_path)
    assert renderer.refresh()
    assert not renderer.refresh()  # nothing changed: nothing rewritten
    pages = {p.name for p in (tmp_path / "view" / "tasks").iterdir()}
    assert {"ok-1.html", "running.html"} < pages
    (odd,) = pages - {"ok-1.html", "running.html"}
    assert re.fullmatch(r"__x-[0-9a-f]{10}\.html", odd)


def test_what_is_no_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a run directory"):
        render(tmp_path / "notes.json")
    with pytest.raises(ConfigError, match="does not exist"):
        render(tmp_path / "missing")
