"""``moalab export``: a lab's data and assets laid out for a paper's supplementary
materials (PsyNet's ``export --assets``), updated in place by exporting again."""

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..assets import AssetMissing, open_storage
from ..core.errors import InvalidArgument
from ..store.database import AssetInfo, Database
from ..store.lab import Lab
from .files import content_sha256, path_part, remove, write_bytes
from .manifest import MANIFEST_NAME, Manifest, read_manifest, write_manifest
from .options import ASSET_CHOICES
from .tables import TABLE_NAMES, LabData, lab_data, with_trial_assets

__all__ = ("ASSET_CHOICES", "PROTOCOLS_FOLDER", "README_NAME", "ExportSummary",
           "export_lab")

PROTOCOLS_FOLDER = "protocols"
"""Where ``--assets all`` puts each protocol's assets: ``protocols/<protocol>/<name>``."""
README_NAME = "README.md"
PARTIAL = ".*.part"
"""The names files are written under before they are renamed (``write_bytes``, the
storage's ``get``): left only by a killed export."""

Progress = Callable[[int, int, str], None]
"""Called after each asset as ``progress(done, total, path)``."""


@dataclass(frozen=True)
class ExportSummary:
    """What an export did: the paths (relative to ``folder``) it ``written``, found
    ``unchanged`` and ``removed`` (left from an earlier export, no longer part of this
    one); the export keys of the assets ``missing`` (pending, failed, gone from
    storage); how many personal assets an anonymous export ``left_out``."""

    folder: Path
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    missing: tuple[str, ...]
    left_out: int


@dataclass(frozen=True)
class _Planned:
    """An asset to export under ``key``: ``entry`` is its manifest record (with a
    ``path`` unless it is external), ``info`` its row in the lab."""

    key: str
    info: AssetInfo
    entry: dict[str, Any]


def export_lab(lab: Lab, folder: str | os.PathLike, assets: str = "experiment",
               anonymous: bool = False, progress: Progress | None = None) -> ExportSummary:
    """Export ``lab`` into ``folder`` (made if missing): its subjects, sessions, trials
    and qualifications as CSV and JSON, and its ``assets`` (one of
    :data:`ASSET_CHOICES`) fetched from the lab's storage, laid out as
    ``<subject>/<session>/<local_key><ext>`` and ``protocols/<protocol>/<name><ext>``,
    with a ``README.md`` and a ``manifest.json``.

    Exporting again into the same folder gives the same tree: a file whose content is
    unchanged (checked by SHA-256, against the manifest for an asset) is not written
    again, a file edited or deleted in the export is, and files of the earlier export
    no longer part of this one are removed (other files are left alone). Every file is
    written under a temporary name, then renamed (what a killed export left half
    written is removed). With ``anonymous``, the subject fields each subject lists in
    ``personal`` and the assets marked personal are left out, and the README says so.
    A deposit pending or failed is listed in the manifest as missing, not an error;
    so is an asset the lab's storage does not hold (one a protocol's own ``storage``
    keeps).

    Raises :class:`InvalidArgument` for a bad ``assets`` or a ``folder`` that is a file
    or holds other files but no export; what the database and the storage raise.
    Blocks: run it from a thread, not a trio task.
    """
    if assets not in ASSET_CHOICES:
        raise InvalidArgument(f"export assets={assets!r} is not accepted; give one of "
                              f"{', '.join(map(repr, ASSET_CHOICES))}")
    target = _export_folder(Path(folder))
    previous = read_manifest(target) if (target / MANIFEST_NAME).exists() else None
    old_files = previous.files if previous else {}
    for partial in sorted(target.rglob(PARTIAL), reverse=True):
        remove(partial, target)  # what a killed export was writing
    data = lab_data(lab.database, anonymous)
    manifest = Manifest(lab.name, assets, anonymous)
    planned, left_out = _plan_assets(lab.database, data, assets, anonymous, manifest)
    planned_paths = {item.entry["path"] for item in planned if "path" in item.entry}
    data_files = {f"{name}.{form}" for name in TABLE_NAMES for form in ("csv", "json")}
    removed = sorted(set(old_files) - planned_paths - data_files - {README_NAME})
    written: list[str] = []
    unchanged: list[str] = []
    _copy_assets(lab, target, planned, old_files, removed, manifest, written, unchanged,
                 progress)
    for path in removed:
        remove(target / path, target)

    tables = [with_trial_assets(table, _trial_assets(lab.database, planned, manifest))
              if table.name == "trials" else table for table in data.tables]
    contents = {f"{table.name}.{form}": getattr(table, f"{form}_bytes")()
                for table in tables for form in ("csv", "json")}
    manifest.left_out = {"subject_fields": dict(sorted(data.left_out.items())),
                         "personal_assets": left_out} if anonymous else {}
    manifest.tables = {table.name: {"csv": f"{table.name}.csv", "json": f"{table.name}.json",
                                    "columns": table.columns} for table in tables}
    contents[README_NAME] = _readme(manifest).encode()
    for path, content in contents.items():
        sha256 = hashlib.sha256(content).hexdigest()
        if content_sha256(target / path) == sha256:
            unchanged.append(path)
        else:
            write_bytes(target / path, content)
            written.append(path)
        manifest.files[path] = {"sha256": sha256}
    write_manifest(target, manifest)
    return ExportSummary(target, tuple(written), tuple(unchanged), tuple(removed),
                         tuple(sorted(manifest.missing)), left_out)


def _copy_assets(lab: Lab, target: Path, planned: list[_Planned],
                 old_files: dict[str, dict[str, Any]], removed: list[str], manifest: Manifest,
                 written: list[str], unchanged: list[str], progress: Progress | None) -> None:
    """Bring each planned asset's file into ``target``, adding it to ``manifest`` and to
    ``written`` or ``unchanged``: kept when the earlier export's copy is intact, moved
    when that copy is now under another path (a subject anonymised), else fetched
    from the lab's storage (one gone from there is listed missing)."""
    movable = {old_files[path]["key"]: path for path in removed if old_files[path].get("key")}
    copies = [item for item in planned if "path" in item.entry]
    storage = open_storage(lab.config.asset_storage, lab.folder) if copies else None
    for done, item in enumerate(copies, 1):
        path, key = item.entry["path"], item.info.key
        old, moved = old_files.get(path), movable.get(key)
        if old and old.get("key") == key and _intact(target / path, old):
            unchanged.append(path)
            sha256 = old["sha256"]
        elif moved and _intact(target / moved, old_files[moved]):
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(target / moved, target / path)
            written.append(path)
            sha256 = old_files[moved]["sha256"]
        else:
            try:
                storage.get(key, target / path)
            except AssetMissing as error:
                remove(target / path, target)  # a stale or broken copy must not stay
                manifest.missing[item.key] = {"status": item.info.status, "error": str(error)}
                continue
            written.append(path)
            sha256 = content_sha256(target / path)
        manifest.files[path] = {"sha256": sha256, "key": key}
        manifest.exported[item.key] = item.entry
        if progress is not None:
            progress(done, len(copies), path)
    manifest.exported.update({item.key: item.entry for item in planned
                              if "path" not in item.entry})


def _intact(path: Path, entry: dict[str, Any]) -> bool:
    """Whether the file or folder at ``path`` is as the manifest ``entry`` recorded."""
    sha256 = content_sha256(path)
    return sha256 is not None and sha256 == entry.get("sha256")


def _trial_assets(database: Database, planned: list[_Planned],
                  manifest: Manifest) -> dict[tuple[str, int], dict[str, str]]:
    """The assets attached to trials, as exported: (session, index) -> name -> the
    file's path in the export (a session's recording's own, before a protocol's) or
    an external asset's URL."""
    where: dict[int, str] = {}
    for item in planned:
        if item.key in manifest.exported:
            where.setdefault(item.info.id, item.entry.get("path") or item.entry["url"])
    attached: dict[tuple[str, int], dict[str, str]] = {}
    for link in database.asset_links(owner_kind="trial"):
        session, _, index = link.owner.rpartition("/")
        if link.asset in where and index.isdigit():
            attached.setdefault((session, int(index)), {})[link.name] = where[link.asset]
    return attached


def _export_folder(folder: Path) -> Path:
    """``folder`` resolved and made, once checked it may take an export."""
    folder = folder.resolve()
    if folder.exists() and not folder.is_dir():
        raise InvalidArgument(f"export folder {str(folder)!r} is a file: give a folder "
                              f"(new, empty, or an earlier export to update)")
    if folder.is_dir() and not (folder / MANIFEST_NAME).exists() and any(folder.iterdir()):
        raise InvalidArgument(f"export folder {str(folder)!r} holds files but no export "
                              f"(no {MANIFEST_NAME}): give a new or empty folder, or an "
                              f"earlier export to update")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _plan_assets(database: Database, data: LabData, assets: str, anonymous: bool,
                 manifest: Manifest) -> tuple[list[_Planned], int]:
    """The assets to export for ``assets``, by export key; those not exportable are
    recorded in ``manifest.missing``. Returns them and how many personal ones an
    anonymous export leaves out."""
    if assets == "none":
        return [], 0
    candidates: list[tuple[str, AssetInfo, dict[str, Any]]] = []
    for info in database.list_assets(kind="experiment"):
        session = data.sessions[info.session]
        subject = data.subject_names[session.subject]
        key = f"{path_part(subject)}/{session.id}/{path_part(info.local_key)}"
        candidates.append((key, info, {"kind": "experiment", "subject": subject,
                                       "session": session.id, "local_key": info.local_key}))
    if assets == "all":
        rows = {info.id: info for info in database.list_assets()}
        for link in database.asset_links(owner_kind="protocol"):
            key = f"{PROTOCOLS_FOLDER}/{path_part(link.owner)}/{path_part(link.name)}"
            candidates.append((key, rows[link.asset], {
                "kind": rows[link.asset].kind, "protocol": link.owner, "name": link.name}))
    planned, left_out = [], 0
    for key, info, entry in candidates:
        if anonymous and info.personal:
            left_out += 1
            continue
        entry.update(extension=info.extension, personal=info.personal)
        if info.kind == "external":
            entry["url"] = info.url
        elif info.status in ("stored", "deposited") and info.key:
            entry["path"] = key + info.extension
        else:
            manifest.missing[key] = {"status": info.status, "error": info.error}
            continue
        planned.append(_Planned(key, info, entry))
    return planned, left_out


_README = """\
# Lab {lab!r}: data and assets

Exported by `moalab export` (--assets {assets}{anonymous}).

- `subjects.csv`, `subjects.json`: one row per subject; `personal` names the fields
  that identify a person.
- `sessions.csv`, `sessions.json`: one row per session, with its subject, protocol and
  version, status, times (ISO 8601, UTC), arguments and saved state (`state_init`,
  `state_data`).
- `trials.csv`, `trials.json`: one row per trial, with its session, subject and
  protocol, its index, start and end (seconds on the session's clock), its values, a
  column each, and the assets attached to it (`asset.<name>`: a path in this export).
- `qualifications.csv`, `qualifications.json`: the subjects' qualifications, revoked
  ones included.
{asset_lines}- `manifest.json`: each table's column types, every asset by its key, the assets not
  exported and why (`missing`), and the SHA-256 of every file.

In the CSV files an empty cell is null; booleans are `true` / `false`; lists and
objects are JSON. The JSON files hold the same rows with their types.

{personal}
"""
_RECORDINGS = ("- `<subject>/<session>/<local_key><extension>`: each session's\n"
               "  recordings (its experiment assets).\n")
_STIMULI = (f"- `{PROTOCOLS_FOLDER}/<protocol>/<name><extension>`: each protocol's\n"
            "  stimuli (its assets), once each.\n")


def _readme(manifest: Manifest) -> str:
    """The export's README: what each file is, and what was left out."""
    if manifest.anonymous:
        fields = ", ".join(f"{field} ({count} subject{'s' * (count != 1)})"
                           for field, count in manifest.left_out["subject_fields"].items())
        personal = ("This export is anonymous: the subject fields marked personal are\n"
                    f"left out ({fields or 'none'}; a personal name is replaced by\n"
                    "subject-<n>), and so are the assets marked personal "
                    f"({manifest.left_out['personal_assets']}).")
    else:
        personal = ("This export is not anonymous: the subject fields and assets marked\n"
                    "personal are included (`moalab export --anonymous` leaves them out).")
    if manifest.missing:
        personal += (f"\n\n{len(manifest.missing)} asset(s) could not be exported (a "
                     "deposit pending or failed, or\na stored copy gone): manifest.json "
                     "lists them under `missing`.")
    assets = {"none": "", "experiment": _RECORDINGS, "all": _RECORDINGS + _STIMULI}
    return _README.format(lab=manifest.lab, assets=manifest.assets,
                          anonymous=", --anonymous" if manifest.anonymous else "",
                          asset_lines=assets[manifest.assets], personal=personal)
