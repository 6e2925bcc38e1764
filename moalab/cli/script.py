"""Loading an experiment script: the names `moalab run` reads from it."""

from __future__ import annotations

import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidArgument

if TYPE_CHECKING:
    from ..stage.stage import MoaStage

__all__ = ("Experiment", "load_script", "load_module")

CONVENTION = """\
An experiment script defines, at module level:
  root       the MoaStage to run (required)
  devices    the devices whose pump_state loops run beside the tree
             (optional; default: every Device defined at module level)
  executors  executors to start before and stop after the run (optional)
The script runs with __name__ == "__moalab__", so an `if __name__ == "__main__":`
block in it does not run. As with `python SCRIPT`, the script's folder is first on
sys.path: it imports the modules beside it."""


@dataclass
class Experiment:
    """What a script defines: the tree and what runs beside it."""

    root: MoaStage
    devices: list[Any] = field(default_factory=list)
    executors: list[Any] = field(default_factory=list)
    source: str = ""


def _from_namespace(namespace: dict[str, Any], source: str) -> Experiment:
    # imported here: `moalab --help` and the lab's commands never need them
    from ..device.device import Device
    from ..stage.stage import MoaStage

    root = namespace.get("root")
    if not isinstance(root, MoaStage):
        found = "nothing" if root is None else f"a {type(root).__name__}"
        raise InvalidArgument(
            f"{source} defines {found} as `root`; it must define `root` as the MoaStage to "
            f"run.\n{CONVENTION}"
        )
    devices = namespace.get("devices")
    if devices is None:
        devices = [value for value in namespace.values() if isinstance(value, Device)]
    return Experiment(
        root=root,
        devices=list(devices),
        executors=list(namespace.get("executors", ())),
        source=source,
    )


def load_script(path: str | Path) -> Experiment:
    """Run the script at ``path`` and return the experiment it defines.

    As ``python SCRIPT`` does, the script's folder goes first on ``sys.path`` and stays
    there (a stage may import a module beside the script while the tree runs; a
    ProcessExecutor's child starts with the same first entry). Raise
    :class:`InvalidArgument` for a missing script or one defining no ``root``; an error
    of the script's own code propagates as raised.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"no experiment script at {str(path)!r}: give the path of a .py file")
    folder = str(path.resolve().parent)
    if sys.path[:1] != [folder]:
        sys.path.insert(0, folder)
    namespace = runpy.run_path(str(path), run_name="__moalab__")
    return _from_namespace(namespace, str(path))


def load_module(name: str) -> Experiment:
    """Import module ``name`` (e.g. an example shipped in moalab.examples)."""
    return _from_namespace(runpy.run_module(name, run_name="__moalab__"), name)
