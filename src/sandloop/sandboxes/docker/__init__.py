"""Docker sandboxes: the only subpackage that imports the docker SDK.

``DockerSandbox`` (``_sandbox``) is the public face: ``DockerProvisioner`` (``_provisioner``)
makes one hardened container, under the shared runner core; ``_socket_channel`` is its fast
channel past dockerd on a local engine; ``_runtime`` knows the OCI runtimes (gVisor); ``_engine``
holds the SDK boundary (error translation) and the engine housekeeping that image builds and the
CLI use.
"""

from sandloop.sandboxes.docker._address import connect
from sandloop.sandboxes.docker._engine import (
    LABEL,
    build_image,
    image_labels,
    import_rootfs,
    list_images,
    list_sandboxes,
    owner_labels,
    remove_container,
    remove_labelled,
    try_pull,
)
from sandloop.sandboxes.docker._runtime import GVISOR, engine_runtimes
from sandloop.sandboxes.docker._sandbox import DEFAULT_IMAGE, DockerSandbox

__all__ = (
    "DEFAULT_IMAGE",
    "GVISOR",
    "LABEL",
    "DockerSandbox",
    "build_image",
    "connect",
    "engine_runtimes",
    "image_labels",
    "import_rootfs",
    "list_images",
    "list_sandboxes",
    "owner_labels",
    "remove_container",
    "remove_labelled",
    "try_pull",
)
