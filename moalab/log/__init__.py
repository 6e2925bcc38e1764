"""Logging: loggers that record every stage and device change."""

from ..core.loggable import Loggable
from .logger import COLUMNS, LogRow, ObjectLogger
from .loggers import MemoryLogger, PythonLogger, SimpleCSVLogger, SimpleTerminalLogger

__all__ = (
    "Loggable",
    "COLUMNS",
    "LogRow",
    "ObjectLogger",
    "SimpleCSVLogger",
    "SimpleTerminalLogger",
    "PythonLogger",
    "MemoryLogger",
)
