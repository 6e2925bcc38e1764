"""Storage keys: the names assets are stored under, checked before any I/O."""

from ..core.errors import InvalidArgument

__all__ = ("CACHED_PREFIX", "MAX_KEY_BYTES", "check_extension", "check_key", "is_key")

MAX_KEY_BYTES = 1024
"""S3's limit on an object's name; a key must leave room for a back-end's prefix."""

_ACCEPTED = ("a relative POSIX path of non-empty parts separated by '/', without '.' or "
             f"'..' parts, backslashes or NUL, at most {MAX_KEY_BYTES} bytes of UTF-8, "
             "e.g. 'cached/1f2e.wav'")


def check_key(key: object) -> str:
    """Return ``key`` if it is a valid storage key, else raise :class:`InvalidArgument`.

    A key is a relative POSIX path (``stimuli/tone.wav``) that cannot leave the folder
    it is joined to on any back-end: no absolute path, no ``.`` or ``..`` or empty part
    (so no leading, trailing or doubled ``/``), no backslash (a separator on Windows),
    no NUL, at most :data:`MAX_KEY_BYTES` bytes of UTF-8. Every back-end calls this
    before it touches storage.
    """
    if not isinstance(key, str):
        raise InvalidArgument(f"storage key {key!r} is a {type(key).__name__}; "
                              f"a key is a str: {_ACCEPTED}")
    problem = _problem(key)
    if problem:
        raise InvalidArgument(f"storage key {key!r} {problem}; a key is {_ACCEPTED}")
    return key


def is_key(key: object) -> bool:
    """Whether :func:`check_key` accepts ``key``."""
    return isinstance(key, str) and not _problem(key)


def _problem(key: str) -> str:
    if not key:
        return "is empty"
    if "\0" in key:
        return "holds a NUL character"
    if "\\" in key:
        return "holds a backslash"
    if key.startswith("/"):
        return "is absolute"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8 (it holds a lone surrogate)"
    if size > MAX_KEY_BYTES:
        return f"is {size} bytes of UTF-8, over {MAX_KEY_BYTES}"
    for part in key.split("/"):
        if part in ("", ".", ".."):
            return f"has a {part!r} part" if part else "has an empty part"
    return ""


CACHED_PREFIX = "cached"
"""The folder of a store's content-addressed keys: ``cached/<sha256><extension>``."""


def check_extension(extension: object, owner: str) -> str:
    """Return ``extension`` if it is ``""`` or a ``.`` and up to 16 ASCII letters,
    digits, ``_`` or ``-``, else raise :class:`InvalidArgument` naming ``owner``."""
    if extension == "" or (
            isinstance(extension, str) and extension.startswith(".") and 1 < len(extension) <= 17
            and extension.isascii() and extension[1:].replace("_", "").replace("-", "").isalnum()):
        return extension  # type: ignore[return-value]
    raise InvalidArgument(f"{owner}: extension {extension!r} is not accepted; give '' or a "
                          "'.' and up to 16 ASCII letters, digits, '_' or '-', e.g. '.wav'")
