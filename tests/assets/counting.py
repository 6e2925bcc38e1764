"""A real LocalStorage that counts what it transfers, for tests of "nothing moved"."""

from moalab.assets import LocalStorage


class CountingStorage(LocalStorage):
    """A LocalStorage that counts the objects it writes and reads."""

    def __init__(self, folder):
        super().__init__(folder)
        self.writes = self.reads = 0

    def _write(self, key, source, if_absent):
        wrote = super()._write(key, source, if_absent)
        self.writes += wrote
        return wrote

    def _read(self, key, target):
        self.reads += 1
        super()._read(key, target)
