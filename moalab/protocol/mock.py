"""MockProtocol: a small protocol for tests (Mephisto's MockBlueprint)."""

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..stage.stage import MoaStage
from .protocol import Protocol

if TYPE_CHECKING:
    from .session import Session

__all__ = ("MockProtocol",)


@dataclass
class MockArgs:
    """The arguments of :class:`~moalab.protocol.MockProtocol` (``--arg KEY=VALUE``)."""

    n_trials: int = 5
    """How many trials the session runs (a resumed one runs those left)."""
    trial_duration: float = 1.0
    """Seconds each trial lasts."""
    fail_at: int = -1
    """The trial index whose end raises RuntimeError (-1: none)."""


class _MockTrial(MoaStage):
    """A trial: waits ``duration``, records ``correct`` (every other trial) and its index."""

    def __init__(self, session: "Session", duration: float, fail_at: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.duration = duration
        self.fail_at = fail_at

    async def do_trial(self) -> None:
        await self.sleep(self.duration)
        index = len(self.session.trials)
        if index == self.fail_at:
            raise RuntimeError(f"mock trial {index} failed")
        self.session.record_trial(trial=index, correct=index % 2 == 0)


class MockProtocol(Protocol):
    """Runs ``n_trials`` trials of ``trial_duration`` seconds, each recorded; a resumed
    session runs only the trials not recorded yet. No devices. Its init state is a
    random token, so a test can tell whether a resume set it again."""

    name = "mock"
    version = 1
    Args = MockArgs
    """:class:`~moalab.protocol.mock.MockArgs`: ``n_trials``, ``trial_duration``,
    ``fail_at``."""

    def init_data(self, session: "Session") -> dict[str, str]:
        return {"token": secrets.token_hex(8)}

    def build_tree(self, session: "Session") -> MoaStage:
        args = session.args
        left = max(args.n_trials - len(session.trials), 0)
        root = MoaStage(name="mock")
        root.add_stage(_MockTrial(session, args.trial_duration, args.fail_at, name="trial",
                                  repeat=left))
        return root
