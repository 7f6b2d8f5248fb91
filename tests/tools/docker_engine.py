"""A real Docker engine for the diagnosis tests: Debian's dockerd on its own socket and data root under a
temporary directory, and a busybox base image imported from a rootfs made of /bin/busybox (busybox-static).

Nothing here touches the machine's own engine: no default socket, no iptables, no bridge.
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

BASE_IMAGE = "diag-busybox:base"
START_SECONDS = 30


class EngineUnavailable(Exception):
    """dockerd is not installed or did not start here: the reason, for the skip (or CI's failure)."""


@dataclass
class Engine:
    workdir: Path
    proc: subprocess.Popen
    client: object  # docker.DockerClient, unrestricted: the tests set the scene with it

    @property
    def host(self) -> str:
        return f"unix://{self.workdir / 'docker.sock'}"

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "dockerd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        try:
            self.client.close()
        except Exception:  # the engine may already be gone
            pass
        _terminate(self.proc)
        _unmount_under(self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_engine(workdir: Path) -> Engine:
    """dockerd as ../shared/DESIGN.md starts it, with its socket and data under `workdir`."""
    import docker

    dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").is_file() else None)
    if dockerd is None:
        raise EngineUnavailable("dockerd is not installed (apt-get install docker.io busybox-static)")
    if not Path("/bin/busybox").is_file():
        raise EngineUnavailable("/bin/busybox is missing (apt-get install busybox-static)")
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "docker.sock"
    argv = [dockerd, "--host", f"unix://{sock}", "--data-root", str(workdir / "data"),
            "--exec-root", str(workdir / "exec"), "--pidfile", str(workdir / "dockerd.pid"),
            "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=overlay2"]
    log = open(workdir / "dockerd.log", "wb")
    try:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as exc:
        raise EngineUnavailable(f"dockerd cannot start: {exc}") from None
    finally:
        log.close()
    deadline = time.monotonic() + START_SECONDS
    client = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (workdir / "dockerd.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise EngineUnavailable(f"dockerd exited with {proc.returncode}: {' | '.join(tail)}")
        if sock.exists():
            try:
                client = docker.DockerClient(base_url=f"unix://{sock}", version="1.41", timeout=30)
                client.ping()
                break
            except Exception:  # not listening yet
                client = None
        time.sleep(0.2)
    if client is None:
        _terminate(proc)
        raise EngineUnavailable(f"dockerd did not answer on {sock} within {START_SECONDS}s")
    engine = Engine(workdir, proc, client)
    try:
        import_busybox(client, BASE_IMAGE)
    except Exception as exc:
        engine.stop()
        raise EngineUnavailable(f"cannot import a busybox base image: {type(exc).__name__}: {exc}") from None
    return engine


def busybox_rootfs() -> bytes:
    """A tar of /bin/busybox and a symlink per applet (not `busybox` itself: that would loop), /tmp, /etc."""
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("bin", "etc", "tmp", "proc", "sys", "dev"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()


def import_busybox(client, tag: str) -> None:
    repository, _, version = tag.partition(":")
    client.api.import_image_from_data(busybox_rootfs(), repository=repository, tag=version or "latest",
                                      changes=['CMD ["sh"]', "ENV PATH=/bin"])


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _unmount_under(root: Path) -> None:
    """Overlay and shm mounts dockerd may leave behind, deepest first, so the folder can be removed."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    targets = [m.split()[1] for m in mounts if len(m.split()) > 1 and m.split()[1].startswith(str(root))]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)
