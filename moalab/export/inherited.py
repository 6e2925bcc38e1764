"""InheritedAssets: the assets of an earlier export, for a follow-up experiment (PsyNet's
``InheritedAssets``), e.g. validation ratings of earlier recordings."""

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..assets import Asset, CachedAsset, ExternalAsset
from ..core.errors import InvalidArgument
from .errors import UnknownExportKey
from .manifest import read_manifest

__all__ = ("InheritedAssets",)


class InheritedAssets(Mapping[str, Asset]):
    """The assets of the export in ``export_dir`` (``moalab export DIR``), by their keys
    there: ``<subject>/<session>/<local_key>`` for a session's recordings,
    ``protocols/<protocol>/<name>`` for a protocol's stimuli (no extension).

    A read-only mapping: each value is a :class:`~moalab.assets.CachedAsset` of the
    exported file (an :class:`~moalab.assets.ExternalAsset` for an external one), to
    put in a protocol's ``assets`` under a name of its own, e.g.
    ``assets = {"take": earlier["rat-1/3f2a9c0d1e4b/response"]}``: it is stored and
    synced to the rig like any stimulus.

    Raises :class:`~moalab.export.errors.NotAnExport` for a folder that is not an export; a
    missing key raises :class:`~moalab.export.errors.UnknownExportKey` (a ``KeyError``) naming
    the export and close keys, or why the asset was not exported.
    """

    def __init__(self, export_dir: str | os.PathLike) -> None:
        self.folder = Path(export_dir).resolve()
        manifest = read_manifest(self.folder)
        self._entries = dict(sorted(manifest.exported.items()))
        self._missing = manifest.missing

    def __getitem__(self, key: str) -> Asset:
        entry = self._entries.get(key)
        if entry is None:
            missing = self._missing.get(key) if isinstance(key, str) else None
            reason = (f"it was {missing['status']} when exported"
                      + (f" ({missing['error']})" if missing.get("error") else "")
                      + "; export again once it is deposited") if missing else ""
            raise UnknownExportKey(self.folder, key, self._entries, reason)
        if "url" in entry:
            return ExternalAsset(entry["url"], entry["extension"], entry["personal"])
        path = self.folder / entry["path"]
        if not path.exists():
            raise InvalidArgument(f"export {str(self.folder)!r}: the file of asset {key!r} "
                                  f"({entry['path']}) is gone; export again into the folder "
                                  "to bring it back")
        return CachedAsset(path, entry["extension"], entry["personal"])

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return f"InheritedAssets({str(self.folder)!r}, {len(self)} assets)"
