"""An export's manifest (``manifest.json``): what the export holds, how it was made,
and the SHA-256 of every file it wrote, so exporting again copies only what changed
and :class:`~moalab.export.InheritedAssets` finds an asset by its key."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import NotAnExport
from .files import write_bytes

__all__ = ("FORMAT", "MANIFEST_NAME", "Manifest", "read_manifest", "write_manifest")

FORMAT = "moalab-export-1"
MANIFEST_NAME = "manifest.json"


@dataclass
class Manifest:
    """An export's manifest.

    ``files``: every file (or folder asset) the export wrote, by its path relative to
    the export, as ``{"sha256": ..., "key": <storage key of an asset>}``.
    ``exported``: each asset by its export key (``<subject>/<session>/<local_key>``,
    ``protocols/<protocol>/<name>``) as ``{"path", "kind", "extension", "personal",
    ...}`` (an external asset: ``"url"``, no path). ``missing``: assets not exported,
    by export key, as ``{"status", "error"}`` (a deposit pending or failed, a stored
    copy gone). ``left_out``: what an anonymous export left out. ``tables``: each
    table's files and column types.
    """

    lab: str
    assets: str
    anonymous: bool
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    exported: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: dict[str, dict[str, Any]] = field(default_factory=dict)
    left_out: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return (json.dumps({
            "format": FORMAT, "lab": self.lab,
            "options": {"assets": self.assets, "anonymous": self.anonymous},
            "left_out": self.left_out, "tables": self.tables,
            "assets": dict(sorted(self.exported.items())),
            "missing": dict(sorted(self.missing.items())),
            "files": dict(sorted(self.files.items())),
        }, indent=1, ensure_ascii=False) + "\n").encode()


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the export in ``folder``. Raises :class:`NotAnExport` naming the
    folder when it has none, or one moalab did not write."""
    path = folder / MANIFEST_NAME
    fix = "give the folder `moalab export DIR` wrote (it holds manifest.json)"
    if not folder.is_dir():
        raise NotAnExport(f"{str(folder)!r} is not a moalab export: it is "
                          f"{'a file' if folder.exists() else 'missing'}; {fix}")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotAnExport(f"{str(folder)!r} is not a moalab export: it has no "
                          f"{MANIFEST_NAME}; {fix}") from None
    except (OSError, ValueError) as error:
        raise NotAnExport(f"{str(folder)!r} is not a moalab export: its {MANIFEST_NAME} "
                          f"cannot be read ({error}); {fix}, or export again") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        found = content.get("format") if isinstance(content, dict) else None
        raise NotAnExport(f"{str(folder)!r} is not a moalab export: its {MANIFEST_NAME} "
                          f"has format {found!r}, not {FORMAT!r}; {fix}")
    try:
        options = content["options"]
        return Manifest(content["lab"], options["assets"], options["anonymous"],
                        dict(content["files"]), dict(content["assets"]),
                        dict(content["missing"]), content["left_out"], content["tables"])
    except (KeyError, TypeError, ValueError) as error:
        raise NotAnExport(f"{str(folder)!r}: its {MANIFEST_NAME} lacks {error} (edited by "
                          f"hand?); export again into it") from None


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write ``folder/manifest.json`` whole (a killed export leaves the old one)."""
    write_bytes(folder / MANIFEST_NAME, manifest.to_json())
