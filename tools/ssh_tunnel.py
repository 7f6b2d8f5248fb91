"""The Docker engine of a server reached with the system's `ssh`, as a local unix socket.

`docker system dial-stdio` on the server speaks the engine's API on its stdin/stdout; each connection to the local
socket runs `ssh [-p PORT] [USER@]HOST -- docker system dial-stdio` and pumps bytes both ways. The user's own ssh
setup applies (keys, agent, ~/.ssh/config, known hosts), no paramiko is needed (the docker SDK's own shell-out
transport still imports it), and the server needs only the `docker` CLI. `BatchMode` never lets ssh ask for a
password on a terminal the diagnosis does not own.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit


class SshTunnel:
    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ssh" or not parts.hostname:
            raise ValueError(f"{url} is not ssh://[user@]host[:port]")
        target = f"{parts.username}@{parts.hostname}" if parts.username else parts.hostname
        self.argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}",
                     *(["-p", str(parts.port)] if parts.port else []), "--", target, "docker", "system", "dial-stdio"]
        self.folder = Path(tempfile.mkdtemp(prefix="dassh-"))
        self.path = self.folder / "docker.sock"
        self.errors: list[str] = []  # what ssh said on stderr, for the one line when nothing answers
        self._procs: list[subprocess.Popen] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self._server.listen(16)
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="ssh-tunnel", daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="ssh-tunnel-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            self.errors.append(f"cannot run ssh: {exc}")
            conn.close()
            return
        self._procs.append(proc)

        def upstream() -> None:  # the client's request to the server
            try:
                while data := conn.recv(65536):
                    proc.stdin.write(data)
                    proc.stdin.flush()
            except OSError:
                pass
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        def errors() -> None:
            text = proc.stderr.read().decode(errors="replace").strip()
            if text:
                self.errors.append(" ".join(text.split())[:300])

        threading.Thread(target=upstream, daemon=True).start()
        threading.Thread(target=errors, daemon=True).start()
        try:
            while data := proc.stdout.read1(65536):
                conn.sendall(data)
        except OSError:
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
            proc.wait()

    def close(self) -> None:
        self._closed.set()
        try:
            self._server.close()
        except OSError:
            pass
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
