"""The lab's config file, ``moalab-lab.toml`` in the lab folder."""

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InvalidArgument

__all__ = ("CONFIG_NAME", "LabConfig", "write_default")

CONFIG_NAME = "moalab-lab.toml"
DATABASE_FILE = "lab.sqlite"
DATA_FOLDER = "data"
ASSET_STORAGE = "assets"

# every key the file may hold: section -> key -> type
KEYS: dict[str, dict[str, type]] = {
    "lab": {"name": str},
    "database": {"url": str},
    "data": {"folder": str},
    "assets": {"storage": str},
}


@dataclass(frozen=True)
class LabConfig:
    """A lab's settings: its ``name``, the database ``database_url`` (an SQLite file
    in the lab folder unless the file names another), the ``data_folder`` (absolute)
    and ``asset_storage``, the line choosing where assets are stored (a folder
    relative to the lab's, or ``s3://bucket/prefix?endpoint_url=...``: see
    :func:`moalab.assets.open_storage`)."""

    folder: Path
    name: str
    database_url: str
    data_folder: Path
    asset_storage: str = ASSET_STORAGE

    @classmethod
    def read(cls, folder: str | os.PathLike) -> "LabConfig":
        """Read ``folder/moalab-lab.toml``.

        Raises InvalidArgument naming the file and the line, key or value at fault
        (a syntax error, an unknown section or key, a value of the wrong type).
        """
        folder = Path(folder).resolve()
        path = folder / CONFIG_NAME
        try:
            content = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise InvalidArgument(f"{path} is not valid TOML: {error}; fix it, or make a "
                                  f"new lab with `moalab lab init DIR`") from None
        except UnicodeDecodeError as error:
            raise InvalidArgument(f"{path} is not UTF-8 text ({error}): fix it, or make a "
                                  f"new lab with `moalab lab init DIR`") from None
        values = _checked(path, content)
        name = values.get(("lab", "name"), folder.name)
        data = folder / values.get(("data", "folder"), DATA_FOLDER)
        url = values.get(("database", "url"))
        return cls(folder, name, _database_url(path, folder, url), data,
                   values.get(("assets", "storage"), ASSET_STORAGE))

    @classmethod
    def default(cls, folder: str | os.PathLike, name: str,
                database_url: str | None = None) -> "LabConfig":
        """The config ``write_default`` writes, as ``read`` would read it back."""
        folder = Path(folder).resolve()
        return cls(folder, name, _database_url(folder / CONFIG_NAME, folder, database_url),
                   folder / DATA_FOLDER)


def _checked(path: Path, content: dict) -> dict[tuple[str, str], str]:
    """The values of ``content`` by (section, key), each of the type KEYS names."""
    values = {}
    for section, table in content.items():
        if section not in KEYS:
            raise InvalidArgument(f"{path}: unknown section [{section}]; the sections are "
                                  f"{', '.join(f'[{s}]' for s in KEYS)}")
        if not isinstance(table, dict):
            raise InvalidArgument(f"{path}: {section} must be a section ([{section}]), "
                                  f"not {table!r}")
        for key, value in table.items():
            kind = KEYS[section].get(key)
            if kind is None:
                raise InvalidArgument(f"{path}: unknown key {key!r} in [{section}]; the "
                                      f"keys there are {', '.join(KEYS[section])}")
            if not isinstance(value, kind):
                raise InvalidArgument(f"{path}: [{section}] {key} = {value!r} must be a "
                                      f"{kind.__name__} (a quoted string)")
            values[section, key] = value
    return values


def _database_url(path: Path, folder: Path, url: str | None) -> str:
    """``url`` checked, with a relative SQLite path made relative to the lab
    ``folder`` (not to the current folder); the lab's SQLite file when None."""
    if url is None:
        return f"sqlite:///{folder / DATABASE_FILE}"
    # SQLAlchemy (~0.3 s) only for a lab that names its database, not for this import
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidArgument(f"{path}: [database] url = {url!r} is not a database URL; "
                              f"give e.g. 'sqlite:///lab.sqlite' or "
                              f"'postgresql+psycopg://user:password@host:5432/lab'") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidArgument(f"{path}: [database] url = {url!r}: moalab keeps a lab in "
                              f"SQLite or PostgreSQL ('sqlite:///...' or "
                              f"'postgresql+psycopg://...')")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database = Path(parsed.database)
        if not database.is_absolute():
            return parsed.set(database=str(folder / database)).render_as_string(
                hide_password=False)
    return url


def write_default(folder: str | os.PathLike, name: str,
                  database_url: str | None = None) -> Path:
    """Write a new ``folder/moalab-lab.toml`` for a lab called ``name`` (the database
    ``database_url``, else the lab's SQLite file); returns its path. Overwrites."""
    path = Path(folder) / CONFIG_NAME
    # json.dumps quotes a string the way TOML's basic strings do
    url_line = (f"url = {json.dumps(database_url)}" if database_url else
                f"# url = \"postgresql+psycopg://user:password@host:5432/lab\"  "
                f"# default: {DATABASE_FILE} here")
    path.write_text(
        "# a moalab lab: see `moalab lab --help`\n"
        f"[lab]\nname = {json.dumps(name, ensure_ascii=False)}\n\n"
        f"[database]\n{url_line}\n\n"
        f"[data]\nfolder = {json.dumps(DATA_FOLDER)}  # a folder per session, relative "
        f"to the lab folder\n\n"
        f"[assets]\nstorage = {json.dumps(ASSET_STORAGE)}  # a folder relative to the lab "
        f"folder, or \"s3://bucket/prefix?endpoint_url=https://host\"\n", encoding="utf-8")
    return path
