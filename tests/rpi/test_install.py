"""rpi/install.sh run against a temporary root: the files it writes, and reruns."""

import base64
import configparser
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from moalab.server.config import ServerConfig, load_config
from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "rpi" / "install.sh"
UNIT = "etc/systemd/system/moalab-server.service"
CONFIG = "etc/moalab/server.toml"
SCRIPTS = sysconfig.get_path("scripts")


def install(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run install.sh into ``root`` with this test's Python; return the finished process."""
    proc = subprocess.run(
        ["bash", str(INSTALL), "--root", str(root), "--python", sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,  # as a lab member runs it; the checkout must not shadow the install
    )
    if check and proc.returncode:
        pytest.fail(f"install.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_unit(root: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(root / UNIT)
    return unit


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_fresh_install_writes_config_unit_and_folders(tmp_path):
    root = tmp_path / "root"
    proc = install(
        root, "--no-venv", "--no-pip", "--user", "labpi", "--host", "192.0.2.10",
        "--port", "5123", "--allow", "myrig.devices", "--allow", "lab.pi",
        "--data-dir", "/srv/moalab-data", "--token", 'se"cret',
    )
    assert files_under(root) == {CONFIG, UNIT, "usr/local/share/doc/moalab/README.md"}
    assert (root / "srv/moalab-data").is_dir()

    config_path = root / CONFIG
    assert load_config(config_path) == ServerConfig(
        host="192.0.2.10",
        port=5123,
        allow=("myrig.devices", "lab.pi"),
        data_dir=Path("/srv/moalab-data"),
        token='se"cret',
    )
    assert config_path.stat().st_mode & 0o777 == 0o640  # it may hold the token

    service = read_unit(root)["Service"]
    assert service["ExecStart"] == (
        f"{SCRIPTS}/moalab-server --config /etc/moalab/server.toml"
    )
    assert service["User"] == service["Group"] == "labpi"
    assert service["SupplementaryGroups"] == "gpio"
    assert service["Restart"] == "on-failure"
    assert service["WorkingDirectory"] == service["ReadWritePaths"] == "/srv/moalab-data"
    assert read_unit(root)["Install"]["WantedBy"] == "multi-user.target"

    assert "systemctl and useradd skipped" in proc.stdout
    assert "WebSocketExecutor(server=" in proc.stdout and "port=5123" in proc.stdout
    assert "journalctl -u moalab-server" in proc.stdout
    assert ":5123/health" in proc.stdout


def test_defaults_listen_on_every_interface(tmp_path):
    install(tmp_path, "--no-venv", "--no-pip")
    config = load_config(tmp_path / CONFIG)
    assert (config.host, config.port, config.allow, config.token) == ("0.0.0.0", 5000, (), None)
    assert config.data_dir == Path("/var/lib/moalab")
    service = read_unit(tmp_path)["Service"]
    assert service["User"] == "moalab"
    assert service["WorkingDirectory"] == "/var/lib/moalab"


def test_rerun_keeps_a_modified_config(tmp_path):
    install(tmp_path, "--no-venv", "--no-pip")
    config_path = tmp_path / CONFIG
    edited = config_path.read_text().replace("port = 5000", "port = 6001") + "# mine\n"
    config_path.write_text(edited)
    unit_before = (tmp_path / UNIT).read_text()

    proc = install(tmp_path, "--no-venv", "--no-pip", "--port", "7000", "--host", "127.0.0.1")
    assert config_path.read_text() == edited
    assert "Keeping the existing config" in proc.stdout
    assert "listens on 0.0.0.0:6001" in proc.stdout  # what the kept file says
    assert (tmp_path / UNIT).read_text() == unit_before


def test_localhost_only_config_gets_a_warning(tmp_path):
    proc = install(tmp_path, "--no-venv", "--no-pip", "--host", "127.0.0.1")
    assert "only this Pi can connect" in proc.stdout


def test_an_invalid_kept_config_stops_the_install(tmp_path):
    (tmp_path / "etc/moalab").mkdir(parents=True)
    (tmp_path / CONFIG).write_text('port = "5000"\n')
    proc = install(tmp_path, "--no-venv", "--no-pip", check=False)
    assert proc.returncode != 0
    assert "port = '5000' is not accepted" in proc.stderr
    assert not (tmp_path / UNIT).exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "70000"], "--port 70000 is not accepted"),
        (["--port", "five"], "--port five is not accepted"),
        (["--venv", "opt/moalab"], "opt/moalab is not accepted"),
        (["--data-dir", "/my data"], "/my data is not accepted"),
        (["--user", "Lab User"], "--user Lab User is not accepted"),
        (["--frobnicate"], "unknown option --frobnicate"),
        (["--source", "/nonexistent/moalab"], "does not exist"),
        (["--host"], "--host needs a value"),
    ],
)
def test_bad_flags_are_refused_before_anything_is_written(tmp_path, args, message):
    proc = install(tmp_path / "root", "--no-venv", *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert files_under(tmp_path / "root") == set()


def test_help():
    proc = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "--root DIR" in proc.stdout and "--version VER" in proc.stdout


def build_wheel(dest: Path, version: str) -> Path:
    """Pack this checkout's moalab package as a wheel, without a build backend.

    (Building one with setuptools would need the network for its build
    requirements; this test must run offline.)
    """
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dist_info = f"moalab-{version}.dist-info"
    wheel = dest / f"moalab-{version}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(wheel, "w") as zf:

        def add(name: str, data: bytes) -> None:
            zf.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{name},sha256={digest.decode()},{len(data)}")

        for path in sorted((REPO / "moalab").rglob("*.py")):
            add(path.relative_to(REPO).as_posix(), path.read_bytes())
        extras = "".join(f"Provides-Extra: {x}\n" for x in project.get("optional-dependencies", {}))
        add(f"{dist_info}/METADATA",
            f"Metadata-Version: 2.1\nName: moalab\nVersion: {version}\n{extras}".encode())
        add(f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        scripts = "".join(f"{k} = {v}\n" for k, v in project.get("scripts", {}).items())
        add(f"{dist_info}/entry_points.txt", f"[console_scripts]\n{scripts}".encode())
        records.append(f"{dist_info}/RECORD,,")
        zf.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    return wheel


def see_this_environment(venv_python: Path) -> None:
    """Let the venv of ``venv_python`` import this test's packages (moalab's dependencies).

    On a Pi, ``--system-site-packages`` shows the venv what apt installed. Here the
    dependencies are in the environment running the tests, which may itself be a venv:
    its site-packages are not the base interpreter's ones that flag links, so a .pth
    file lists them. Plain paths, after the venv's own site-packages: the venv's moalab
    comes first, and the .pth files there (an editable moalab's) are not run.
    """
    purelib = subprocess.check_output(
        [venv_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
    ).strip()
    ours = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    (Path(purelib) / "test-environment.pth").write_text("".join(f"{p}\n" for p in ours))


def test_venv_install_and_upgrade_in_place(tmp_path):
    root = tmp_path / "root"
    venv_python = root / "opt/moalab/bin/python"
    probe = (
        "import importlib.metadata as m, moalab; "
        "print(m.version('moalab'), moalab.__file__)"
    )
    # --offline: no index and no dependencies (see_this_environment provides them)
    common = ["--system-site-packages", "--offline"]

    proc = install(root, *common, "--source", str(build_wheel(tmp_path, "0.1.0")))
    assert "Creating the virtual environment /opt/moalab" in proc.stdout
    pyvenv = (root / "opt/moalab/pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in pyvenv
    see_this_environment(venv_python)
    version, location = subprocess.check_output([venv_python, "-c", probe], text=True, cwd=tmp_path).split()
    assert version == "0.1.0"
    assert location.startswith(str(root / "opt/moalab/lib"))
    service = read_unit(root)["Service"]
    assert service["ExecStart"] == "/opt/moalab/bin/moalab-server --config /etc/moalab/server.toml"
    has_server = "moalab-server" in tomllib.loads((REPO / "pyproject.toml").read_text())[
        "project"].get("scripts", {})
    assert (root / "opt/moalab/bin/moalab-server").exists() == has_server
    assert ("moalab-server is missing" in proc.stdout) != has_server

    config_path = root / CONFIG
    config_path.write_text(config_path.read_text() + "# kept\n")
    upgrade = tmp_path / "upgrade"
    upgrade.mkdir()
    proc = install(root, *common, "--source", str(build_wheel(upgrade, "0.1.1")))
    assert "Using the existing virtual environment /opt/moalab" in proc.stdout
    assert "Keeping the existing config" in proc.stdout
    assert "moalab 0.1.1 is installed" in proc.stdout
    assert config_path.read_text().endswith("# kept\n")
    version, _ = subprocess.check_output([venv_python, "-c", probe], text=True, cwd=tmp_path).split()
    assert version == "0.1.1"


def verify(unit_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit_path)], capture_output=True, text=True, timeout=60
    )


def test_unit_file_passes_systemd_analyze_verify(tmp_path):
    require(shutil.which("systemd-analyze") is not None,
            "no systemd-analyze here: apt-get install systemd")
    install(tmp_path / "root", "--no-venv", "--no-pip")
    # verify checks that ExecStart's program exists: point it at a stand-in
    server = tmp_path / "bin" / "moalab-server"
    server.parent.mkdir()
    server.write_text("#!/bin/sh\n")
    server.chmod(0o755)
    checked = tmp_path / "check"
    checked.mkdir()
    for source in (tmp_path / "root" / UNIT, REPO / "rpi" / "moalab-server.service"):
        text = source.read_text()
        lines = [
            f"ExecStart={server} --config /etc/moalab/server.toml"
            if line.startswith("ExecStart=") else line
            for line in text.splitlines()
        ]
        unit = checked / "moalab-server.service"
        unit.write_text("\n".join(lines) + "\n")
        proc = verify(unit)
        # verify exits 0 on some bad lines but always reports them
        assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (
            f"{source}:\n{proc.stdout}{proc.stderr}"
        )
    # and the check does catch a bad unit
    unit.write_text(unit.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    assert "sometimes" in verify(unit).stderr


def test_scripts_are_shellcheck_clean():
    require(shutil.which("shellcheck") is not None,
            "no shellcheck here: apt-get install shellcheck")
    scripts = [str(REPO / "rpi" / name) for name in ("install.sh", "check_wheels.sh")]
    proc = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_not_root_needs_root_flag():
    # the script on stdin, from "/": a user dropped to may not read the checkout's folders
    command = ["bash", "-s", "--", "--no-pip"]
    if os.geteuid() == 0:
        require(shutil.which("setpriv") is not None,
                "no setpriv here to run install.sh as a user: apt-get install util-linux")
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    with open(INSTALL) as script:
        proc = subprocess.run(command, stdin=script, cwd="/", capture_output=True, text=True,
                              timeout=60)
    assert proc.returncode != 0 and "run me as root" in proc.stderr, proc.stderr
