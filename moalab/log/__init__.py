"""Record sinks: the loggers that write every stage and device change, and memory."""

from ..core.loggable import Loggable
from .logger import COLUMNS, LogRow, ObjectLogger, record_rows
from .loggers import MemoryLogger, PythonLogger, SimpleCSVLogger, SimpleTerminalLogger
from .recorder import Recorder
from .sink import MemorySink, RecordSink, TreeSink

__all__ = (
    "Loggable",
    "RecordSink",
    "MemorySink",
    "TreeSink",
    "Recorder",
    "record_rows",
    "COLUMNS",
    "LogRow",
    "ObjectLogger",
    "SimpleCSVLogger",
    "SimpleTerminalLogger",
    "PythonLogger",
    "MemoryLogger",
)
