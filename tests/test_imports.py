"""Start-up time: ``import moalab`` and the ``moalab`` command import only what they
use. A rig imports moalab without the lab's database, the servers or the test tools,
and a command that opens a lab migrates nothing, so it does not import Alembic.

Each check runs in a fresh interpreter: this one has imported everything already."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

NOT_FOR_IMPORT_MOALAB = ("pytest", "alembic", "sqlalchemy", "quart", "hypercorn", "httpx",
                         "h11", "wsproto", "h5py", "pynwb", "trio", "numpy", "kivy")
"""Packages ``import moalab`` leaves for the names that need them (every public name is
imported on first use) or never needs (pytest)."""
NOT_FOR_A_LAB_COMMAND = ("alembic", "h5py", "pynwb", "trio", "numpy", "kivy")
"""Packages ``moalab --help`` and ``moalab session list`` in a lab do not import: the
runtime (trio, numpy, Kivy's properties) is for the commands that run something."""
NOT_FOR_HELP = ("pytest", "sqlalchemy", "quart", "hypercorn", "httpx", "wsproto")
"""Packages ``moalab --help`` does not import either: a subcommand's are imported when
it runs."""
NOT_FOR_THE_SERVER = ("pytest", "alembic", "sqlalchemy", "h5py", "pynwb")
"""Packages ``moalab-server`` (a rig's) does not import to start: it has no lab database."""

SHOW_IMPORTED = """
import json, sys
{code}
print(json.dumps(sorted(name for name in {names!r} if name in sys.modules)))
"""


def imported(code: str, names: tuple[str, ...], cwd: Path | None = None) -> list[str]:
    """Which of ``names`` a fresh interpreter has imported after running ``code``."""
    result = subprocess.run(
        [sys.executable, "-c", SHOW_IMPORTED.format(code=code, names=names)],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_import_moalab_imports_no_heavy_package():
    assert imported("import moalab", NOT_FOR_IMPORT_MOALAB) == []


def test_the_lazy_names_import_on_first_use():
    code = ("import moalab, moalab.executor\n"
            "assert moalab.RestExecutor is moalab.executor.RestExecutor\n"
            "assert moalab.WebSocketExecutor is moalab.executor.WebSocketExecutor\n"
            "assert set(moalab.__all__) <= set(dir(moalab))\n"
            "from moalab import *")
    assert imported(code, ("h11", "wsproto")) == ["h11", "wsproto"]


def test_moalab_help_imports_no_lab_migration_or_data_package():
    code = ("from moalab.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert imported(code, NOT_FOR_A_LAB_COMMAND + NOT_FOR_HELP) == []


def test_the_lazy_package_names_resolve():
    code = ("import importlib\n"
            "for package in ('moalab.network', 'moalab.store', 'moalab.export', 'moalab.loop',"
            " 'moalab.log', 'moalab.executor'):\n"
            "    module = importlib.import_module(package)\n"
            "    assert all(getattr(module, name) is not None for name in module.__all__)\n"
            "    try:\n        module.no_such_name\n"
            "    except AttributeError as exc:\n        assert package in str(exc)\n"
            "    else:\n        raise AssertionError(package)")
    assert imported(code, ()) == []


def test_a_command_on_a_lab_imports_no_alembic(lab):
    code = "from moalab.cli.main import main\nassert main(['session', 'list']) == 0"
    assert imported(code, NOT_FOR_A_LAB_COMMAND, cwd=lab.folder) == []


@pytest.mark.parametrize("module", ["moalab.core.realtime", "moalab.store.database"])
def test_a_module_made_lazy_imports_no_test_or_migration_tool(module):
    assert imported(f"import {module}", ("pytest", "alembic")) == []


def test_a_labs_folder_config_and_infos_import_no_sqlalchemy():
    code = ("import moalab.store\n"
            "from moalab.store.lab import Lab\n"
            "from moalab.store.infos import SessionInfo")
    assert imported(code, ("sqlalchemy", "alembic")) == []


def test_the_lazy_store_names_import_on_first_use():
    code = ("import moalab.store as store\n"
            "from moalab.store.database import Database\n"
            "assert store.Database is Database\n"
            "assert all(getattr(store, name) is not None for name in store.__all__)")
    assert imported(code, ("sqlalchemy", "alembic")) == ["sqlalchemy"]


def test_the_servers_command_imports_no_lab_database_or_test_tool():
    assert imported("import moalab.cli.server", NOT_FOR_THE_SERVER) == []
