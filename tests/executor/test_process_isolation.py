"""ProcessExecutor: nobody but the parent reaches the child, and the child's import path.

Issue 21 §3: the child used to listen on a TCP port of 127.0.0.1 and serve
whoever connected first, with every module allowed.
"""

import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from moalab import Device, MoaError
from moalab.executor.codec import encode
from moalab.executor.framing import prefixed
from moalab.executor.process import ProcessExecutor

from ..conftest import repo_env
from .devices import Probe

SLOW_PARENT = 4.0
"""Seconds the parent waits after starting its child before it uses the connection."""

MARKER_MODULE = """
import os
import pathlib

pathlib.Path(__file__).with_name(f"imported-by-{os.getpid()}").touch()
"""


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process ``pid`` holds open."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:["):-1]))
    return inodes


def _tcp_address(hex_address: str, family: int) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # the kernel prints each 32-bit word in host (little-endian) order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = socket.inet_ntop(family, raw)
    if address in ("0.0.0.0", "::"):
        address = "127.0.0.1" if family == socket.AF_INET else "::1"
    return address, int(port, 16)


def listening_sockets(pid: int) -> list[tuple[int, object]]:
    """``(family, address)`` of every TCP and Unix socket process ``pid`` listens on
    (read from /proc/<pid>/fd and /proc/net/tcp, tcp6 and unix)."""
    inodes = socket_inodes(pid)
    found: list[tuple[int, object]] = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        with open(f"/proc/net/{table}") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] == "0A" and int(fields[9]) in inodes:  # 0A: LISTEN
                    found.append((family, _tcp_address(fields[1], family)))
    with open("/proc/net/unix") as lines:
        next(lines)
        for line in lines:
            fields = line.split()
            listening = int(fields[3], 16) & 0x10000  # __SO_ACCEPTCON
            if listening and int(fields[6]) in inodes:
                path = fields[7] if len(fields) > 7 else ""
                found.append((socket.AF_UNIX, "\0" + path[1:] if path.startswith("@") else path))
    return found


def intrude(family: int, address: object) -> bytes:
    """Connect to ``address`` as a second local client and ask for a module to be
    imported; what came back."""
    request = encode({"op": "create", "id": 1, "name": "intruder",
                      "cls": "intruder_marker:Intruder", "kwargs": {}})
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(3)
        try:
            client.connect(address)
            client.sendall(b"".join(prefixed(request)))
            return client.recv(65536)
        except OSError:
            return b""


async def test_a_second_local_client_reaches_nothing_while_the_parent_is_slow(
        tmp_path, monkeypatch):
    (tmp_path / "intruder_marker.py").write_text(MARKER_MODULE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]]))
    spawn = subprocess.Popen
    seen: dict[str, list] = {"listening": [], "sockets": [], "alive": []}

    def slow_parent(command, *args, **kwargs):
        # the child starts, then the parent (this thread) dawdles before its first use
        # of the connection while an intruder tries every socket the child listens on
        process = spawn(command, *args, **kwargs)
        if "moalab.executor.child" in command and not seen["alive"]:  # the first child
            deadline = time.monotonic() + SLOW_PARENT
            while time.monotonic() < deadline:
                for family, address in listening_sockets(process.pid):
                    seen["listening"].append((address, intrude(family, address)))
                seen["sockets"].append(len(socket_inodes(process.pid)))
                time.sleep(0.05)
            seen["alive"].append(process.poll() is None)
        return process

    monkeypatch.setattr(subprocess, "Popen", slow_parent)
    async with ProcessExecutor() as executor:
        device = Probe(name="probe", executor=executor)
        await executor.ensure_remote_instance(device)
        child = executor.process.pid
        assert (await device.where())[0] == child
        after_start = listening_sockets(child)
    assert seen["alive"] == [True], "the child must have lived through the slow start"
    assert max(seen["sockets"]) >= 1  # its end of the socketpair: /proc was read right
    assert seen["listening"] == [] and after_start == []
    assert list(tmp_path.glob("imported-by-*")) == []


async def test_the_working_directory_is_not_on_the_childs_path(tmp_path, monkeypatch):
    (tmp_path / "cwd_module.py").write_text(MARKER_MODULE)
    monkeypatch.chdir(tmp_path)
    # the parent never imports cwd_module: the class only claims to live there
    planted = type("Planted", (Device,), {"__module__": "cwd_module"})
    async with ProcessExecutor() as executor:
        with pytest.raises(MoaError, match="cannot import 'cwd_module:Planted'"):
            await executor.ensure_remote_instance(planted(name="planted", executor=executor))
    assert list(tmp_path.glob("imported-by-*")) == []


def test_modules_beside_the_main_script_are_found(tmp_path):
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "mydevs.py").write_text(textwrap.dedent("""
        import os

        from moalab import Device
        from moalab.executor import apply_executor


        class MyDevice(Device):
            @apply_executor
            def where(self):
                return os.getpid()
        """))
    (lab / "experiment.py").write_text(textwrap.dedent("""
        import os

        import trio

        from moalab.executor.process import ProcessExecutor
        from mydevs import MyDevice


        async def main():
            async with ProcessExecutor() as executor:
                device = MyDevice(name="mine", executor=executor)
                await executor.ensure_remote_instance(device)
                print(os.getpid(), await device.where())


        if __name__ == "__main__":
            trio.run(main)
        """))
    # run from elsewhere: the script's folder, not the working directory, holds mydevs
    result = subprocess.run([sys.executable, str(lab / "experiment.py")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, env=repo_env())
    assert result.returncode == 0, result.stderr
    parent, child = map(int, result.stdout.split())
    assert parent != child


def test_the_child_holds_its_link_to_the_parent_only(tmp_path):
    # a process a device method starts must not inherit the link (it would keep it open)
    script = tmp_path / "spawner.py"
    script.write_text(textwrap.dedent("""
        import subprocess
        import sys

        import trio

        from moalab import Device
        from moalab.executor import apply_executor
        from moalab.executor.process import ProcessExecutor


        class Spawner(Device):
            @apply_executor
            def grandchild_fds(self):
                # close_fds=False: what os.system and most C libraries do
                return subprocess.run(["ls", "/proc/self/fd"], close_fds=False,
                                      capture_output=True, text=True).stdout.split()


        async def main():
            async with ProcessExecutor() as executor:
                device = Spawner(name="spawner", executor=executor)
                await executor.ensure_remote_instance(device)
                print(*await device.grandchild_fds())


        if __name__ == "__main__":
            trio.run(main)
        """))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env=repo_env())
    assert result.returncode == 0, result.stderr
    # stdin, stdout, stderr, and ls's own handle on /proc/self/fd
    assert len(result.stdout.split()) == 4, result.stdout

