"""A Docker engine "elsewhere" for tests: an OpenSSH server on 127.0.0.1 in front of this machine.

:class:`SSHEngine` makes a throwaway host key and client key (``ssh-keygen``), starts Debian's
``sshd`` on an ephemeral port of 127.0.0.1 that accepts only that client key for the current
user, and says how to reach it: :attr:`url` (``ssh://user@127.0.0.1:PORT``) and
:attr:`ssh_command` (for ``SANDLOOP_SSH_COMMAND``: the client key, a known-hosts file holding
only the throwaway host key, and no user configuration). The engine behind it is the local one,
reached through the remote-side socket ``/var/run/docker.sock``:

    with SSHEngine(tmp_path) as engine:
        monkeypatch.setenv("SANDLOOP_SSH_COMMAND", engine.ssh_command)
        async with DockerSandbox(docker_host=engine.url, mount="copy", workspace=...) as sandbox:
            ...

Needs ``/usr/sbin/sshd`` (``tools/ensure_sshd.sh`` installs it) and, to log in as root, to run as
root.
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ("SSHD", "SSHEngine")

SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


class SSHEngine:
    """An ``sshd`` on 127.0.0.1 for the current user, with throwaway keys, in ``folder``.

    Args:
        folder: Where its keys, configuration and log go.
        forwarding: Whether it lets clients forward to Unix sockets (``False``: as a server
            that forbids it).
    """

    def __init__(self, folder: Path, *, forwarding: bool = True) -> None:
        self.folder = Path(folder)
        self.forwarding = forwarding
        self.user = getpass.getuser()
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    @property
    def ssh_command(self) -> str:
        """The client for ``SANDLOOP_SSH_COMMAND``, trusting only this server's host key."""
        return self._client(self.folder / "client_key")

    def _client(self, key: Path) -> str:
        return shlex.join([
            "ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.folder / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR",
        ])  # fmt: skip

    def untrusted_ssh_command(self) -> str:
        """A client with a key this server does not accept."""
        key = self.folder / "other_key"
        if not key.exists():
            _keygen(key)
        return self._client(key)

    def __enter__(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        _keygen(self.folder / "host_key")
        _keygen(self.folder / "client_key")
        shutil.copy(self.folder / "client_key.pub", self.folder / "authorized_keys")
        self.port = _free_port()
        host_public = (self.folder / "host_key.pub").read_text().split()
        (self.folder / "known_hosts").write_text(
            f"[127.0.0.1]:{self.port} {host_public[0]} {host_public[1]}\n"
        )
        config = self.folder / "sshd_config"
        config.write_text(
            "\n".join([
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.folder / 'host_key'}",
                f"PidFile {self.folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
                f"AllowUsers {self.user}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                f"AllowStreamLocalForwarding {'yes' if self.forwarding else 'no'}",
                "AllowTcpForwarding local",
                "X11Forwarding no",
                "PermitTTY no",
            ])
            + "\n"
        )  # fmt: skip
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        with open(self.folder / "sshd.log", "wb") as log_file:
            self._process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
        deadline = time.monotonic() + 20
        while True:
            if self._process.poll() is not None:
                log = (self.folder / "sshd.log").read_text(errors="replace")
                raise RuntimeError(f"sshd exited with {self._process.returncode}: {log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError("sshd did not listen within 20 s") from None
                time.sleep(0.05)

    def accepted(self) -> int:
        """How many logins the server accepted so far (from its log)."""
        log = (self.folder / "sshd.log").read_text(errors="replace")
        return log.count("Accepted publickey")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
