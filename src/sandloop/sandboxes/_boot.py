"""Booting the runner over its own channel: no backend copies files into the sandbox.

The provisioner starts ``python3 -u -c BOOTSTRAP WORKDIR``; the host then sends one boot frame
down the channel, ``MAGIC + 4-byte big-endian size + the runner zip``. The bootstrap reads exactly
that much from its stdin (plain ``os.read``, so nothing of what follows is buffered away), imports
the runner's modules from the zip in memory (an import finder over it: nothing is written, so a
sandbox whose filesystem is read-only throughout, ``/tmp`` included, runs it too, and no file of
the runner is left for a command to replace), and serves the rest of the same stream as the
protocol channel. A stream that does not start with the magic, announces more than ``MAX_BOOT``
bytes, or ends early makes the bootstrap exit with a message on stderr (which the host shows).
"""

from __future__ import annotations

import struct

from sandloop.sandboxes._runner_program import runner_zip
from sandloop.sandboxes.provisioner import Boot

__all__ = ("BOOTSTRAP", "MAGIC", "MAX_BOOT", "boot", "boot_frame")

MAGIC = b"SANDLOOP-RUNNER1"
#: The largest runner zip a bootstrap accepts (bytes).
MAX_BOOT = 16 << 20
_SIZE = struct.Struct(">I")

# Python 3.8 syntax, and small: it travels on the command line. `r` reads exactly n bytes; the
# finder serves the runner's modules from the zip in memory.
BOOTSTRAP = f"""\
import io,os,sys,zipfile,importlib.util as iu
def r(n):
    b=b""
    while len(b)<n:
        c=os.read(0,n-len(b))
        if not c:sys.exit("sandloop-boot: the channel ended during the boot")
        b+=c
    return b
if r({len(MAGIC)})!={MAGIC!r}:sys.exit("sandloop-boot: the channel did not send the runner")
n=int.from_bytes(r(4),"big")
if n>{MAX_BOOT}:sys.exit("sandloop-boot: a runner of %d bytes is too large"%n)
z=zipfile.ZipFile(io.BytesIO(r(n)))
class F:
    def find_spec(self,name,path=None,target=None):
        b=name.replace(".","/")
        for m,k in ((b+"/__init__.py",True),(b+".py",False)):
            if name.startswith("sandloop_runner") and m in z.namelist():
                return iu.spec_from_loader(name,self,origin="<boot>/"+m,is_package=k)
    def create_module(self,spec):return None
    def exec_module(self,u):
        o=u.__spec__.origin;exec(compile(z.read(o[7:]),o,"exec"),u.__dict__)
sys.meta_path.insert(0,F())
import sandloop_runner.serve as s
sys.exit(s.main(["sandloop-runner"]+sys.argv[1:]))
"""


def boot(workdir: str) -> Boot:
    """The process a provisioner starts for a runner rooted at ``workdir``."""
    return Boot(script=BOOTSTRAP, workdir=workdir)


def boot_frame() -> bytes:
    """What the host sends first on a new channel: the runner, framed for the bootstrap."""
    data = runner_zip()
    return MAGIC + _SIZE.pack(len(data)) + data
