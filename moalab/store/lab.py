"""A lab: the folder holding its config, its data (a folder per session) and, by
default, its database."""

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import InvalidArgument
from .config import ASSET_STORAGE, CONFIG_NAME, LabConfig, write_default

if TYPE_CHECKING:
    from .database import Database

__all__ = ("Lab", "LAB_ENV")

LAB_ENV = "MOALAB_LAB"


class Lab:
    """The lab in ``folder`` (use ``Lab.find`` or ``Lab.init``). ``database`` opens on
    first use and checks the schema (SchemaTooOld / SchemaTooNew); ``close`` closes it."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).resolve()
        self.config = LabConfig.read(self.folder)
        self._database: "Database | None" = None

    @classmethod
    def init(cls, folder: str | os.PathLike, name: str | None = None,
             database_url: str | None = None) -> "Lab":
        """Make a lab in ``folder`` (made if missing) called ``name`` (default: the
        folder's name): its config, data folder and a database at the current
        schema (``database_url``, default an SQLite file in the folder; a shared
        PostgreSQL database already at this schema is used as it is).

        Raises InvalidArgument for a folder that already is a lab; the config is
        written last, so a failure (DatabaseUnavailable, ...) leaves no lab behind.
        """
        folder = Path(folder).resolve()
        if (folder / CONFIG_NAME).exists():
            raise InvalidArgument(f"{folder} already is a lab ({CONFIG_NAME} is there): "
                                  f"use it with `--lab {folder}`, or init another folder")
        if folder.exists() and not folder.is_dir():
            raise InvalidArgument(f"{folder} is a file, not a folder: give a folder for "
                                  f"the lab")
        folder.mkdir(parents=True, exist_ok=True)
        config = LabConfig.default(folder, name or folder.name, database_url)
        _open_database(config.database_url, upgrade=True).close()
        config.data_folder.mkdir(exist_ok=True)
        write_default(folder, config.name, database_url)
        return cls(folder)

    @classmethod
    def find(cls, lab: str | os.PathLike | None = None) -> "Lab":
        """The lab in ``lab`` (``--lab DIR``), else in ``$MOALAB_LAB``, else in the
        current folder. Raises InvalidArgument when that folder is not a lab."""
        where, how = ((lab, "--lab") if lab is not None else
                      (os.environ[LAB_ENV], LAB_ENV) if os.environ.get(LAB_ENV) else
                      (os.getcwd(), "the current folder"))
        folder = Path(where).resolve()
        if not (folder / CONFIG_NAME).is_file():
            raise InvalidArgument(f"{folder} ({how}) is not a lab: it has no {CONFIG_NAME}; "
                                  f"make one with `moalab lab init {folder}`, or give "
                                  f"the lab's folder with `--lab DIR` or {LAB_ENV}")
        return cls(folder)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def data_folder(self) -> Path:
        return self.config.data_folder

    @property
    def asset_folder(self) -> Path:
        """The folder of the default asset storage (``[assets] storage = "assets"``)."""
        return self.folder / ASSET_STORAGE

    @property
    def cache_folder(self) -> Path:
        """Where a local or dry run's sessions find local copies of their assets."""
        return self.folder / "cache"

    @property
    def database(self) -> "Database":
        if self._database is None:
            self._database = _open_database(self.config.database_url)
        return self._database

    def upgrade(self) -> None:
        """Migrate the lab's database to this moalab's schema (`moalab lab upgrade`)."""
        if self._database is None:
            self._database = _open_database(self.config.database_url, upgrade=True)
        else:
            self._database.upgrade()

    def session_folder(self, session_id: str) -> Path:
        """The data folder of session ``session_id`` on this computer; not made here (a
        lab's PCs share its database, not their data folders: listing another PC's
        sessions must leave no folder for them). :meth:`make_session_folder` makes it."""
        return self.data_folder / session_id

    def make_session_folder(self, session_id: str) -> Path:
        """:meth:`session_folder`, made if missing: for a session that writes there (a
        run or a resume on this computer)."""
        folder = self.session_folder(session_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def discard_session(self, session_id: str) -> None:
        """Delete a session that never started, with its data folder (nothing
        half-written is left behind). Raises as ``Database.delete_session``."""
        self.database.delete_session(session_id)
        shutil.rmtree(self.data_folder / session_id, ignore_errors=True)

    def close(self) -> None:
        if self._database is not None:
            self._database.close()
            self._database = None

    def __repr__(self) -> str:
        return f"Lab({str(self.folder)!r}, name={self.name!r})"


def _open_database(url: str, upgrade: bool = False) -> "Database":
    """``Database.open(url, upgrade)``, importing the database module (SQLAlchemy's
    models, ~0.3 s) only once a lab's database is opened, not with this module."""
    from .database import Database

    return Database.open(url, upgrade=upgrade)
