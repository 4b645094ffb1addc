"""``sandloop view``: a run's or a batch's record as one self-contained HTML page.

Part of ``cli``: the flags. The pages come from :mod:`sandloop.view`, imported only when the
command runs, so ``sandloop --help`` stays quick. Exit status: 0 when the page was written
(or the server stopped with Ctrl-C), 2 when PATH is not a record it reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandloop.cli import argtypes
from sandloop.errors import ConfigError

__all__ = ("register",)


def register(parser: argparse.ArgumentParser) -> None:
    """Fill the parser of ``sandloop view``: its flags and ``func``."""
    parser.description = (
        "Write one self-contained HTML page (no network; it opens from file://) of a run "
        "directory (or its journal.jsonl / transcript.jsonl), a cassette, or a batch output "
        "directory, and print its path. Without PATH: the newest run of `sandloop run`."
    )
    parser.add_argument(
        "path", metavar="PATH", nargs="?", help="a run directory, run id, record file or batch"
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write the page (default: "
        "view.html in a run directory, NAME.html beside a file, view/index.html in a batch)",
    )
    parser.add_argument("--open", action="store_true", help="open the page in a web browser")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="serve the page on 127.0.0.1 and keep it current while the run or batch goes on",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=0,
        metavar="N",
        help="the port for --serve (default: any free one)",
    )
    parser.set_defaults(func=_view)


def _port(text: str) -> int:
    port = argtypes.count(text)
    if port > 65535:
        raise argparse.ArgumentTypeError("must be a port number, 0 to 65535")
    return port


def _view(args: argparse.Namespace) -> int:
    from sandloop.view import Renderer, ViewServer

    renderer = Renderer(_source(args.path), args.out)
    if not args.serve:
        renderer.refresh()
        print(renderer.page)
        if args.open:
            _open(renderer.page.as_uri())
        return 0
    try:
        server = ViewServer(renderer, port=args.port)
    except OSError as exc:
        raise ConfigError(f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}") from exc
    try:
        server.refresh(force=True)
        print(renderer.page)
        print(f"serving on {server.url} (Ctrl-C stops)", flush=True)
        if args.open:
            _open(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        return 0
    finally:
        server.close()
    return 0


def _source(path: str | None) -> Path:
    """The record to show: PATH, else a run id in the runs directory, else the newest run."""
    from sandloop.cli.rundir import runs_root

    root = runs_root()
    if path is None:
        runs = sorted(p for p in root.glob("run_*") if p.is_dir()) if root.is_dir() else []
        if not runs:
            raise ConfigError(f"no runs in {root}: name a run directory, record or batch")
        return runs[-1]
    given = Path(path).expanduser()
    if not given.exists() and "/" not in path and (root / path).is_dir():
        return root / path
    return given


def _open(url: str) -> None:
    import webbrowser

    if not webbrowser.open(url):
        print(f"sandloop: no web browser to open; the page is {url}", file=sys.stderr)
