"""The executor that reaches a lab's rig, from its row in the database."""

from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidArgument
from ..executor import ProcessExecutor, RestExecutor, ThreadExecutor, WebSocketExecutor

if TYPE_CHECKING:
    from ..store.infos import RigInfo

__all__ = ("executor_for",)


def executor_for(rig: "RigInfo", **options: Any) -> Any:
    """A new executor for ``rig``: a WebSocketExecutor or RestExecutor to its host and
    port (the token from ``MOALAB_TOKEN`` unless ``options`` give one), a
    ProcessExecutor or a ThreadExecutor; ``options`` go to its constructor.
    Raises :class:`InvalidArgument` for a remote rig without a host."""
    if rig.executor in ("websocket", "rest"):
        if not rig.host:
            raise InvalidArgument(
                f"rig {rig.name!r} has no host: give it one (`moalab rig add {rig.name} "
                f"--executor {rig.executor} --host H --port P`)")
        cls = WebSocketExecutor if rig.executor == "websocket" else RestExecutor
        return cls(rig.host, rig.port or 5000, **options)
    if rig.executor == "process":
        return ProcessExecutor(**options)
    if rig.executor == "thread":
        return ThreadExecutor(**options)
    raise InvalidArgument(f"rig {rig.name!r}: executor kind {rig.executor!r} is not known")
