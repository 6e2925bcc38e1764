"""Base classes the protocol files of tests/protocol/test_loading.py subclass (the
lead's Protocol plays this part in the lab)."""

from abc import ABC, abstractmethod


class Base:
    """Stands for moalab's Protocol."""


class AbstractBase(Base, ABC):
    """A base for other protocols in a file: abstract, so not a protocol itself."""

    @abstractmethod
    def build_tree(self): ...


class Imported(Base):
    """A protocol a file imports: not one it defines."""
