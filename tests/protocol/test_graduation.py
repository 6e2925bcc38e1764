"""Graduation rules over the trials recorded so far; bad parameters refused."""

import pickle

import pytest

from moalab import InvalidArgument
from moalab.protocol import Accuracy, AllOf, AnyOf, GraduationRule, TrialCount


def trials(*correct, key="correct"):
    return [{key: value, "rt": 0.3} for value in correct]


def test_accuracy_needs_a_full_window():
    rule = Accuracy(threshold=0.8, window=5)
    assert not rule.passed(trials(1, 1, 1, 1))  # 4 of 4, but fewer than 5 trials
    assert rule.passed(trials(1, 1, 1, 1, 0))  # 4 of 5: 80%
    assert not rule.passed(trials(1, 1, 1, 0, 0))


def test_accuracy_reads_only_the_last_window():
    rule = Accuracy(threshold=0.8, window=5)
    assert rule.passed(trials(0, 0, 0, 0, 0, 1, 1, 1, 1, 1))
    assert not rule.passed(trials(1, 1, 1, 1, 1, 0, 0, 1, 1, 1))


def test_accuracy_at_the_threshold_exactly():
    # 7 of 10 is 70%: counted as correct >= 0.7 * 10 it would be 7 >= 7.000000000000001
    assert Accuracy(threshold=0.7, window=10).passed(trials(*[1] * 7, *[0] * 3))


def test_a_trial_missing_the_key_counts_as_not_correct():
    rule = Accuracy(threshold=1.0, window=3, key="hit")
    assert rule.passed(trials(True, True, True, key="hit"))
    assert not rule.passed([{"hit": True}, {"rt": 0.2}, {"hit": True}])
    assert not rule.passed(trials(True, None, True, key="hit"))


def test_trial_count():
    assert not TrialCount(3).passed(trials(0, 0))
    assert TrialCount(3).passed(trials(0, 0, 0))
    assert TrialCount(1).passed(trials(0))


def test_combinations():
    both = AllOf(TrialCount(4), Accuracy(threshold=0.5, window=2))
    either = AnyOf(TrialCount(4), Accuracy(threshold=0.5, window=2))
    assert not both.passed(trials(1, 1)) and either.passed(trials(1, 1))
    assert both.passed(trials(0, 0, 1, 0)) and either.passed(trials(0, 0, 0, 0))
    assert not either.passed(trials(0, 0, 0))


def test_a_rule_of_ones_own_combines():
    class LastCorrect(GraduationRule):
        def passed(self, trials):
            return bool(trials) and bool(trials[-1].get("correct"))

        def describe(self):
            return "the last trial correct"

    rule = AllOf(TrialCount(2), LastCorrect())
    assert rule.passed(trials(0, 1)) and not rule.passed(trials(1, 0))
    assert rule.describe() == "at least 2 trials and the last trial correct"


def test_descriptions():
    assert Accuracy().describe() == "at least 80% correct over the last 50 trials"
    assert (Accuracy(0.925, 40, key="hit").describe()
            == "at least 92.5% with 'hit' true over the last 40 trials")
    assert TrialCount(1).describe() == "at least 1 trial"
    assert (AnyOf(TrialCount(500), AllOf(TrialCount(100), Accuracy(0.7, 100))).describe()
            == "at least 500 trials or (at least 100 trials and at least 70% correct over "
               "the last 100 trials)")


def test_rules_compare_and_pickle():
    rule = AnyOf(TrialCount(5), Accuracy(0.9, 10))
    assert pickle.loads(pickle.dumps(rule)) == rule
    assert rule != AllOf(TrialCount(5), Accuracy(0.9, 10))
    assert repr(rule) == ("AnyOf(TrialCount(n=5), Accuracy(threshold=0.9, window=10, "
                          "key='correct'))")


@pytest.mark.parametrize("make, pieces", [
    (lambda: Accuracy(threshold=0), ["Accuracy", "threshold=0", "above 0 and at most 1"]),
    (lambda: Accuracy(threshold=80), ["Accuracy", "threshold=80", "0.8 for 80%"]),
    (lambda: Accuracy(threshold=True), ["threshold=True"]),
    (lambda: Accuracy(window=0), ["Accuracy", "window=0", "whole number >= 1"]),
    (lambda: Accuracy(window=2.5), ["window=2.5"]),
    (lambda: Accuracy(key=""), ["Accuracy", "key=''", "name of a trial value"]),
    (lambda: TrialCount(0), ["TrialCount", "n=0", "whole number >= 1"]),
    (lambda: TrialCount("10"), ["TrialCount", "n='10'"]),
    (lambda: AllOf(), ["AllOf", "rules=()", "at least one graduation rule"]),
    (lambda: AnyOf(TrialCount(2), 0.8), ["AnyOf", "rules[1]=0.8", "a graduation rule"]),
])
def test_bad_parameters_are_refused(make, pieces):
    with pytest.raises(InvalidArgument) as info:
        make()
    for piece in pieces:
        assert piece in str(info.value)
