"""The gates before a protocol's main sessions: training and screening (Mephisto's
OnboardingRequired and ScreenTaskRequired mixins).

Mix them into a :class:`~moalab.protocol.Protocol` subclass, before it:
``class SugarPellet(TrainingRequired, ScreeningRequired, Protocol)``. The
:class:`~moalab.protocol.runner.ProtocolRunner` reads them when it plans a
subject's next session; what a subject has passed lives in the lab's database
as qualifications (:func:`qualification_names`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..core.errors import InvalidArgument
from ..stage.stage import MoaStage
from .graduation import GraduationRule

if TYPE_CHECKING:
    from .session import Session

__all__ = ("TrainingStep", "TrainingRequired", "ScreeningRequired", "Qualifications",
           "qualification_names")


@dataclass(frozen=True)
class TrainingStep:
    """One step of training: its name and the rule over the trials recorded at this
    step (all the subject's sessions at it) that graduates the subject to the next."""

    name: str
    graduation: GraduationRule


@dataclass(frozen=True)
class Qualifications:
    """The qualification names a protocol keeps for each subject."""

    trained: str
    step: str
    screened: str


def qualification_names(protocol_name: str) -> Qualifications:
    """``<name>-trained`` (1 passed, 0 failed), ``<name>-training-step`` (the step a
    subject is at) and ``<name>-screened`` (1 passed, 0 failed)."""
    return Qualifications(f"{protocol_name}-trained", f"{protocol_name}-training-step",
                          f"{protocol_name}-screened")


class TrainingRequired:
    """A subject without the protocol's ``-trained`` qualification runs training first.

    Training is :attr:`training_steps`, in order, each with its graduation rule,
    checked at each trial's end; a graduating trial ends the session, and the
    subject's next session starts at the next step. After the last step,
    :meth:`~moalab.protocol.Protocol.validate_training` (given the session's
    state data) grants the qualification (1) or records its failure (0: the
    subject is turned away until ``moalab subject requalify``).
    """

    training_steps: ClassVar[Sequence[TrainingStep]] = ()

    def build_training_tree(self, session: "Session", step: TrainingStep) -> MoaStage:
        """The tree of a training session at ``step``. Subclasses define it."""
        raise NotImplementedError(
            f"{type(self).__name__} requires training but defines no build_training_tree")

    @classmethod
    def check_training(cls) -> None:
        """Raise :class:`InvalidArgument` unless the training steps are usable."""
        steps = cls.training_steps
        if not steps or not all(isinstance(step, TrainingStep) for step in steps):
            raise InvalidArgument(
                f"protocol class {cls.__qualname__} requires training: give training_steps, "
                "a list of TrainingStep(name, graduation_rule)")


class ScreeningRequired:
    """A subject's first session of the protocol is a screening session.

    It runs :meth:`build_screening_tree` (the real tree by default: override it
    for screening conditions of your own), and at its end
    :meth:`validate_screening` (given the session's state data) grants the
    ``-screened`` qualification (1) or records its failure (0). At most
    :attr:`max_screening_sessions` screening sessions are held (the count lives
    in the database); an abandoned one frees its place. Training, if the
    protocol requires it, comes first, and does not spare the screening.
    """

    max_screening_sessions: ClassVar[int] = 0

    def validate_screening(self, data: Any) -> bool:
        """Whether a screening session passed; default: yes."""
        return True

    def build_screening_tree(self, session: "Session") -> MoaStage:
        """The tree of a screening session: the protocol's own by default."""
        return self.build_tree(session)  # type: ignore[attr-defined]

    @classmethod
    def check_screening(cls) -> None:
        """Raise :class:`InvalidArgument` unless :attr:`max_screening_sessions` is usable."""
        cap = cls.max_screening_sessions
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
            raise InvalidArgument(
                f"protocol class {cls.__qualname__} requires screening: "
                f"max_screening_sessions={cap!r} is not accepted; give a whole number >= 1")
