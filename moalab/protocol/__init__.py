"""Protocols: how a lab packages an experiment to run it for many subjects over many
sessions (Mephisto's blueprints): the Protocol, its sessions and their state, the
runner, the training and screening gates, static and mock protocols, typed
arguments, protocol files, graduation rules, a static protocol's conditions table."""

from .args import ArgType, args_from_dict, args_to_dict, parse_args
from .conditions import load_conditions, next_units, units_left
from .gates import ScreeningRequired, TrainingRequired, TrainingStep, qualification_names
from .graduation import Accuracy, AllOf, AnyOf, GraduationRule, TrialCount
from .loading import load_protocol, load_protocols
from .mock import MockProtocol
from .protocol import NoArgs, Protocol
from .runner import ProtocolRunner, SessionPlan, SubjectRefused
from .session import Session, SessionState
from .static import StaticProtocol

__all__ = (
    "Accuracy",
    "AllOf",
    "AnyOf",
    "ArgType",
    "GraduationRule",
    "MockProtocol",
    "NoArgs",
    "Protocol",
    "ProtocolRunner",
    "ScreeningRequired",
    "Session",
    "SessionPlan",
    "SessionState",
    "StaticProtocol",
    "SubjectRefused",
    "TrainingRequired",
    "TrainingStep",
    "TrialCount",
    "args_from_dict",
    "args_to_dict",
    "load_conditions",
    "load_protocol",
    "load_protocols",
    "next_units",
    "parse_args",
    "qualification_names",
    "units_left",
)
