"""A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``), for the batch.

Both nodes bind 127.0.0.1 and start no dashboard; usage statistics are off, so nothing leaves
the machine. Each node has one CPU, so two tasks in flight land on different nodes. The nodes
share this machine's Docker engine, as nodes of a real cluster would each have their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Before Ray is imported: every address Ray derives stays on the loopback (by default a driver
# rewrites 127.0.0.1 to this machine's outward address, which the nodes never bound), and Ray
# reports no usage statistics.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
cluster_utils = pytest.importorskip("ray.cluster_utils")

NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 80 * 1024 * 1024}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A head and a worker node; the test process is connected to it as the driver."""
    cluster = cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={**NODE, "include_dashboard": False},
    )
    try:
        cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
