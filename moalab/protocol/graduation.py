"""Graduation rules of training steps (as Autopilot's): when a subject has learned a
step, judged from the trials recorded so far.

A rule is a pure function of the trials, in order, each the mapping of values given
to ``session.record_trial``; it is checked at each trial's end. A trial without the
rule's key (or with a false value) counts as not correct.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..core.arguments import NUMBER, Accepts, check_value

__all__ = ("Accuracy", "AllOf", "AnyOf", "GraduationRule", "TrialCount")

Trials = Sequence[Mapping[str, Any]]

_FRACTION = Accepts(lambda v: NUMBER.test(v) and 0 < v <= 1,
                    "a fraction above 0 and at most 1, such as 0.8 for 80%")
_KEY = Accepts(lambda v: isinstance(v, str) and bool(v),
               "the name of a trial value, such as 'correct'")
# int only: a window of 50.0 trials would not slice
_COUNT = Accepts(lambda v: type(v) is int and v >= 1, "a whole number >= 1")
_RULE_WORDS = "graduation rule (Accuracy, TrialCount, AllOf, AnyOf or a GraduationRule)"
# duck-typed, as a rule the runner checks: passed(trials) and describe() are all it needs
_RULE = Accepts(lambda v: callable(getattr(v, "passed", None))
                and callable(getattr(v, "describe", None)), f"a {_RULE_WORDS}")


class GraduationRule(ABC):
    """When a training step is learned. A rule of one's own subclasses this (or just
    has these two methods)."""

    @abstractmethod
    def passed(self, trials: Trials) -> bool:
        """Whether ``trials`` (all recorded so far, in order) meet the rule."""

    @abstractmethod
    def describe(self) -> str:
        """The rule in a few words, for messages: ``at least 50 trials``."""


@dataclass(frozen=True)
class Accuracy(GraduationRule):
    """At least ``threshold`` of the last ``window`` trials have a true ``key``; with
    fewer than ``window`` trials, not yet.

    Raise :class:`~moalab.InvalidArgument` for a threshold outside (0, 1], a window
    that is not a whole number >= 1, or a key that is not a non-empty str.
    """

    threshold: float = 0.8
    window: int = 50
    key: str = "correct"

    def __post_init__(self) -> None:
        check_value(self, "threshold", self.threshold, _FRACTION)
        check_value(self, "window", self.window, _COUNT)
        check_value(self, "key", self.key, _KEY)

    def passed(self, trials: Trials) -> bool:
        if len(trials) < self.window:
            return False
        correct = sum(1 for trial in trials[-self.window:] if trial.get(self.key))
        # a ratio, not correct >= threshold * window: 0.7 * 10 is 7.000000000000001
        return correct / self.window >= self.threshold

    def describe(self) -> str:
        what = "correct" if self.key == "correct" else f"with {self.key!r} true"
        return f"at least {self.threshold * 100:g}% {what} over the last {self.window} trials"


@dataclass(frozen=True)
class TrialCount(GraduationRule):
    """At least ``n`` trials recorded; raise :class:`~moalab.InvalidArgument` unless
    ``n`` is a whole number >= 1."""

    n: int

    def __post_init__(self) -> None:
        check_value(self, "n", self.n, _COUNT)

    def passed(self, trials: Trials) -> bool:
        return len(trials) >= self.n

    def describe(self) -> str:
        return f"at least {self.n} trial{'s' if self.n != 1 else ''}"


@dataclass(frozen=True, init=False, repr=False)
class _Combination(GraduationRule):
    """Rules joined by ``_word``; raise :class:`~moalab.InvalidArgument` for no rules
    or one that is not a :class:`GraduationRule`."""

    rules: tuple[GraduationRule, ...]
    _word: ClassVar[str] = ""

    def __init__(self, *rules: GraduationRule) -> None:
        check_value(self, "rules", rules, Accepts(bool, f"at least one {_RULE_WORDS}"))
        for index, rule in enumerate(rules):
            check_value(self, f"rules[{index}]", rule, _RULE)
        object.__setattr__(self, "rules", rules)  # frozen

    def describe(self) -> str:
        parts = [f"({rule.describe()})" if isinstance(rule, _Combination) else rule.describe()
                 for rule in self.rules]
        return f" {self._word} ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.rules))})"


class AllOf(_Combination):
    """Passed when every one of ``rules`` is."""

    _word = "and"

    def passed(self, trials: Trials) -> bool:
        return all(rule.passed(trials) for rule in self.rules)


class AnyOf(_Combination):
    """Passed when at least one of ``rules`` is."""

    _word = "or"

    def passed(self, trials: Trials) -> bool:
        return any(rule.passed(trials) for rule in self.rules)
