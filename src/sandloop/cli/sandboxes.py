"""``sandloop sandboxes``: find and remove containers sandloop created (leftovers of crashes).

With ``--kubeconfig`` (or ``--k8s`` for the default configuration) they look for the pods and
network policies a ``KubernetesSandbox`` created instead, by sandloop's label.
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

__all__ = ("register",)


def register(parser: argparse.ArgumentParser) -> None:
    """Fill the parser of ``sandloop sandboxes``: its actions ``ls`` and ``prune``."""
    actions = parser.add_subparsers(dest="sandboxes_command", metavar="ACTION", required=True)
    ls = actions.add_parser("ls", help="list every container (or pod) sandloop created")
    _k8s_options(ls)
    ls.set_defaults(func=_ls)
    prune = actions.add_parser(
        "prune",
        help="remove leftover containers",
        description="Remove sandloop containers whose creating process on this host has exited "
        "(leftovers of crashed runs). With --all, remove every sandloop container.",
    )
    prune.add_argument("--all", action="store_true", help="also remove containers still in use")
    _k8s_options(prune)
    prune.set_defaults(func=_prune)


def _k8s_options(parser: argparse.ArgumentParser) -> None:
    k8s = parser.add_argument_group("Kubernetes (pods of KubernetesSandbox instead of containers)")
    k8s.add_argument("--k8s", action="store_true", help="use $KUBECONFIG or ~/.kube/config")
    k8s.add_argument("--kubeconfig", metavar="PATH", help="the cluster's kubeconfig")
    k8s.add_argument("--context", help="the kubeconfig context (default: its current one)")
    k8s.add_argument("--namespace", help="only this namespace (default: all namespaces)")


def _cluster(args: argparse.Namespace) -> Any:
    """The cluster the options name, or ``None`` for the Docker engine."""
    if not (args.k8s or args.kubeconfig):
        return None
    from sandloop.sandboxes.kubernetes import Cluster, load_configuration

    return Cluster(load_configuration(args.kubeconfig, args.context))


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
    cluster = _cluster(args)
    if cluster is not None:
        return _ls_pods(cluster, args.namespace)
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
    cluster = _cluster(args)
    if cluster is not None:
        return _prune_pods(cluster, args.namespace, every=args.all)
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


def _ls_pods(cluster: Any, namespace: str | None) -> int:
    try:
        rows = cluster.list_sandboxes(namespace)
    finally:
        cluster.close()
    print(f"{'POD':36} {'STATUS':10} {'OWNER':8} {'IMAGE':32} CREATED")
    for row in rows:
        owner = "alive" if _alive(row) else "gone"
        pod = f"{row['namespace']}/{row['id']}"
        print(f"{pod:36} {row['status']:10} {owner:8} {row['image']:32} {row['created'][:19]}")
    if not rows:
        print("(no sandloop pods)")
    return 0


def _prune_pods(cluster: Any, namespace: str | None, *, every: bool) -> int:
    """Delete leftover pods, then leftover network policies (each carries its owner too)."""
    removed = 0
    try:
        for row in cluster.list_sandboxes(namespace):
            if every or not _alive(row):
                cluster.delete_pod(row["namespace"], row["id"])
                print(
                    f"removed pod {row['namespace']}/{row['id']} ({row['status']}, {row['image']})"
                )
                removed += 1
        for policy in cluster.list_policies(namespace):
            if every or not _alive(policy):
                cluster.delete_policy(policy["namespace"], policy["id"])
                print(f"removed network policy {policy['namespace']}/{policy['id']}")
    finally:
        cluster.close()
    print(f"{removed} pod(s) removed")
    return 0
