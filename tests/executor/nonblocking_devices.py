"""A device with non-blocking methods (``apply_executor(blocking=False)``), for the
tests of how a server and a process executor's child run them; importable there
(``moalab-server --allow tests.executor.nonblocking_devices``, a ProcessExecutor
child)."""

import threading
import time
from typing import Any

import trio

from moalab import Device
from moalab.executor import apply_executor

from .devices import ProbeError


def _where() -> tuple[str, bool]:
    return threading.current_thread().name, trio.lowlevel.in_trio_run()


class Pin(Device):
    """Records the calls it gets, in the order they ran, and where they ran."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[Any] = []

    @apply_executor(blocking=False)
    def where(self) -> tuple[str, bool]:
        return _where()

    @apply_executor
    def where_by_default(self) -> tuple[str, bool]:
        return _where()

    @apply_executor(blocking=False)
    def write(self, tag: Any) -> Any:
        self.calls.append(tag)
        return tag

    @apply_executor
    def slow_write(self, tag: Any, seconds: float) -> Any:
        time.sleep(seconds)
        self.calls.append(tag)
        return tag

    @apply_executor(blocking=False)
    def fail(self) -> None:
        raise ProbeError("the pin failed on purpose")

    @apply_executor
    def get_calls(self) -> list[Any]:
        return list(self.calls)
