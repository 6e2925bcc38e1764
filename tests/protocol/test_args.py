"""A protocol's Args: KEY=VALUE pairs parsed by the fields' types, refused with the
field, the value and the type named; the JSON form a resumed session is rebuilt from."""

from __future__ import annotations  # string annotations: parse_args must resolve them

import datetime
import enum
import json
import pathlib
from dataclasses import dataclass, field
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moalab import InvalidArgument
from moalab.protocol import ArgType, args_from_dict, args_to_dict, parse_args


class Side(enum.Enum):
    left = 1
    right = 2


@dataclass
class Args:
    n_trials: int = 20
    iti_min: float = 20.0
    rewarded: bool = True
    label: str = "pellet"
    weight: float | None = None
    doses: list[int] = field(default_factory=list)
    mode: Literal["fixed", "random"] = "fixed"
    side: Side = Side.left
    out: pathlib.Path = pathlib.Path("data")
    started: datetime.date = datetime.date(2026, 1, 1)


@dataclass
class Required:
    subject_weight: float
    n_trials: int = 3


def test_defaults_when_nothing_is_given():
    assert parse_args(Args, []) == Args()


def test_each_type_is_parsed_from_its_text():
    args = parse_args(Args, [
        "n_trials=30", "iti_min=2.5", "rewarded=No", "label=a=b", "weight=none",
        "doses=1, 2,3", "mode=random", "side=right", "out=/tmp/run", "started=2026-12-01",
    ])
    assert args == Args(30, 2.5, False, "a=b", None, [1, 2, 3], "random", Side.right,
                        pathlib.Path("/tmp/run"), datetime.date(2026, 12, 1))


@pytest.mark.parametrize("text, value", [
    ("true", True), ("TRUE", True), ("yes", True), ("Yes", True), ("1", True),
    ("false", False), ("False", False), ("no", False), ("NO", False), ("0", False),
])
def test_bool_words(text, value):
    assert parse_args(Args, [f"rewarded={text}"]).rewarded is value


def test_optional_none_and_value_enum_by_value_empty_list():
    args = parse_args(Args, ["weight=21.5", "side=2", "doses="])
    assert (args.weight, args.side, args.doses) == (21.5, Side.right, [])
    assert parse_args(Args, ["weight=None"]).weight is None


@pytest.mark.parametrize("pair, pieces", [
    ("n_trials=abc", ["field n_trials", "'abc'", "int", "whole number"]),
    ("n_trials=2.5", ["field n_trials", "'2.5'", "int"]),
    ("iti_min=fast", ["field iti_min", "'fast'", "float", "number"]),
    ("iti_min=nan", ["field iti_min", "'nan'", "float"]),
    ("rewarded=maybe", ["field rewarded", "'maybe'", "bool", "true or false"]),
    ("weight=heavy", ["field weight", "'heavy'", "float | None", "or none"]),
    ("doses=1,x,3", ["field doses", "'1,x,3'", "list[int]", "item 2, 'x'"]),
    ("mode=sometimes", ["field mode", "'sometimes'", "Literal['fixed', 'random']",
                        "one of fixed, random"]),
    ("side=up", ["field side", "'up'", "Side", "left, right", "1, 2"]),
    ("out=", ["field out", "''", "Path"]),
    ("started=2026-13-01", ["field started", "'2026-13-01'", "date", "ISO date"]),
])
def test_a_bad_value_names_field_value_and_type(pair, pieces):
    with pytest.raises(InvalidArgument) as info:
        parse_args(Args, [pair])
    for piece in pieces:
        assert piece in str(info.value)


def test_an_unknown_key_names_close_matches():
    with pytest.raises(InvalidArgument, match=r"unknown argument n_trial='3'; did you mean "
                                               r"n_trials\?"):
        parse_args(Args, ["n_trial=3"])


def test_an_unknown_key_without_close_match_lists_the_fields():
    with pytest.raises(InvalidArgument, match="unknown argument zzz='3'; Args accepts "
                                               "n_trials, iti_min, rewarded"):
        parse_args(Args, ["zzz=3"])


@pytest.mark.parametrize("pair", ["n_trials", "=3", ""])
def test_a_pair_without_key_or_equals_is_refused(pair):
    with pytest.raises(InvalidArgument, match=f"argument {pair!r} is not KEY=VALUE"):
        parse_args(Args, [pair])


def test_a_repeated_key_is_refused_naming_both_values():
    with pytest.raises(InvalidArgument, match=r"n_trials given twice \(n_trials='3' and "
                                               r"n_trials='4'\)"):
        parse_args(Args, ["n_trials=3", "n_trials=4"])


def test_a_missing_field_without_default_is_named():
    with pytest.raises(InvalidArgument, match="no value for subject_weight, which has no "
                                               "default"):
        parse_args(Required, ["n_trials=4"])
    assert parse_args(Required, ["subject_weight=21"]) == Required(21.0)


def test_an_unsupported_field_type_is_named():
    @dataclass
    class Bad:
        table: dict[str, int]

    with pytest.raises(InvalidArgument, match=r"Bad field table: type dict\[str, int\] is "
                                               "not supported; use int, float"):
        parse_args(Bad, [])


@pytest.mark.parametrize("annotation", [int | str, list[list[int]], tuple[int, int], set])
def test_types_that_cannot_be_read_from_one_text_are_refused(annotation):
    with pytest.raises(InvalidArgument, match="is not supported"):
        ArgType.of(annotation)


def test_not_a_dataclass_is_refused():
    with pytest.raises(InvalidArgument, match="give a dataclass"):
        parse_args(dict, [])


def test_a_value_error_of_post_init_is_an_invalid_argument():
    @dataclass
    class Checked:
        low: float = 1.0
        high: float = 2.0

        def __post_init__(self):
            if self.low > self.high:
                raise ValueError(f"low={self.low} is above high={self.high}")

    with pytest.raises(InvalidArgument, match="Checked: low=3.0 is above high=2.0"):
        parse_args(Checked, ["low=3"])


# ----------------------------------------------------------------- JSON form


def test_json_round_trip():
    args = Args(30, 2.5, False, "x", 3.0, [4, 5], "random", Side.right,
                pathlib.Path("/tmp/a b"), datetime.date(2026, 12, 1))
    stored = json.loads(json.dumps(args_to_dict(args)))
    assert stored["side"] == "right" and stored["out"] == "/tmp/a b"
    assert stored["started"] == "2026-12-01"
    assert args_from_dict(Args, stored) == args


def test_a_stored_value_that_no_longer_fits_is_named():
    stored = args_to_dict(Args())
    with pytest.raises(InvalidArgument, match=r"Args field n_trials \(stored\): '20' \(str\) "
                                               "does not fit int"):
        args_from_dict(Args, {**stored, "n_trials": "20"})
    with pytest.raises(InvalidArgument, match="field side .*'up'.* does not fit Side"):
        args_from_dict(Args, {**stored, "side": "up"})
    with pytest.raises(InvalidArgument, match="field rewarded .*1 .*does not fit bool"):
        args_from_dict(Args, {**stored, "rewarded": 1})


def test_a_stored_field_the_class_no_longer_has_is_named():
    with pytest.raises(InvalidArgument, match="stored argument n_pellets is no field"):
        args_from_dict(Args, {"n_pellets": 3})


def test_a_field_added_since_takes_its_default_one_without_is_named():
    assert args_from_dict(Args, {"n_trials": 7}) == Args(n_trials=7)
    with pytest.raises(InvalidArgument, match="no value for subject_weight"):
        args_from_dict(Required, {"n_trials": 2})


def test_to_dict_refuses_a_value_that_does_not_fit_its_field():
    with pytest.raises(InvalidArgument, match="field n_trials: 'many'"):
        args_to_dict(Args(n_trials="many"))


# --------------------------------------------------------------- properties

_values = st.fixed_dictionaries({
    "n_trials": st.integers(),
    "iti_min": st.floats(allow_nan=False),
    "rewarded": st.booleans(),
    "label": st.text(),
    "weight": st.none() | st.floats(allow_nan=False, allow_infinity=False),
    "doses": st.lists(st.integers()),
    "mode": st.sampled_from(["fixed", "random"]),
    "side": st.sampled_from(Side),
    "out": st.text(st.characters(blacklist_characters="\0"), min_size=1).map(pathlib.Path),
    "started": st.dates(),
})


@given(_values)
def test_json_round_trip_property(values):
    args = Args(**values)
    assert args_from_dict(Args, json.loads(json.dumps(args_to_dict(args)))) == args


def _text(value):
    """The text a user types for ``value``."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, Side):
        return value.name
    if isinstance(value, datetime.date):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


@given(_values)
def test_parse_round_trip_property(values):
    pairs = [f"{key}={_text(value)}" for key, value in values.items()]
    assert parse_args(Args, pairs) == Args(**values)
