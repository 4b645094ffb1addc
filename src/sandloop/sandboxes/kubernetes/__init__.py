"""Kubernetes sandboxes (the ``sandloop[k8s]`` extra): the only subpackage that imports the
``kubernetes`` client.

``KubernetesSandbox`` (``_sandbox``) runs one hardened pod per sandbox (``_podspec``), reached
through the pods ``attach`` websocket (``_attach`` over the ``_websocket`` codec); ``_api`` holds
the client boundary (configuration, error translation, the REST calls) that the CLI's
``sandboxes ls/prune --kubeconfig`` use too; ``_workspace`` copies the workspace over the channel.
"""

from sandloop.sandboxes.kubernetes._api import Cluster, load_configuration
from sandloop.sandboxes.kubernetes._podspec import LABEL
from sandloop.sandboxes.kubernetes._sandbox import DEFAULT_IMAGE, KubernetesSandbox

__all__ = ("DEFAULT_IMAGE", "LABEL", "Cluster", "KubernetesSandbox", "load_configuration")
