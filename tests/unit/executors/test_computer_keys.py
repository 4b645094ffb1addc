"""Model key names → X keysyms, and actions → xdotool command lines (pure, no display)."""

from __future__ import annotations

import itertools

import pytest

from sandloop.errors import ToolArgumentsError
from sandloop.executors.computer import _xdotool as xdo
from sandloop.executors.computer._keys import keysym, keysyms


@pytest.mark.parametrize(
    ("name", "sym"),
    [
        ("CTRL", "Control_L"),
        ("ctrl", "Control_L"),
        ("Control", "Control_L"),
        ("SHIFT", "Shift_L"),
        ("ALT", "Alt_L"),
        ("option", "Alt_L"),
        ("cmd", "Super_L"),
        ("CMD", "Super_L"),
        ("META", "Super_L"),
        ("super", "Super_L"),
        ("ENTER", "Return"),
        ("Return", "Return"),
        ("ESC", "Escape"),
        ("Escape", "Escape"),
        ("ArrowLeft", "Left"),
        ("ARROWRIGHT", "Right"),
        ("up", "Up"),
        ("PageDown", "Next"),
        ("PAGE_UP", "Prior"),
        ("page-down", "Next"),
        ("BACKSPACE", "BackSpace"),
        ("Delete", "Delete"),
        ("TAB", "Tab"),
        ("SPACE", "space"),
        ("F5", "F5"),
        ("f12", "F12"),
        ("Home", "Home"),
        ("CapsLock", "Caps_Lock"),
        ("KeyA", "a"),
        ("Digit7", "7"),
        ("a", "a"),
        ("A", "a"),  # CTRL + A means ctrl+a; SHIFT is its own key
        ("7", "7"),
        ("/", "slash"),
        ("+", "plus"),
        ("-", "minus"),
        (" ", "space"),
        ("é", "U00E9"),
        ("€", "U20AC"),
        ("KP_Enter", "KP_Enter"),  # already a keysym name: passed through
        ("XF86AudioMute", "XF86AudioMute"),
    ],
)
def test_model_key_names_map_to_keysyms(name: str, sym: str) -> None:
    assert keysym(name) == sym


@pytest.mark.parametrize("name", ["", "ctrl+c", "two words", "\x00"])
def test_names_that_cannot_be_keys_are_refused(name: str) -> None:
    with pytest.raises(ToolArgumentsError, match="unknown key name"):
        keysym(name)


def test_keysyms_keep_order_and_drop_repeats() -> None:
    assert keysyms(["CTRL", "shift", "control", "T"]) == ["Control_L", "Shift_L", "t"]
    assert keysyms(None) == []


def test_click_moves_then_clicks_with_keys_held_and_released_in_reverse() -> None:
    args = xdo.click_args(10, 20, button="right", keys=["ctrl", "shift"])
    assert args == [
        *("mousemove", "--sync", "10", "20"),
        *("keydown", "Control_L+Shift_L"),
        *("click", "--delay", "0", "3"),
        *("keyup", "Shift_L+Control_L"),
    ]


@pytest.mark.parametrize(
    ("button", "number"),
    [
        ("left", "1"),
        ("wheel", "2"),
        ("middle", "2"),
        ("right", "3"),
        ("back", "8"),
        ("forward", "9"),
    ],
)
def test_every_model_button_has_an_x_button(button: str, number: str) -> None:
    assert xdo.click_args(0, 0, button=button)[-1] == number


def test_unknown_buttons_are_the_models_error() -> None:
    with pytest.raises(ToolArgumentsError, match="unknown mouse button 'fourth'"):
        xdo.click_args(0, 0, button="fourth")


def test_double_click_is_two_quick_clicks() -> None:
    args = xdo.double_click_args(5, 6)
    assert args[:4] == ["mousemove", "--sync", "5", "6"]
    assert args[4:] == ["click", "--repeat", "2", "--delay", "60", "1"]


def test_drag_presses_moves_along_the_path_and_releases() -> None:
    args = xdo.drag_args([(0, 0), (100, 0), (100, 50)], keys=["alt"])
    assert args[:7] == ["mousemove", "--sync", "0", "0", "keydown", "Alt_L", "mousedown"]
    moves = [
        (int(args[i + 2]), int(args[i + 3]))
        for i, arg in enumerate(args)
        if arg == "mousemove" and i > 0
    ]
    assert moves[-1] == (100, 50)
    assert (100, 0) in moves
    # Intermediate points no more than DRAG_STEP apart, so toolkits see the motion.
    points = [(0, 0), *moves]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        assert abs(x1 - x0) + abs(y1 - y0) <= xdo.DRAG_STEP
    assert args[-4:] == ["mouseup", "1", "keyup", "Alt_L"]
    with pytest.raises(ToolArgumentsError):
        xdo.drag_args([])


def test_keypress_is_one_combination() -> None:
    assert xdo.keypress_args(["CTRL", "SHIFT", "T"]) == ["key", "Control_L+Shift_L+t"]
    with pytest.raises(ToolArgumentsError):
        xdo.keypress_args([])


def test_scroll_turns_pixels_into_wheel_notches_in_both_directions() -> None:
    args = xdo.scroll_args(10, 10, -250, 300, keys=["shift"])
    assert args == [
        *("mousemove", "--sync", "10", "10", "keydown", "Shift_L"),
        *("click", "--repeat", "3", "--delay", "15", "5"),  # 300 px down: 3 notches
        *("click", "--repeat", "2", "--delay", "15", "6"),  # 250 px left: 2 notches
        *("keyup", "Shift_L"),
    ]
    assert xdo.scroll_args(0, 0, 100, -100)[4:] == [
        *("click", "--repeat", "1", "--delay", "15", "4"),
        *("click", "--repeat", "1", "--delay", "15", "7"),
    ]
    assert xdo.scroll_notches(0) == 0
    assert xdo.scroll_notches(5) == 1  # any non-zero distance scrolls
    assert xdo.scroll_notches(-149) == 1
    assert xdo.scroll_notches(10**9) == xdo.MAX_NOTCHES


def test_type_splits_long_text_and_shifts_non_ascii_capitals() -> None:
    assert xdo.type_chunks("hi\r\nthere") == [["type", "--delay", "8", "--", "hi\nthere"]]
    long = "x" * (2 * xdo.TYPE_CHUNK + 5)
    chunks = xdo.type_chunks(long, delay_ms=1)
    assert ["".join(c[-1] for c in chunks)] == [long]
    assert all(c[:4] == ["type", "--delay", "1", "--"] for c in chunks)
    assert xdo.type_chunks("Ärger -Ω") == [
        ["key", "--delay", "8", "shift+U00C4", "type", "--delay", "8", "--", "rger -"],
        ["key", "--delay", "8", "shift+U03A9"],
    ]
    assert xdo.type_chunks("") == []


def test_points_off_the_screen_are_refused() -> None:
    xdo.check_point(0, 0, (1280, 800))
    xdo.check_point(1279, 799, (1280, 800))
    for x, y in [(1280, 0), (0, 800), (-1, 5)]:
        with pytest.raises(ToolArgumentsError, match="outside the 1280x800 screen"):
            xdo.check_point(x, y, (1280, 800))


def test_moves_to_where_the_pointer_already_is_skip_sync() -> None:
    # xdotool's --sync waits for the pointer to change position: 15 s when it is already there.
    assert xdo.click_args(5, 5, pointer=(5, 5))[:3] == ["mousemove", "5", "5"]
    assert xdo.click_args(5, 5, pointer=(4, 5))[:4] == ["mousemove", "--sync", "5", "5"]
    assert xdo.move_args(1, 2, pointer=(1, 2)) == ["mousemove", "1", "2"]
    assert xdo.scroll_args(3, 3, 0, 100, pointer=(3, 3))[:3] == ["mousemove", "3", "3"]
    # Within a drag, a point repeated right after itself is not synced either.
    args = xdo.drag_args([(0, 0), (0, 0), (10, 0)], pointer=(0, 0))
    moves = [args[i : i + 4] for i, a in enumerate(args) if a == "mousemove"]
    assert moves[0][:3] == ["mousemove", "0", "0"]
    assert moves[1][:3] == ["mousemove", "0", "0"]
    assert moves[2] == ["mousemove", "--sync", "10", "0"]


def test_a_click_is_settled_by_a_synced_nudge_and_back() -> None:
    assert xdo.settle_args(10, 20, (1280, 800)) == [
        *("mousemove", "--sync", "11", "20"),
        *("mousemove", "10", "20"),
    ]
    # At the right edge the nudge goes left: a move off the screen would never arrive.
    assert xdo.settle_args(1279, 5, (1280, 800))[:4] == ["mousemove", "--sync", "1278", "5"]


def test_typed_text_lists_the_characters_an_invocation_types() -> None:
    calls = xdo.type_chunks("Ärger Ω")
    assert [xdo.typed_text(c) for c in calls] == ["Ärger ", "Ω"]
