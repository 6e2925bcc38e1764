"""Protocol: an experiment packaged to run for many subjects (Mephisto's Blueprint).

A protocol names itself and its version, declares its typed ``Args`` (a
dataclass), the devices and executors a session uses on its rig, and builds
the stage tree of a session. Its hooks are Mephisto's SharedTaskState hooks:
:meth:`Protocol.validate_training`, :meth:`Protocol.subject_can_run`,
:meth:`Protocol.on_session_submitted`. The gates a subject passes before the
main protocol (training, screening) are mixins: :mod:`moalab.protocol.gates`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, is_dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..core.errors import InvalidArgument
from ..network import Network, Node
from ..stage.stage import MoaStage

if TYPE_CHECKING:
    from ..assets import Asset, AssetStorage
    from ..store.database import SubjectInfo
    from .session import Session

__all__ = ("Protocol", "NoArgs", "check_protocol_class")


@dataclass
class NoArgs:
    """The arguments of a protocol that takes none."""


class Protocol:
    """An experiment a lab runs for many subjects, one session at a time.

    Subclasses set :attr:`name` (how sessions name the protocol), :attr:`version`
    (a whole number: raise it when the tree changes meaning) and :attr:`Args` (a
    dataclass; ``--arg KEY=VALUE`` is parsed by its fields' types), and
    implement :meth:`build_tree`. A protocol instance is made for each session.
    """

    name: ClassVar[str] = ""
    """How sessions name the protocol (in the lab's database, and in ``moalab session
    list``)."""

    version: ClassVar[int] = 1
    """A whole number kept with each session: raise it when the tree changes meaning."""

    Args: ClassVar[type] = NoArgs
    """The protocol's arguments: a dataclass whose fields' types read ``--arg
    KEY=VALUE`` (see :func:`~moalab.protocol.parse_args`); ``session.args`` is an
    instance of it. :class:`NoArgs` by default."""

    assets: ClassVar[Mapping[str, "Asset"]] = {}
    """The files a session uses, by name (``{"tone": CachedFunctionAsset(...)}``): made
    local before the tree is built, reached as ``session.assets["tone"]``."""
    storage: ClassVar["str | AssetStorage | None"] = None
    """Where this protocol's assets are stored: None for the lab's (its config's
    ``[assets] storage``), else a storage line or an AssetStorage (see
    :func:`~moalab.assets.open_storage`)."""

    practice_repeats: ClassVar[int] = 0
    experiment_repeats: ClassVar[int] = 1
    """With :meth:`create_network`: how many networks of each role the lab makes for
    this protocol, once (its first session makes them)."""

    def devices(self, session: "Session") -> Sequence[Any]:
        """The devices this session uses (on its rig): pumped and recorded by the run."""
        return ()

    def executors(self, session: "Session") -> Sequence[Any]:
        """The executors this session's devices run in (entered for the run): by
        default the one that reaches the session's rig, if it has one."""
        return () if session.executor is None else (session.executor,)

    def build_tree(self, session: "Session") -> MoaStage:
        """The stage tree of ``session``: read ``session.args``, ``.subject``, ``.rig``,
        ``.state`` and ``.trials`` (the trials of an earlier, interrupted run of the
        same session too, so a resumed session continues where it stopped)."""
        raise NotImplementedError(f"protocol {self.name!r} does not define build_tree")

    def init_data(self, session: "Session") -> Any:
        """The initial state of a new session (``SessionState.set_init_state``); None
        by default."""
        return None

    # ------------------------------------------------------------ networks

    def create_network(self) -> Network | None:
        """A new network for this protocol's subjects (e.g. ``Chain(max_size=5)``, in
        memory: the lab keeps a copy, its role set by the repeat); None (the default)
        for a protocol without networks. With one, each main session takes a node
        (``session.node``) in the first network of the protocol that is not full,
        practice ones first, never two in one network."""
        return None

    def create_node(self, session: "Session", network: Network) -> Node:
        """The node ``session``'s subject takes in ``network`` (not yet added); by
        default a plain :class:`~moalab.network.Node` of the subject."""
        return Node(participant=session.subject.name)

    def add_node_to_network(self, node: Node, network: Network) -> None:
        """Put ``node`` in ``network`` (its topology connects it), then have each node
        it receives from transmit to it what it made (a source: a new info), so the
        session finds its stimuli in ``session.node.receive()``. In a worker thread."""
        network.add(node)
        for parent in node.neighbors(direction="from"):
            parent.transmit(to_whom=node)

    # -------------------------------------------------------------- hooks

    def subject_can_run(self, subject: "SubjectInfo") -> bool:
        """Whether ``subject`` may run this protocol at all (default: yes)."""
        return True

    def validate_training(self, data: Any) -> bool:
        """Whether a subject's training (its last training session's state data)
        passed; default: yes. Called once its last training step has graduated."""
        return True

    def on_session_submitted(self, session: "Session") -> None:
        """Called after a session ended as submitted (post-processing); an exception
        here is recorded on the session, and its cleanup still runs."""


def check_protocol_class(cls: type) -> type:
    """Return ``cls`` if it is a usable protocol class, else raise
    :class:`InvalidArgument` naming what is wrong."""
    if not (isinstance(cls, type) and issubclass(cls, Protocol)):
        raise InvalidArgument(f"{cls!r} is not a Protocol subclass")
    where = f"protocol class {cls.__qualname__}"
    if not isinstance(cls.name, str) or not cls.name:
        raise InvalidArgument(f"{where} has no name: set `name = \"my-protocol\"` on it")
    if not isinstance(cls.version, int) or isinstance(cls.version, bool) or cls.version < 1:
        raise InvalidArgument(
            f"{where}: version={cls.version!r} is not accepted; give a whole number >= 1")
    for repeats in ("practice_repeats", "experiment_repeats"):
        value = getattr(cls, repeats)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidArgument(
                f"{where}: {repeats}={value!r} is not accepted; give a whole number >= 0")
    if not is_dataclass(cls.Args):
        raise InvalidArgument(
            f"{where}: Args={cls.Args!r} is not a dataclass; decorate it with @dataclass")
    return cls
