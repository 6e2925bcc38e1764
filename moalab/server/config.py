"""The moalab-server configuration: a TOML file, checked, with command-line overrides.

A config file holds top-level keys only::

    host = "0.0.0.0"            # address to listen on
    port = 5000                 # 0 picks a free port
    allow = ["myrig.devices"]   # modules whose device classes clients may create
    data_dir = "/var/lib/moalab"  # the generated token is kept here
    token = "a shared secret"   # optional: else MOALAB_TOKEN, else generated
    certfile = "rig.pem"        # optional, with keyfile: serve https and wss
    keyfile = "rig-key.pem"
    max_message_size = 16777216 # bytes; a larger request closes its connection
    namespace_grace = 60        # seconds a namespace nobody uses keeps its objects

Relative paths are taken relative to the file's folder.
"""

import importlib
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from os import PathLike
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgument

__all__ = ("ServerConfig", "load_config", "merge_config", "check_allowed_modules",
           "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_NAMESPACE_GRACE")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024
DEFAULT_NAMESPACE_GRACE = 60.0
"""Seconds a namespace other than the shared one keeps its objects once no client uses
it. Its client may be reconnecting (the server takes a silent one for gone after
15 s): the objects it finds are the ones it left, its devices' state intact. A
client that died leaves them at most this long (each holds a thread, maybe a pin a
new run wants)."""


def _bad(source: str, key: str, value: Any, accepted: str) -> InvalidArgument:
    return InvalidArgument(f"{source}: {key} = {value!r} is not accepted; {accepted}")


def _check_host(source: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise _bad(
            source, "host", value,
            "give an address or host name as a string, e.g. \"127.0.0.1\" (this computer "
            "only) or \"0.0.0.0\" (every network interface)",
        )
    return value


def _check_port(source: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise _bad(
            source, "port", value, "give a whole number from 0 to 65535 (0 picks a free port)"
        )
    return value


def _is_module_name(name: Any) -> bool:
    return isinstance(name, str) and all(part.isidentifier() for part in name.split("."))


def _check_allow(source: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise _bad(
            source, "allow", value,
            "give a list of module names, e.g. [\"myrig.devices\"]",
        )
    names = list(value)
    for name in names:
        if not _is_module_name(name):
            raise _bad(
                source, "allow", value,
                f"{name!r} is not a module name; give dotted Python module names such as "
                "\"myrig.devices\"",
            )
    return tuple(dict.fromkeys(names))


def _check_data_dir(source: str, value: Any, base: Path | None = None) -> Path | None:
    if value is None:
        return None
    if isinstance(value, PathLike):
        value = str(Path(value))
    if not isinstance(value, str) or not value.strip():
        raise _bad(
            source, "data_dir", value,
            "give a folder path as a string, e.g. \"/var/lib/moalab\"",
        )
    path = Path(value).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    return path


def _check_token(source: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or value != value.strip():
        raise _bad(
            source, "token", value,
            "give a non-empty string without surrounding spaces, or leave token out",
        )
    return value


def _check_file(source: str, key: str, value: Any, base: Path | None = None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser() if isinstance(value, (str, PathLike)) else None
    if path is not None and base is not None and not path.is_absolute():
        path = base / path
    if path is None or not path.is_file():
        raise _bad(source, key, value, "give the path of an existing PEM file")
    return path


def _check_grace(source: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0 < value < math.inf):
        raise _bad(source, "namespace_grace", value,
                   f"give seconds, more than 0 (default {DEFAULT_NAMESPACE_GRACE:g})")
    return float(value)


def _check_size(source: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise _bad(source, "max_message_size", value,
                   "give a whole number of bytes, at least 1024 (default 16 MiB)")
    return value


@dataclass(frozen=True)
class ServerConfig:
    """What moalab-server serves and where.

    :param host: the address to listen on.
    :param port: the TCP port (0 picks a free one).
    :param allow: modules whose device classes clients may create, besides moalab's own.
    :param data_dir: where the server keeps its data, or None for none.
    :param token: a secret clients must present, or None for no check.
    :param certfile: a TLS certificate (PEM); with ``keyfile``, serves https/wss.
    :param keyfile: the certificate's private key (PEM).
    :param max_message_size: the largest request (WebSocket message or REST body)
        accepted, in bytes; a larger one closes that connection (413 for REST).
    :param namespace_grace: seconds the objects of a namespace other than ``""`` last
        once no client uses it (see :data:`DEFAULT_NAMESPACE_GRACE`).

    Raises :class:`~moalab.core.errors.InvalidArgument` for a value of the wrong
    type or out of range.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    allow: tuple[str, ...] = ()
    data_dir: Path | None = None
    token: str | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    max_message_size: int = DEFAULT_MAX_MESSAGE
    namespace_grace: float = DEFAULT_NAMESPACE_GRACE

    def __post_init__(self) -> None:
        self._normalise("ServerConfig")

    def _normalise(self, source: str, base: Path | None = None) -> None:
        # frozen: the checked (normalised) values are put in place once, here
        set_ = object.__setattr__
        set_(self, "host", _check_host(source, self.host))
        set_(self, "port", _check_port(source, self.port))
        set_(self, "allow", _check_allow(source, self.allow))
        set_(self, "data_dir", _check_data_dir(source, self.data_dir, base))
        set_(self, "token", _check_token(source, self.token))
        set_(self, "certfile", _check_file(source, "certfile", self.certfile, base))
        set_(self, "keyfile", _check_file(source, "keyfile", self.keyfile, base))
        if (self.certfile is None) != (self.keyfile is None):
            raise InvalidArgument(
                f"{source}: certfile and keyfile go together; give both (TLS) or neither"
            )
        set_(self, "max_message_size", _check_size(source, self.max_message_size))
        set_(self, "namespace_grace", _check_grace(source, self.namespace_grace))

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys a config file may hold."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], source: str = "server config", base: Path | None = None
    ) -> "ServerConfig":
        """Build a config from ``data`` (e.g. parsed TOML); ``source`` names it in errors.

        Relative ``data_dir`` paths are taken relative to ``base`` when given.
        Raises :class:`InvalidArgument` for an unknown key or a bad value.
        """
        accepted = cls.keys()
        for key, value in data.items():
            if key not in accepted:
                raise InvalidArgument(
                    f"{source}: unknown key {key!r} (= {value!r}); the accepted keys are "
                    f"{', '.join(accepted)}"
                )
        config = cls.__new__(cls)
        for f in fields(cls):
            object.__setattr__(config, f.name, data.get(f.name, f.default))
        config._normalise(source, base)
        return config

    def merged(self, **overrides: Any) -> "ServerConfig":
        """See :func:`merge_config`."""
        return merge_config(self, **overrides)


def load_config(path: str | PathLike[str]) -> ServerConfig:
    """Read and check the TOML config file at ``path``.

    Raises :class:`InvalidArgument` naming the file when it cannot be read, is
    not valid TOML, or has an unknown key or a bad value (the message names the
    key, the value and what is accepted).
    """
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(
            f"server config {str(path)!r} cannot be read ({exc.strerror or exc}); give the "
            "path of a TOML file, e.g. /etc/moalab/server.toml"
        ) from exc
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidArgument(f"server config {str(path)!r} is not valid TOML: {exc}") from exc
    return ServerConfig.from_mapping(
        data, source=f"server config {str(path)!r}", base=path.resolve().parent
    )


def merge_config(config: ServerConfig, **overrides: Any) -> ServerConfig:
    """Return ``config`` with command-line values laid over it.

    Each keyword is a config key; a value of None means the flag was not given
    and keeps the file's value. ``host``, ``port``, ``data_dir`` and ``token``
    replace the file's; ``allow`` modules are added to the file's list (a
    repeated ``--allow`` adds modules, it does not drop those in the file).
    Raises :class:`InvalidArgument` for an unknown key or a bad value, naming
    the command line as the source.
    """
    source = "command line"
    accepted = ServerConfig.keys()
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in accepted:
            raise InvalidArgument(
                f"{source}: unknown option {key!r} (= {value!r}); the accepted options are "
                f"{', '.join(accepted)}"
            )
        if value is None:
            continue
        if key == "allow":
            value = config.allow + _check_allow(source, value)
        changes[key] = value
    return ServerConfig.from_mapping({**_as_dict(config), **changes}, source=source)


def _as_dict(config: ServerConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in fields(config)}


def check_allowed_modules(allow: Iterable[str], folder: Path | None = None) -> None:
    """Import every module of ``allow``, so a server does not start with one that only
    fails at the first device.

    Raises :class:`InvalidArgument` naming the module, why it did not import and how
    to make it importable; when a file or folder of that name is in ``folder`` (the
    working folder by default), it says that folder is not on the import path.
    """
    folder = Path.cwd() if folder is None else folder
    for name in allow:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not _is_part_of(exc.name, name):
                raise InvalidArgument(
                    f"allowed module {name!r} cannot be imported: it imports {exc.name!r}, "
                    f"which is not installed; pip install the package that provides it"
                ) from None
            top = name.split(".")[0]
            beside = [p for p in (folder / f"{top}.py", folder / top) if p.exists()]
            hint = (
                f"{beside[0]} is in the working folder, which is not on the server's import "
                f"path: start it with PYTHONPATH={folder}, or pip install the project that "
                "holds it" if beside else
                "put the folder that holds it on PYTHONPATH, or pip install the package "
                "that provides it"
            )
            raise InvalidArgument(
                f"allowed module {name!r} cannot be imported ({exc}); {hint}"
            ) from None
        except Exception as exc:  # the module is there, running it failed
            raise InvalidArgument(
                f"allowed module {name!r} failed while being imported: "
                f"{type(exc).__name__}: {exc}; fix the module, or drop it from allow"
            ) from None


def _is_part_of(missing: str, name: str) -> bool:
    """Whether the module ``missing`` is ``name`` or one of its parent packages."""
    return name == missing or name.startswith(missing + ".")
