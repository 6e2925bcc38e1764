"""The address a dashboard listens on, as the command line gives it."""

from ..core.errors import InvalidArgument

__all__ = ("parse_address",)


def parse_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` as ``(host, port)``; a bare PORT is on 127.0.0.1, 0 picks a free
    one. Raises :class:`InvalidArgument` naming what is accepted."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not host or not 0 <= port <= 65535:
        raise InvalidArgument(
            f"--dashboard {text!r} is not an address: give [HOST:]PORT with a port from 0 to "
            "65535, e.g. 8080, 127.0.0.1:0 (a free port) or 0.0.0.0:8080")
    return host, port
