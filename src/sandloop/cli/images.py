"""``sandloop images``: build and list the sandbox images."""

from __future__ import annotations

import argparse

from sandloop.sandboxes.images import available_images, build_images, package_version

__all__ = ("register",)


def register(parser: argparse.ArgumentParser) -> None:
    """Fill the parser of ``sandloop images``: its actions ``build`` and ``ls``."""
    actions = parser.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="build images (all by default); up-to-date ones are reused",
        description="Build sandbox images, tagged sandloop/NAME:VERSION and sandloop/NAME:latest. "
        "When the base image cannot be pulled, a Debian base is made with debootstrap.",
    )
    build.add_argument("name", nargs="?", help=f"one image ({', '.join(available_images())})")
    build.add_argument("--base", metavar="IMG", help="base image for sandloop/base")
    build.add_argument("--rebuild", action="store_true", help="build even when up to date")
    build.set_defaults(func=_build)
    ls = actions.add_parser("ls", help="list the sandbox images present locally")
    ls.set_defaults(func=_ls)


def _build(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else None
    tags = build_images(names, base=args.base, rebuild=args.rebuild, log=print)
    print("ready: " + ", ".join(tags))
    return 0


def _ls(args: argparse.Namespace) -> int:
    from sandloop.sandboxes import docker as engine

    client = engine.connect()
    try:
        rows = engine.list_images(client, "sandloop/")
    finally:
        client.close()
    known = set(available_images())
    print(f"{'TAG':40} {'ID':14} {'SIZE':>9}")
    for row in rows:
        for tag in row["tags"]:
            print(f"{tag:40} {row['id'].removeprefix('sha256:'):14} {row['size'] / 1e6:8.0f}M")
    present = {tag for row in rows for tag in row["tags"]}
    for name in sorted(known):
        tag = f"sandloop/{name}:{package_version()}"
        if tag not in present:
            print(f"{tag:40} (not built: sandloop images build {name})")
    return 0
