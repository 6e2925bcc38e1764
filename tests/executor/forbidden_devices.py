"""A device class in a module moalab-server is not told to allow."""

from moalab import Device
from moalab.executor import apply_executor


class ForbiddenProbe(Device):
    @apply_executor
    def echo(self, x):
        return x
