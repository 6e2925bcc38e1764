"""Errors of an export: a folder that is not one, a key it does not hold."""

import difflib
from collections.abc import Iterable
from pathlib import Path

from ..core.errors import InvalidArgument, MoaError

__all__ = ("NotAnExport", "UnknownExportKey")


class NotAnExport(InvalidArgument):
    """A folder given as an export (``moalab export DIR``'s ``DIR``) that is not one:
    no readable manifest, or one moalab did not write."""


class UnknownExportKey(MoaError, KeyError):
    """A key an export does not hold; the message names the export and close keys.

    A ``KeyError``, so ``Mapping.get`` and ``in`` treat it as a missing key.
    """

    def __init__(self, folder: Path, key: str, known: Iterable[str],
                 reason: str = "") -> None:
        self.folder, self.key = folder, key
        if reason:
            message = f"export {str(folder)!r}: asset {key!r} was not exported: {reason}"
        else:
            close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            message = (f"export {str(folder)!r} has no asset {key!r}{hint} (keys are "
                       "'<subject>/<session>/<local_key>' or 'protocols/<protocol>/<name>', "
                       "without the extension; .keys() lists them)")
        super().__init__(message)

    def __str__(self) -> str:  # KeyError's would show the message quoted, as a repr
        return str(self.args[0])
