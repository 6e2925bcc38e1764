"""A session's log read back from its data folder: the rows of its CSV log with their
times as seconds from the session's start."""

import csv
import datetime
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InvalidArgument

__all__ = ("LoggedRow", "SessionLog", "read_session_log")


@dataclass(frozen=True)
class LoggedRow:
    """One logged value; ``time`` in seconds from :attr:`SessionLog.started_at`."""

    time: float
    name: str
    trigger: str
    item: str
    value: str


@dataclass
class SessionLog:
    """A session's log: ``started_at`` (UTC) is the wall time of its first run's start,
    ``start_time`` the experiment clock's reading then; ``rows`` in the logged order."""

    started_at: datetime.datetime | None = None
    start_time: float = 0.0
    rows: list[LoggedRow] = field(default_factory=list)

    def seconds(self, timestamp: float) -> float:
        """An experiment-clock ``timestamp`` of the first run as seconds from its start."""
        return timestamp - self.start_time


def read_session_log(path: Path) -> SessionLog:
    """Read the CSV log at ``path`` (SimpleCSVLogger's format); a missing file is an
    empty log. A resumed session's later runs (their own origin lines) are placed by
    their wall start time. Raises InvalidArgument naming the file and line of a row
    that is not one."""
    log = SessionLog()
    if not path.exists():
        return log
    offset = 0.0  # the current run's start from the first run's, in seconds
    run_start = 0.0
    with open(path, newline="", encoding="utf-8") as file:
        for number, row in enumerate(csv.reader(file), 1):
            if number == 1 or not row:
                continue
            if row[0].startswith("#"):
                key, _, value = row[0][1:].partition(":")
                key, value = key.strip(), value.strip()
                if key == "started_at":
                    started = datetime.datetime.fromisoformat(value).astimezone(
                        datetime.UTC)
                    if log.started_at is None:
                        log.started_at = started
                    offset = (started - log.started_at).total_seconds()
                elif key == "start_time":
                    run_start = float(value)
                    if offset == 0.0:
                        log.start_time = run_start
                continue
            if len(row) != 6:
                # a row cut short by a crash: the log ends there
                break
            try:
                time = float(row[1]) - run_start + offset
            except ValueError:
                raise InvalidArgument(
                    f"log {str(path)!r} line {number}: timestamp {row[1]!r} is not a number "
                    "(expected index,timestamp,name,trigger,item,value)") from None
            log.rows.append(LoggedRow(time, row[2], row[3], row[4], row[5]))
    return log
