"""``sandloop sandboxes``: find and remove containers sandloop created (leftovers of crashes)."""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

__all__ = ("register",)


def register(parser: argparse.ArgumentParser) -> None:
    """Fill the parser of ``sandloop sandboxes``: its actions ``ls`` and ``prune``."""
    actions = parser.add_subparsers(dest="sandboxes_command", metavar="ACTION", required=True)
    ls = actions.add_parser("ls", help="list every container sandloop created")
    ls.set_defaults(func=_ls)
    prune = actions.add_parser(
        "prune",
        help="remove leftover containers",
        description="Remove sandloop containers whose creating process on this host has exited "
        "(leftovers of crashed runs). With --all, remove every sandloop container.",
    )
    prune.add_argument("--all", action="store_true", help="also remove containers still in use")
    prune.set_defaults(func=_prune)


def _alive(row: dict[str, Any]) -> bool:
    """Whether the process that created the container still runs (unknown host: assume yes)."""
    if row["host"] != socket.gethostname() or not str(row["host_pid"]).isdigit():
        return True
    try:
        os.kill(int(row["host_pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ls(args: argparse.Namespace) -> int:
    from sandloop.sandboxes import docker as engine

    client = engine.connect()
    try:
        rows = engine.list_sandboxes(client)
    finally:
        client.close()
    print(f"{'ID':12} {'STATUS':10} {'OWNER':8} {'IMAGE':32} CREATED")
    for row in rows:
        owner = "alive" if _alive(row) else "gone"
        print(
            f"{row['id']:12} {row['status']:10} {owner:8} {row['image']:32} {row['created'][:19]}"
        )
    if not rows:
        print("(no sandloop containers)")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from sandloop.sandboxes import docker as engine

    client = engine.connect()
    removed = 0
    try:
        for row in engine.list_sandboxes(client):
            if args.all or not _alive(row):
                engine.remove_container(client, row["id"])
                print(f"removed {row['id']} ({row['status']}, {row['image']})")
                removed += 1
    finally:
        client.close()
    print(f"{removed} container(s) removed")
    return 0
