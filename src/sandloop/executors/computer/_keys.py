"""Model key names → X keysym names, for xdotool.

Part of the computer executor (``executors/computer``). Computer-use models name keys in several
styles at once: ``CTRL``, ``ENTER``, ``ArrowLeft``, ``cmd``, ``Page_Down``, ``a``, ``/``. We fold
case and separators, look the name up, and turn single characters into their keysym (``/`` →
``slash``, ``é`` → ``U00E9``). Anything else that looks like a keysym name (``KP_Enter``,
``XF86AudioMute``) passes through unchanged; xdotool rejects the names X does not know, and the
desktop reports that as a failed action.
"""

from __future__ import annotations

import re

from sandloop.errors import ToolArgumentsError

__all__ = ("MODIFIERS", "keysym", "keysyms")

_NAMED = {
    # modifiers
    "ctrl": "Control_L",
    "control": "Control_L",
    "ctl": "Control_L",
    "lctrl": "Control_L",
    "rctrl": "Control_R",
    "shift": "Shift_L",
    "lshift": "Shift_L",
    "rshift": "Shift_R",
    "alt": "Alt_L",
    "lalt": "Alt_L",
    "ralt": "Alt_R",
    "option": "Alt_L",
    "opt": "Alt_L",
    "altgr": "ISO_Level3_Shift",
    # The "command" family maps to the Super (Windows) key: the honest X equivalent. Shortcuts on
    # a Linux desktop use ctrl; a model that thinks it is on a Mac learns from the screenshot.
    "cmd": "Super_L",
    "command": "Super_L",
    "meta": "Super_L",
    "super": "Super_L",
    "win": "Super_L",
    "windows": "Super_L",
    "os": "Super_L",
    # editing and whitespace
    "enter": "Return",
    "return": "Return",
    "esc": "Escape",
    "escape": "Escape",
    "tab": "Tab",
    "space": "space",
    "spacebar": "space",
    "backspace": "BackSpace",
    "bksp": "BackSpace",
    "delete": "Delete",
    "del": "Delete",
    "insert": "Insert",
    "ins": "Insert",
    # navigation
    "up": "Up",
    "arrowup": "Up",
    "down": "Down",
    "arrowdown": "Down",
    "left": "Left",
    "arrowleft": "Left",
    "right": "Right",
    "arrowright": "Right",
    "home": "Home",
    "end": "End",
    "pageup": "Prior",
    "pgup": "Prior",
    "prior": "Prior",
    "pagedown": "Next",
    "pgdn": "Next",
    "next": "Next",
    # locks and system keys
    "capslock": "Caps_Lock",
    "numlock": "Num_Lock",
    "scrolllock": "Scroll_Lock",
    "printscreen": "Print",
    "print": "Print",
    "prtsc": "Print",
    "pause": "Pause",
    "break": "Break",
    "menu": "Menu",
    "contextmenu": "Menu",
    "apps": "Menu",
    # names models use for punctuation
    "plus": "plus",
    "minus": "minus",
    "equal": "equal",
    "equals": "equal",
    "comma": "comma",
    "period": "period",
    "dot": "period",
    "slash": "slash",
    "backslash": "backslash",
    "semicolon": "semicolon",
    "quote": "apostrophe",
    "apostrophe": "apostrophe",
    "backquote": "grave",
    "backtick": "grave",
    "grave": "grave",
    "bracketleft": "bracketleft",
    "bracketright": "bracketright",
}
_NAMED.update({f"f{n}": f"F{n}" for n in range(1, 25)})

_PUNCTUATION = {
    " ": "space",
    "!": "exclam",
    '"': "quotedbl",
    "#": "numbersign",
    "$": "dollar",
    "%": "percent",
    "&": "ampersand",
    "'": "apostrophe",
    "(": "parenleft",
    ")": "parenright",
    "*": "asterisk",
    "+": "plus",
    ",": "comma",
    "-": "minus",
    ".": "period",
    "/": "slash",
    ":": "colon",
    ";": "semicolon",
    "<": "less",
    "=": "equal",
    ">": "greater",
    "?": "question",
    "@": "at",
    "[": "bracketleft",
    "\\": "backslash",
    "]": "bracketright",
    "^": "asciicircum",
    "_": "underscore",
    "`": "grave",
    "{": "braceleft",
    "|": "bar",
    "}": "braceright",
    "~": "asciitilde",
    "\n": "Return",
    "\t": "Tab",
}

#: Keysyms that are modifiers (held around a click, never "typed").
MODIFIERS = frozenset(
    {"Control_L", "Control_R", "Shift_L", "Shift_R", "Alt_L", "Alt_R", "Super_L", "Super_R"}
    | {"ISO_Level3_Shift"}
)

_KEYSYM_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def keysym(name: str) -> str:
    """The X keysym name for one model key name.

    Raises:
        ToolArgumentsError: The name is empty or cannot be a key.
    """
    if len(name) == 1:
        return _char_keysym(name)
    folded = re.sub(r"[\s_\-]", "", name).lower()
    if folded in _NAMED:
        return _NAMED[folded]
    if folded.startswith("key") and len(folded) == 4:  # DOM codes such as "KeyA"
        return _char_keysym(folded[3])
    if folded.startswith("digit") and len(folded) == 6:  # DOM codes such as "Digit1"
        return folded[5]
    if _KEYSYM_LIKE.match(name):
        return name
    raise ToolArgumentsError(f"unknown key name {name!r}")


def _char_keysym(char: str) -> str:
    if char in _PUNCTUATION:
        return _PUNCTUATION[char]
    if char.isascii() and char.isalnum():
        # Lower case: "CTRL"+"C" means ctrl+c, not ctrl+shift+c; SHIFT is its own key.
        return char.lower()
    if char.isprintable():
        return f"U{ord(char):04X}"
    raise ToolArgumentsError(f"unknown key name {char!r}")


def keysyms(names: list[str] | tuple[str, ...] | None) -> list[str]:
    """Keysyms for a list of key names, in order, without repeats."""
    found: list[str] = []
    for name in names or ():
        sym = keysym(name)
        if sym not in found:
            found.append(sym)
    return found
