"""Asset types (PsyNet's): what a file a protocol uses or makes is, and how its storage
key is found.

- :class:`CachedAsset`: a file or folder known in advance, keyed by its content.
- :class:`CachedFunctionAsset`: a file made by a function, keyed by the function's
  name, arguments, code and an optional version.
- :class:`FastFunctionAsset`: made on demand each time, never stored.
- :class:`ExternalAsset`, :class:`ExternalS3Asset`: referenced by URL, not managed.
- :class:`ExperimentAsset`, :class:`Recording`: made during a session.

Hashing and storage calls block on disk or network: call :meth:`Asset.ensure` from a
worker thread, never from a stage's task.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import types
import urllib.parse
from collections.abc import Callable, Container
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..core.errors import InvalidArgument
from .hashing import cached_key, content_key, folder_entries
from .keys import check_extension, check_key
from .storage import AssetStorage

if TYPE_CHECKING:
    from .deposit import Depositor

__all__ = ("Asset", "CachedAsset", "CachedFunctionAsset", "DepositParent", "ExperimentAsset",
           "ExternalAsset", "ExternalS3Asset", "FastFunctionAsset", "Recording",
           "check_extension", "check_key_part", "code_sha256")

_FUNCTION_TAG = "moalab-function-asset-v1"
"""Starts every function asset's key payload, so it never hashes like some file."""


def check_key_part(name: object, owner: str, what: str) -> str:
    """Return ``name`` if it is one part of a key (a valid key without '/': it names one
    file in a folder), else raise :class:`InvalidArgument` naming ``owner``."""
    if not isinstance(name, str) or "/" in name:
        raise InvalidArgument(f"{owner}: {what} {name!r} is not accepted; give one part of "
                              "a key, without '/', e.g. 'response'")
    return check_key(name)


class Asset:
    """The base of every asset: a file (or folder) a protocol uses or makes.

    ``key`` is where the asset lies in the lab's storage (a checked storage key), or
    None for an asset that is not stored there (made on demand, external, not yet
    deposited). ``extension`` is its file's (``".wav"``); ``personal`` marks an asset an
    anonymous export leaves out.
    """

    def __init__(self, extension: str = "", personal: bool = False) -> None:
        self.extension = check_extension(extension, type(self).__name__)
        if not isinstance(personal, bool):
            raise InvalidArgument(f"{type(self).__name__}: personal={personal!r} is not "
                                  "accepted; give True or False")
        self.personal = personal

    @property
    def key(self) -> str | None:
        """Where the asset lies in the lab's storage (a checked storage key), or None
        for an asset that is not stored there. None here; each stored kind says its
        own. Reading it does not touch the storage."""
        return None

    def ensure(self, storage: AssetStorage, listed: Container[str] = ()) -> str | None:
        """Make sure the asset is in ``storage``; return its key there, or None for an
        asset that is never stored. ``listed``: keys a listing of ``storage`` just
        showed, taken as stored without asking it (one listing can replace many
        ``exists`` calls). Blocks: call from a worker thread."""
        return None

    def __repr__(self) -> str:
        try:
            key = repr(self.key)
        except (OSError, InvalidArgument) as error:  # a repr must not raise
            key = f"<unknown: {error}>"
        return f"<{type(self).__name__} key={key}>"


class CachedAsset(Asset):
    """The file or folder at ``path``, known in advance, stored under a key derived from
    its content (:func:`~moalab.assets.content_key`): an unchanged stimulus is
    stored once, and redeploying it transfers nothing. ``extension`` defaults to a
    file's suffix and to none for a folder.

    The key is the content's as it is when asked (hashed each time), so an edited file
    is a new asset. Reading it raises :class:`InvalidArgument` if ``path`` is neither a
    file nor a folder.
    """

    def __init__(self, path: str | os.PathLike, extension: str | None = None,
                 personal: bool = False) -> None:
        self.path = Path(path)
        if extension is None:  # content_key's default
            extension = "" if self.path.is_dir() else self.path.suffix
        super().__init__(extension, personal)

    @property
    def key(self) -> str:
        """The content's key, :meth:`content_key`, computed on each read (the file or
        folder is hashed again, so an edit shows at once); raises
        :class:`~moalab.InvalidArgument` if ``path`` is neither a file nor a folder."""
        return self.content_key()

    def content_key(self) -> str:
        """``cached/<sha256><extension>`` of the content at :attr:`path` now."""
        return content_key(self.path, self.extension)

    def ensure(self, storage: AssetStorage, listed: Container[str] = ()) -> str:
        """Put the content in ``storage`` unless it is there (or ``listed``, as for
        :meth:`Asset.ensure`); return its key.

        A file is put (``if_absent``) only when ``storage.exists`` says it is missing
        (which may be wrong that way: ``if_absent`` then keeps the stored copy). A
        folder's files are compared with the stored listing and only the missing ones
        put, so a folder a killed put left half-stored is completed.
        """
        key = self.content_key()
        if self.path.is_dir():
            stored = set(storage.list(key))
            files, _ = folder_entries(self.path)
            for name, file in files:
                if name not in stored:
                    storage.put(f"{key}/{name}", file, if_absent=True)
        elif key not in listed and not storage.exists(key):
            storage.put(key, self.path, if_absent=True)
        return key


def code_sha256(function: Callable[..., Any]) -> str:
    """The SHA-256 of ``function``'s code: its bytecode, the names it uses, its
    constants (nested functions' code included) and its default arguments. Editing the
    body or a default changes it; editing a helper it calls, a global it reads or a
    value it captures from an enclosing function does not (give the asset a
    ``version``, or pass the value as an argument). Raises
    :class:`~moalab.InvalidArgument` for a callable without Python code (a builtin, a
    ``functools.partial``)."""
    code = getattr(function, "__code__", None)
    if not isinstance(code, types.CodeType):
        raise InvalidArgument(f"{function!r} has no Python code to hash (a builtin, a "
                              "functools.partial, a callable object?); give a plain "
                              "function, e.g. def make_tone(path, freq): ...")
    digest = hashlib.sha256()
    _hash_code(code, digest)
    digest.update(repr((function.__defaults__, function.__kwdefaults__)).encode())
    return digest.hexdigest()


def _hash_code(code: types.CodeType, digest: Any) -> None:
    digest.update(code.co_code)
    digest.update(repr((code.co_names, code.co_varnames, code.co_freevars)).encode())
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            _hash_code(constant, digest)
        elif isinstance(constant, frozenset):  # its order follows string hashing: sort
            digest.update(repr(sorted(map(repr, constant))).encode())
        else:
            digest.update(repr(constant).encode())
        digest.update(b"\0")


def _make(function: Callable[..., Any], arguments: dict[str, Any], path: Path,
          owner: Asset) -> None:
    """Call ``function(path, **arguments)`` and check it wrote ``path``."""
    try:
        function(path, **arguments)
    except Exception as error:
        error.add_note(f"while making {owner!r}")
        raise
    if not path.exists():
        raise InvalidArgument(f"{owner!r}: {function.__qualname__}(path, ...) wrote nothing at "
                              "path; it must write the asset's file (or folder) there")


class CachedFunctionAsset(Asset):
    """A file made by ``function(path, **arguments)`` (it writes the file at ``path``),
    stored once under a key covering the function's module and qualified name, its
    arguments (canonical JSON), ``version`` and :func:`code_sha256`: editing the
    function's body makes a new key, so a stale file is never served. Editing a helper
    it calls does not (see :func:`code_sha256`): raise ``version`` then.

    Raises :class:`InvalidArgument` for arguments that are not JSON data (naming the
    argument), a ``version`` that is not JSON data, or a function without Python code.
    """

    def __init__(self, function: Callable[..., Any], extension: str, version: Any = None,
                 personal: bool = False, **arguments: Any) -> None:
        super().__init__(extension, personal)
        self.function, self.version, self.arguments = function, version, arguments
        owner = f"CachedFunctionAsset({getattr(function, '__qualname__', function)!r})"
        for name, value in {**arguments, "version": version}.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise InvalidArgument(
                    f"{owner}: argument {name}={value!r} is not JSON data ({error}); give "
                    "numbers, strings, booleans, None, lists and dicts with string keys"
                ) from None
        code = code_sha256(function)  # first: it names a callable that is no function
        payload = json.dumps(
            {"tag": _FUNCTION_TAG, "function": f"{function.__module__}.{function.__qualname__}",
             "code": code, "version": version, "arguments": arguments},
            sort_keys=True, separators=(",", ":"), allow_nan=False)
        self._key = check_key(
            cached_key(hashlib.sha256(payload.encode()).hexdigest(), self.extension))

    @property
    def key(self) -> str:
        """``cached/<sha256><extension>`` of the function's name, code, arguments and
        ``version``, fixed when the asset is made; the function is not called."""
        return self._key

    def content_key(self) -> str:
        """The same as :attr:`key` (for the interface :class:`CachedAsset` shares):
        the key is known without making the file."""
        return self._key

    def ensure(self, storage: AssetStorage, listed: Container[str] = ()) -> str:
        """Make the file in a temporary folder and put it (``if_absent``), only when
        its key is not ``listed`` (as for :meth:`Asset.ensure`) and ``storage.exists``
        says it is missing; return the key."""
        if self._key not in listed and not storage.exists(self._key):
            with tempfile.TemporaryDirectory(prefix="moalab-asset-") as folder:
                path = Path(folder) / f"asset{self.extension}"
                _make(self.function, self.arguments, path, self)
                storage.put(self._key, path, if_absent=True)
        return self._key


class FastFunctionAsset(Asset):
    """A file made by ``function(path, **arguments)`` each time it is asked for
    (:meth:`make`), never stored: for what takes less time to make than to fetch."""

    def __init__(self, function: Callable[..., Any], extension: str, personal: bool = False,
                 **arguments: Any) -> None:
        super().__init__(extension, personal)
        self.function, self.arguments = function, arguments

    def make(self, folder: str | os.PathLike, name: str) -> Path:
        """Make the file as ``folder/<name><extension>`` (written under a temporary name,
        then renamed: never seen half made) and return its path."""
        target = Path(folder) / f"{check_key_part(name, repr(self), 'name')}{self.extension}"
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}.") as temporary:
            path = Path(temporary) / target.name
            _make(self.function, self.arguments, path, self)
            os.replace(path, target)
        return target

    def __repr__(self) -> str:
        return f"<FastFunctionAsset {self.function.__qualname__} key=None>"


class ExternalAsset(Asset):
    """A file at ``url``, referenced but not managed: nothing is stored, synced or
    exported; :meth:`url` gives it."""

    def __init__(self, url: str, extension: str = "", personal: bool = False) -> None:
        super().__init__(extension, personal)
        if not isinstance(url, str) or not urllib.parse.urlsplit(url).scheme:
            raise InvalidArgument(f"ExternalAsset: url {url!r} is not accepted; give an "
                                  "absolute URL, e.g. 'https://example.org/tone.wav'")
        self._url = url

    def url(self) -> str:
        """The absolute URL the asset was given (checked to have a scheme, not fetched)."""
        return self._url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url()!r} key=None>"


class ExternalS3Asset(ExternalAsset):
    """The object ``key`` in the S3 bucket ``bucket`` (not the lab's storage),
    referenced but not managed; :meth:`url` is its plain AWS URL, ``object_key`` its key
    in that bucket (:attr:`key`, a key in the lab's storage, stays None)."""

    def __init__(self, bucket: str, key: str, extension: str = "",
                 personal: bool = False) -> None:
        if not isinstance(bucket, str) or not bucket or "/" in bucket:
            raise InvalidArgument(f"ExternalS3Asset: bucket {bucket!r} is not accepted; give "
                                  "a bucket's name, e.g. 'my-stimuli'")
        self.bucket, self.object_key = bucket, check_key(key)
        super().__init__(f"https://{bucket}.s3.amazonaws.com/{urllib.parse.quote(key)}",
                         extension, personal)


@runtime_checkable
class DepositParent(Protocol):
    """What an :class:`ExperimentAsset`'s ``parent`` is to be deposited: a session,
    whose ``depositor`` is its run's (None while it does not run)."""

    @property
    def id(self) -> str: ...

    @property
    def depositor(self) -> Depositor | None: ...


class ExperimentAsset(Asset):
    """A file made during a session (a recording, a stimulus made from a response):
    ``input_path`` is where it lies now, ``local_key`` its name in its ``parent``, the
    :class:`~moalab.protocol.Session` it was made in. Its storage key,
    ``experiment/<session id>/<local_key><extension>``, is given by :meth:`deposit`.
    A file a device made on the session's rig lies in the session's ``rig_folder``
    (a path on the rig, not checked here): it is fetched from the rig when deposited.

    Raises :class:`InvalidArgument` if ``input_path`` is neither a file nor a folder
    here nor in the parent's ``rig_folder``, or ``local_key`` is not one part of a key.
    """

    def __init__(self, local_key: str, input_path: str | os.PathLike, extension: str = "",
                 parent: Any = None, personal: bool = False) -> None:
        super().__init__(extension, personal)
        owner = type(self).__name__
        self.local_key = check_key_part(local_key, owner, "local_key")
        self.input_path = Path(input_path)
        rig_folder = getattr(parent, "rig_folder", None)
        on_rig = rig_folder is not None and self.input_path.is_relative_to(rig_folder)
        if not (on_rig or self.input_path.is_file() or self.input_path.is_dir()):
            raise InvalidArgument(f"{owner}({local_key!r}): input_path "
                                  f"{str(self.input_path)!r} is neither a file nor a folder; "
                                  "give the path of the file made (on a rig: in "
                                  "session.rig_folder)")
        self.parent = parent
        self._key: str | None = None

    @property
    def key(self) -> str | None:
        """The storage key, once :meth:`deposit` was called (None before)."""
        return self._key

    def deposit(self, async_: bool = False, delete_input: bool = False) -> str:
        """Upload the file to the lab's storage, recorded as a deposit of the session
        ``parent``; return its key.

        With ``async_=True`` it returns at once, from any thread (a stage's callback,
        a device's thread): the upload runs beside the session, its record goes
        pending -> deposited or failed, a failure flags the session and the tree goes
        on. With ``async_=False`` it returns once uploaded and raises what failed:
        call it from a worker thread (``await run_in_thread(asset.deposit)``), not
        the trio thread. ``delete_input`` deletes the file after a successful upload.

        Raises :class:`InvalidArgument` when ``parent`` is not a running session, or
        the session already has a deposit of this ``local_key``.
        """
        owner = f"{type(self).__name__}({self.local_key!r})"
        if not isinstance(self.parent, DepositParent):
            raise InvalidArgument(f"{owner}.deposit(): its parent {self.parent!r} is not a "
                                  "session; make it with parent=session (the Session the "
                                  "tree was built for)")
        depositor = self.parent.depositor
        if depositor is None:
            raise InvalidArgument(f"{owner}.deposit(): session {self.parent.id} is not "
                                  "running; deposit during the session's run")
        self._key = depositor.deposit(self, async_=async_, delete_input=delete_input)
        return self._key

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.local_key!r} of {self.parent!r} key={self.key!r}>"


class Recording(ExperimentAsset):
    """A recording taken during a session (a microphone take, a camera clip)."""
