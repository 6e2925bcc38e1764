"""ServerEndpoint: where a moalab-server is, and how a client reaches it."""

import os
import ssl

from ..core.errors import InvalidArgument

__all__ = ("ServerEndpoint", "TOKEN_ENV")

TOKEN_ENV = "MOALAB_TOKEN"
"""The environment variable holding the server's access token (client and server)."""


class ServerEndpoint:
    """Where a moalab-server is and how to reach it: URL, TLS context, token header.

    ``token`` defaults to the environment variable ``MOALAB_TOKEN``. With
    ``tls`` the server's certificate is verified against the system's CAs, or
    against ``ca_file`` (a lab's self-signed certificate).
    """

    def __init__(self, server: str, port: int, token: str | None, tls: bool,
                 ca_file: str | None) -> None:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidArgument(f"port={port!r} is not accepted: give the server's TCP port")
        self.server = server.strip("[]")
        self.host = f"[{self.server}]" if ":" in self.server else self.server
        self.port = port
        self.tls = tls or ca_file is not None
        self.ssl_context = ssl.create_default_context(cafile=ca_file) if self.tls else None
        self.token = token or os.environ.get(TOKEN_ENV) or None

    def url(self, scheme: str, path: str = "") -> str:
        """``scheme://host:port/path``, with the secure scheme under TLS."""
        return f"{scheme}{'s' if self.tls else ''}://{self.host}:{self.port}{path}"

    def describe_error(self, exc: BaseException) -> str:
        """The most telling message of a connection error and its causes."""
        while not str(exc) and (exc.__cause__ or exc.__context__) is not None:
            exc = exc.__cause__ or exc.__context__
        return str(exc) or type(exc).__name__

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}
