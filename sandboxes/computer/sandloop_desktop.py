"""sandloop's desktop helper, shipped in the sandloop/computer image: display, input, screenshots.

It runs inside the sandbox and uses the standard library only (any python3 >= 3.8). Three users:

* the sandbox's runner (and the image's entrypoint, for a plain ``docker run``) calls
  ``main(["", "start"])`` before anything else: it starts Xvfb at ``$SANDLOOP_DISPLAY_SIZE``
  (default 1280x800) on ``$DISPLAY`` (default ``:99``) and openbox, and returns once both
  answer, so the desktop is ready as soon as the sandbox is;
* the runner's ``desktop`` operation loads this file once and calls :func:`handle` for each
  request: ``ensure`` (the display runs at a size, restarting it when the size differs),
  ``xdotool`` (one xdotool command line; the characters it will type are bound in the keymap
  first, see :func:`prepare_keymap`), ``screenshot`` (a PNG grabbed in-process through
  libX11 with ctypes and encoded with zlib: no process is started per screenshot) and ``info``;
* ``python3 sandloop_desktop.py screenshot`` writes a PNG to stdout, for callers that cannot
  reach the runner operation.

Xlib's default error handlers call ``exit()``, which would take the runner down with the display.
This module installs handlers that record the error instead, and drops the connection when the
server is gone; the next request reconnects or reports the display as down.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from typing import Any

VERSION = 1
DEFAULT_DISPLAY = ":99"
DEFAULT_SIZE = (1280, 800)
MAX_SIZE = 7680
START_TIMEOUT = 15.0
STATE_DIR = "/tmp/sandloop-desktop"

_lock = threading.RLock()


class DesktopError(Exception):
    """The display cannot be used (not started, died, or refused a request)."""


# --- libX11 through ctypes ---------------------------------------------------------------------


class _XImage(ctypes.Structure):
    # The leading fields of Xlib's XImage; the rest (obdata, function table) is never touched.
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("byte_order", ctypes.c_int),
        ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int),
        ("bitmap_pad", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
        ("bits_per_pixel", ctypes.c_int),
        ("red_mask", ctypes.c_ulong),
        ("green_mask", ctypes.c_ulong),
        ("blue_mask", ctypes.c_ulong),
    ]


_ZPIXMAP = 2
_ALL_PLANES = ctypes.c_ulong(-1).value
_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_IO_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_IO_EXIT_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class _Xlib:
    """The few libX11 calls we need, with non-fatal error handlers installed."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("X11") or "libX11.so.6"
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise DesktopError("libX11 is not installed in this sandbox: {}".format(exc)) from None
        self.lib = lib
        lib.XOpenDisplay.restype = ctypes.c_void_p
        lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        for fn in ("XDefaultScreen", "XDisplayWidth", "XDisplayHeight"):
            getattr(lib, fn).restype = ctypes.c_int
        lib.XDefaultScreen.argtypes = [ctypes.c_void_p]
        lib.XDisplayWidth.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.XRootWindow.restype = ctypes.c_ulong
        lib.XRootWindow.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.XGetImage.restype = ctypes.POINTER(_XImage)
        lib.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int]
        lib.XGetImage.argtypes += [ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
        lib.XFree.argtypes = [ctypes.c_void_p]
        lib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.XInternAtom.restype = ctypes.c_ulong
        lib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.XGetSelectionOwner.restype = ctypes.c_ulong
        lib.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self.errors: list[str] = []
        self.io_broken = False
        # Keep references: ctypes callbacks must outlive every call that may invoke them.
        self._on_error = _ERROR_HANDLER(self._record_error)
        self._on_io_error = _IO_ERROR_HANDLER(self._record_io_error)
        self._on_io_exit = _IO_EXIT_HANDLER(self._record_io_exit)
        lib.XSetErrorHandler(self._on_error)
        lib.XSetIOErrorHandler(self._on_io_error)
        self._has_exit_handler = hasattr(lib, "XSetIOErrorExitHandler")

    def _record_error(self, display: int, event: int) -> int:
        self.errors.append("X protocol error")
        return 0

    def _record_io_error(self, display: int) -> int:
        self.io_broken = True
        return 0

    def _record_io_exit(self, display: int, data: int) -> None:
        self.io_broken = True

    def open(self, name: str) -> int | None:
        """Connect to the display; ``None`` when nothing answers there."""
        handle = self.lib.XOpenDisplay(name.encode())
        if not handle:
            return None
        if self._has_exit_handler:
            self.lib.XSetIOErrorExitHandler(ctypes.c_void_p(handle), self._on_io_exit, None)
        return int(handle)


class _Connection:
    """One cached connection to the display, reopened after the server restarted or died."""

    def __init__(self) -> None:
        self.xlib: _Xlib | None = None
        self.name: str | None = None
        self.handle: int | None = None

    def get(self, name: str) -> tuple[_Xlib, int]:
        if self.xlib is None:
            self.xlib = _Xlib()
        xlib = self.xlib
        if self.handle is not None and (xlib.io_broken or self.name != name):
            self.drop()
        if self.handle is None:
            xlib.io_broken = False
            self.handle = xlib.open(name)
            self.name = name
        if self.handle is None:
            raise DesktopError("no X display answers at {}".format(name))
        return xlib, self.handle

    def drop(self) -> None:
        if self.handle is not None and self.xlib is not None and not self.xlib.io_broken:
            self.xlib.lib.XCloseDisplay(ctypes.c_void_p(self.handle))
        # After an I/O error the connection is unusable and closing it could call the handlers
        # again; leaking one dead Display struct is the lesser evil.
        self.handle = None


_conn = _Connection()


def display_size(name: str) -> tuple[int, int] | None:
    """The display's size, or ``None`` when it does not answer."""
    with _lock:
        try:
            xlib, handle = _conn.get(name)
        except DesktopError:
            return None
        screen = xlib.lib.XDefaultScreen(ctypes.c_void_p(handle))
        width = xlib.lib.XDisplayWidth(ctypes.c_void_p(handle), screen)
        height = xlib.lib.XDisplayHeight(ctypes.c_void_p(handle), screen)
        # Those read what the connection remembers; a round trip tells whether the server
        # is still there (it may have died, or been killed, since we connected).
        xlib.lib.XSync(ctypes.c_void_p(handle), 0)
        if xlib.io_broken:
            _conn.drop()
            return None
        return width, height


def _wm_running(name: str) -> bool:
    """True when a window manager owns the ``WM_S0`` selection (ICCCM)."""
    with _lock:
        xlib, handle = _conn.get(name)
        atom = xlib.lib.XInternAtom(ctypes.c_void_p(handle), b"WM_S0", 0)
        return bool(xlib.lib.XGetSelectionOwner(ctypes.c_void_p(handle), atom))


def grab_rgb(name: str) -> tuple[int, int, bytes]:
    """The whole screen as (width, height, packed RGB bytes)."""
    with _lock:
        xlib, handle = _conn.get(name)
        lib = xlib.lib
        dpy = ctypes.c_void_p(handle)
        screen = lib.XDefaultScreen(dpy)
        width, height = lib.XDisplayWidth(dpy, screen), lib.XDisplayHeight(dpy, screen)
        del xlib.errors[:]
        image = lib.XGetImage(dpy, lib.XRootWindow(dpy, screen), 0, 0, width, height,
                              _ALL_PLANES, _ZPIXMAP)  # fmt: skip
        if not image:
            broken = xlib.io_broken
            _conn.drop()
            why = "the display went away" if broken else "; ".join(xlib.errors) or "no image"
            raise DesktopError("could not grab the screen of {}: {}".format(name, why))
        try:
            img = image.contents
            width, height = img.width, img.height
            raw = ctypes.string_at(img.data, img.bytes_per_line * height)
            rgb = _to_rgb(raw, img)
        finally:
            # XDestroyImage is a macro in old headers but an exported function since libX11 1.6.
            if hasattr(lib, "XDestroyImage"):
                lib.XDestroyImage(image)
            else:  # pragma: no cover - libX11 older than 1.6
                lib.XFree(ctypes.c_void_p(img.data))
                lib.XFree(image)
        return width, height, rgb


def _to_rgb(raw: bytes, img: _XImage) -> bytes:
    """Packed RGB from a 32 bits-per-pixel ZPixmap (the only layout a 24-bit Xvfb gives)."""
    if img.bits_per_pixel != 32 or (img.red_mask, img.blue_mask) != (0xFF0000, 0xFF):
        layout = "{} bpp, masks {:x}/{:x}/{:x}".format(
            img.bits_per_pixel, img.red_mask, img.green_mask, img.blue_mask
        )
        raise DesktopError("unsupported screen layout: " + layout)
    stride, width = img.bytes_per_line, img.width
    if stride != width * 4:
        raw = b"".join(raw[row * stride : row * stride + width * 4] for row in range(img.height))
    # Byte order 0 (LSBFirst) stores each pixel as B, G, R, X; 1 (MSBFirst) as X, R, G, B.
    red, green, blue = (2, 1, 0) if img.byte_order == 0 else (1, 2, 3)
    rgb = bytearray(len(raw) // 4 * 3)
    rgb[0::3] = raw[red::4]
    rgb[1::3] = raw[green::4]
    rgb[2::3] = raw[blue::4]
    return bytes(rgb)


def encode_png(width: int, height: int, rgb: bytes, *, level: int = 1) -> bytes:
    """A PNG (8-bit RGB, no filter) of packed RGB pixels."""
    stride = width * 3
    if len(rgb) != stride * height:
        raise ValueError("expected {} bytes of RGB, got {}".format(stride * height, len(rgb)))
    view = memoryview(rgb)
    rows = b"".join(b"\x00" + view[i : i + stride] for i in range(0, len(rgb), stride))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows, level)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def screenshot_png(name: str, *, level: int = 1) -> tuple[int, int, bytes]:
    """Grab the screen and encode it: (width, height, PNG bytes)."""
    width, height, rgb = grab_rgb(name)
    return width, height, encode_png(width, height, rgb, level=level)


# --- the keymap for typing -----------------------------------------------------------------------

# Keycodes we bound to characters, least recently used first.
_bound: list[int] = []
# Spare keycodes left for xdotool's own remapping of anything we could not bind.
_RESERVED = 2


def _keysym(char: str) -> int:
    code = ord(char)
    return code if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF else 0x01000000 | code


def prepare_keymap(name: str, text: str) -> int:
    """Bind each character of ``text`` that the keymap lacks to a spare keycode; returns how many.

    xdotool types such characters by binding a spare keycode, pressing it and unbinding it at
    once; an application that lags behind reads the key after the unbinding and loses the
    character. Bound here beforehand (lower and upper case on one key) and left bound, they
    are plain keys of the keymap when xdotool and the application look them up.
    """
    wanted = []
    for char in text:
        if not char.isascii() and char.isprintable() and char not in wanted:
            wanted.append(char)
    if not wanted:
        return 0
    with _lock:
        xlib, handle = _conn.get(name)
        lib, dpy = xlib.lib, ctypes.c_void_p(handle)
        keys = _read_keymap(lib, dpy, name)
        present = {sym for syms in keys.values() for sym in syms}
        missing = [c for c in wanted if _keysym(c) not in present]
        free = [code for code, syms in keys.items() if code > 8 and not any(syms)]
        slots = free[: max(0, len(free) - _RESERVED)]
        # Reuse our oldest bindings only for characters this text does not need.
        reusable = [code for code in _bound if not {*keys[code]} & {_keysym(c) for c in wanted}]
        if len(missing) > len(slots) and reusable:
            time.sleep(0.5)  # let applications read the keys typed with the old bindings
        slots += reusable
        bound = 0
        for char, code in zip(missing, slots):
            _bind(lib, dpy, code, char)
            bound += 1
        lib.XSync(dpy, 0)
        return bound


def _read_keymap(lib: Any, dpy: Any, name: str) -> dict[int, list[int]]:
    """Every keycode of the display with the keysyms bound to it (0 for none)."""
    low, high = ctypes.c_int(), ctypes.c_int()
    lib.XDisplayKeycodes(dpy, ctypes.byref(low), ctypes.byref(high))
    per = ctypes.c_int()
    lib.XGetKeyboardMapping.restype = ctypes.POINTER(ctypes.c_ulong)
    count = high.value - low.value + 1
    table = lib.XGetKeyboardMapping(dpy, ctypes.c_ubyte(low.value), count, ctypes.byref(per))
    if not table:
        raise DesktopError("could not read the keymap of {}".format(name))
    keys = {low.value + i: [table[i * per.value + j] for j in range(per.value)]
            for i in range(count)}  # fmt: skip
    lib.XFree(table)
    return keys


def _bind(lib: Any, dpy: Any, code: int, char: str) -> None:
    """Bind ``char`` to ``code`` (its lower and upper case, unshifted and shifted)."""
    lower, upper = char.lower(), char.upper()
    pair = (lower, upper) if len(lower) == 1 and len(upper) == 1 else (char, char)
    syms = (ctypes.c_ulong * 2)(_keysym(pair[0]), _keysym(pair[1]))
    lib.XChangeKeyboardMapping(dpy, code, 2, syms, 1)
    if code in _bound:
        _bound.remove(code)
    _bound.append(code)


# --- starting the display ----------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x800"`` → ``(1280, 800)``; raises ``DesktopError`` for anything else."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        width, height = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise DesktopError("display size must look like 1280x800, got {!r}".format(text)) from None
    check_size(width, height)
    return width, height


def check_size(width: int, height: int) -> None:
    if not (16 <= width <= MAX_SIZE and 16 <= height <= MAX_SIZE):
        raise DesktopError("display size {}x{} is out of range".format(width, height))


def _pid_path(name: str, what: str) -> str:
    return os.path.join(STATE_DIR, "{}-{}.pid".format(what, name.lstrip(":")))


def _alive(pid: int) -> bool:
    try:
        with open("/proc/{}/stat".format(pid), "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def _stop(name: str, what: str) -> None:
    """Stop the Xvfb or window manager we started earlier for this display, and wait for it."""
    try:
        with open(_pid_path(name, what)) as fh:
            pid = int(fh.read().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.01)
    if _alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child: init reaps it
        os.waitpid(pid, os.WNOHANG)


def _spawn(argv: list[str], name: str, what: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    env = dict(os.environ, DISPLAY=name)
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(_log_path(name, what), "wb") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            **kwargs,
        )
    with open(_pid_path(name, what), "w") as fh:
        fh.write(str(proc.pid))
    return proc


def _log_path(name: str, what: str) -> str:
    return os.path.join(STATE_DIR, "{}-{}.log".format(what, name.lstrip(":")))


def _log_tail(name: str, what: str) -> str:
    try:
        with open(_log_path(name, what), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 600))
            text = fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return " ({} said: {})".format(what, text) if text else ""


def _start_xvfb(name: str, width: int, height: int) -> None:
    if shutil.which("Xvfb") is None:
        raise DesktopError("Xvfb is not installed: use the sandloop/computer image")
    number = name.lstrip(":").split(".")[0]
    lock = "/tmp/.X{}-lock".format(number)
    if os.path.exists(lock):
        # A stale lock of a server that is gone (we checked that nothing answers there).
        with contextlib.suppress(OSError):
            os.unlink(lock)
    read_fd, write_fd = os.pipe()
    argv = ["Xvfb", name, "-screen", "0", "{}x{}x24".format(width, height), "-nolisten", "tcp",
            "-dpi", "96", "-noreset", "-displayfd", str(write_fd)]  # fmt: skip
    try:
        proc = _spawn(argv, name, "xvfb", pass_fds=(write_fd,))
    finally:
        os.close(write_fd)
    try:
        said = _read_line(read_fd, time.monotonic() + START_TIMEOUT)
    finally:
        os.close(read_fd)
    if not said.strip() or display_size(name) is None:
        code = proc.poll()
        why = "exited with status {}".format(code) if code is not None else "did not start"
        raise DesktopError("Xvfb on {} {}{}".format(name, why, _log_tail(name, "xvfb")))


def _read_line(fd: int, deadline: float) -> bytes:
    """What Xvfb writes to -displayfd once it accepts clients: the number, then a newline.

    The two come in separate writes, and Xvfb dies if the pipe is closed between them.
    """
    said = b""
    while not said.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 64) if ready else b""
        if not chunk:
            break
        said += chunk
    return said


def _start_wm(name: str) -> None:
    if shutil.which("openbox") is None:
        return  # a bare X server still works; windows just have no frames
    # Owning WM_S0 is not enough: openbox takes it early, and a window mapped before its event
    # loop runs may never be managed (it stays unmapped). openbox runs --startup once it is up.
    ready = os.path.join(STATE_DIR, "wm-{}.ready".format(name.lstrip(":")))
    with contextlib.suppress(OSError):
        os.unlink(ready)
    _spawn(["openbox", "--sm-disable", "--startup", "touch " + ready], name, "wm")
    deadline = time.monotonic() + START_TIMEOUT
    while not (os.path.exists(ready) and _wm_running(name)):
        if time.monotonic() > deadline:
            why = _log_tail(name, "wm")
            raise DesktopError("the window manager did not start on {}{}".format(name, why))
        time.sleep(0.01)


def ensure_display(name: str, width: int, height: int) -> bool:
    """Make the display run at ``width``×``height``; returns True when it had to (re)start it."""
    check_size(width, height)
    with _lock:
        size = display_size(name)
        if size == (width, height):
            return False
        _conn.drop()
        _stop(name, "wm")
        _stop(name, "xvfb")
        _start_xvfb(name, width, height)
        _start_wm(name)
        return True


# --- requests from the runner ------------------------------------------------------------------


def run_xdotool(name: str, args: list[str], timeout: float) -> dict[str, Any]:
    """Run one xdotool command line on the display; returns its exit code and stderr."""
    env = dict(os.environ, DISPLAY=name)
    try:
        done = subprocess.run(
            ["xdotool"] + [str(a) for a in args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise DesktopError("xdotool is not installed: use the sandloop/computer image") from None
    except OSError as exc:  # e.g. a command holds every pid: this action fails, not the display
        return {"exit_code": 126, "stderr": "could not start xdotool: {}".format(exc)}
    except subprocess.TimeoutExpired:
        return {"exit_code": None, "stderr": "xdotool ran past {} s".format(timeout)}
    text = (done.stderr + done.stdout).decode("utf-8", "replace")[-4000:]
    return {"exit_code": done.returncode, "stderr": text}


def launch(name: str, argv: list[str], cwd: str | None) -> int:
    """Start a program on the display, detached in its own session; returns its pid.

    Unlike a command run through the runner's ``exec``, it is not killed when a shell that
    started it exits: it runs until it quits or the sandbox stops.
    """
    if not argv:
        raise DesktopError("launch needs a program to run")
    env = dict(os.environ, DISPLAY=name)
    try:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            cwd=cwd or None,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise DesktopError("could not launch {}: {}".format(argv[0], exc)) from None
    _children.append(proc)
    # Reap the ones that quit so they do not linger as zombies of the runner.
    _children[:] = [p for p in _children if p.poll() is None]
    return proc.pid


_children: list[subprocess.Popen[bytes]] = []


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """Serve one ``desktop`` request of the runner (see the module docstring)."""
    name = str(request.get("display") or os.environ.get("DISPLAY") or DEFAULT_DISPLAY)
    what = request.get("do")
    if what == "screenshot":
        width, height, png = screenshot_png(name, level=int(request.get("level", 1)))
        return {"width": width, "height": height, "png": base64.b64encode(png).decode("ascii")}
    if what == "xdotool":
        if request.get("text"):
            prepare_keymap(name, str(request["text"]))
        return run_xdotool(name, list(request["args"]), float(request.get("timeout", 30)))
    if what == "ensure":
        width, height = int(request["width"]), int(request["height"])
        size = display_size(name)
        if size is not None and size != (width, height) and not request.get("restart", True):
            # Restarting would close every window on it: the caller decides.
            return {"display": name, "width": size[0], "height": size[1], "mismatch": True}
        started = ensure_display(name, width, height)
        return {"display": name, "width": width, "height": height, "started": started}
    if what == "launch":
        return {"pid": launch(name, list(request["argv"]), request.get("cwd"))}
    if what == "info":
        size = display_size(name)
        return {"display": name, "version": VERSION, "size": list(size) if size else None}
    raise DesktopError("unknown desktop request {!r}".format(what))


def main(argv: list[str]) -> int:
    name = os.environ.get("DISPLAY") or DEFAULT_DISPLAY
    command = argv[1] if len(argv) > 1 else ""
    try:
        if command == "start":
            size = os.environ.get("SANDLOOP_DISPLAY_SIZE") or "{}x{}".format(*DEFAULT_SIZE)
            width, height = parse_size(size)
            restart = os.environ.get("SANDLOOP_DISPLAY_RESTART", "1") != "0"
            reply = handle({"do": "ensure", "width": width, "height": height, "restart": restart})
            if reply.get("mismatch"):
                sys.stdout.write("{}x{}\n".format(reply["width"], reply["height"]))
                return 3
            return 0
        if command == "screenshot":
            sys.stdout.buffer.write(screenshot_png(name)[2])
            return 0
    except DesktopError as exc:
        sys.stderr.write("sandloop-desktop: {}\n".format(exc))
        return 1
    sys.stderr.write("usage: sandloop_desktop.py start|screenshot\n")
    sys.stderr.write(
        "  start: $SANDLOOP_DISPLAY_SIZE (1280x800); with $SANDLOOP_DISPLAY_RESTART=0\n"
    )
    sys.stderr.write("  a display running at another size is left alone: its size, exit 3\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
