"""Record sinks: the loggers that write every stage and device change, and memory.

:class:`~moalab.log.hdf5.HDF5Logger` is imported on first use: it needs h5py (the
``data`` extra).
"""

from ..core.lazy import lazy_names
from ..core.loggable import Loggable
from .logger import COLUMNS, LogRow, ObjectLogger, record_rows
from .loggers import MemoryLogger, PythonLogger, SimpleCSVLogger, SimpleTerminalLogger
from .recorder import Recorder
from .sink import MemorySink, RecordSink, TreeSink


__getattr__ = lazy_names(__name__, {"HDF5Logger": "hdf5"})


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
    "HDF5Logger",
)
