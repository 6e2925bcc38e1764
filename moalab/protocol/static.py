"""StaticProtocol: one tree template and a table of conditions (Mephisto's StaticBlueprint)."""

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..stage.stage import MoaStage
from .conditions import load_conditions
from .protocol import Protocol

if TYPE_CHECKING:
    from .session import Session

__all__ = ("StaticProtocol",)


class StaticProtocol(Protocol):
    """A protocol whose sessions work through a table of conditions, in order.

    :attr:`conditions` is a CSV or JSON file (relative to the protocol's own file),
    a list of dicts, or a function returning an iterable of dicts; CSV cells are
    typed by :attr:`schema` (column name -> type). Each row is a unit: a session
    takes the next :attr:`units_per_session` rows (``session.units``) and
    :meth:`build_unit` makes a stage for each; a unit whose stage ends done is
    recorded as one trial holding its row (and ``unit``, its row's index). When
    every row is done the protocol refuses the subject: it is complete.
    """

    conditions: ClassVar[Any] = None
    schema: ClassVar[Mapping[str, type] | None] = None
    units_per_session: ClassVar[int] = 10

    def build_unit(self, session: "Session", unit: dict[str, Any]) -> MoaStage:
        """The stage of one unit (a row of the table). Subclasses define it."""
        raise NotImplementedError(f"static protocol {self.name!r} does not define build_unit")

    @classmethod
    def load_table(cls) -> list[dict[str, Any]]:
        """The table of conditions, typed and checked (see :func:`load_conditions`)."""
        source = cls.conditions() if callable(cls.conditions) else cls.conditions
        if isinstance(source, (str, Path)):
            source = Path(inspect.getfile(cls)).parent / source
        return load_conditions(source, cls.schema)

    def build_tree(self, session: "Session") -> MoaStage:
        """The session's units in order; on a resume, those not recorded yet."""
        root = MoaStage(name=self.name)
        first = session.units_done
        for offset, unit in enumerate(session.units):
            if offset < len(session.trials):
                continue  # recorded before this session was interrupted
            stage = self.build_unit(session, unit)
            values = {**unit, "unit": first + offset}
            stage.fbind("on_stage_end", _record_unit, session, values)
            root.add_stage(stage)
        return root


def _record_unit(session: "Session", values: dict[str, Any], stage: MoaStage) -> None:
    if stage.outcome == "done":
        session.record_trial(**values)
