"""The server's access token: where it comes from, and checking it.

Order: the config's ``token`` (file or ``--token``), else the environment
variable ``MOALAB_TOKEN``, else the token stored in the data directory, which
is generated on the first start (mode 0600) and announced once.
"""

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from ..core.errors import InvalidArgument
from ..executor.endpoint import TOKEN_ENV

__all__ = (
    "TOKEN_ENV",
    "default_data_dir",
    "load_or_create_token",
    "token_matches",
    "bearer_token",
    "is_loopback",
)

_FILE = "token"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/moalab``, else ``~/.local/share/moalab``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "moalab"


def load_or_create_token(data_dir: Path) -> tuple[str, bool]:
    """Read the token stored in ``data_dir``, creating it (mode 0600) if there is none.

    Returns ``(token, created)``.
    """
    path = data_dir / _FILE
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(32)
        # created with its mode in one step: never readable by others, even briefly
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(token + "\n")
        return token, True
    except OSError as exc:
        raise InvalidArgument(
            f"cannot read the server token {str(path)!r}: {exc.strerror or exc}; fix its "
            "permissions, or give the token in the config (token = ...) or MOALAB_TOKEN"
        ) from exc
    if not token:
        raise InvalidArgument(
            f"the server token file {str(path)!r} is empty: delete it to generate a new token"
        )
    return token, False


def token_matches(expected: str, given: str | None) -> bool:
    """Compare in constant time, so the time taken tells nothing of the token."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this computer only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
