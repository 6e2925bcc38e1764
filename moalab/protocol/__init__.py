"""Protocols: how a lab packages an experiment to run it for many subjects over many
sessions (Mephisto's blueprints): typed arguments, protocol files, graduation rules
of training steps, a static protocol's conditions table."""

from .args import ArgType, args_from_dict, args_to_dict, parse_args
from .conditions import load_conditions, next_units, units_left
from .graduation import Accuracy, AllOf, AnyOf, GraduationRule, TrialCount
from .loading import load_protocol, load_protocols

__all__ = (
    "Accuracy",
    "AllOf",
    "AnyOf",
    "ArgType",
    "GraduationRule",
    "TrialCount",
    "args_from_dict",
    "args_to_dict",
    "load_conditions",
    "load_protocol",
    "load_protocols",
    "next_units",
    "parse_args",
    "units_left",
)
