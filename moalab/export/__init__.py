"""Export: a lab's data and assets laid out for a paper's supplementary materials
(``moalab export``), and the assets of an earlier export for a follow-up experiment
(:class:`InheritedAssets`).

This package is in the lab layer, beside ``moalab.protocol``: it reads the store and
the asset storage, and nothing above.
"""

from .errors import NotAnExport, UnknownExportKey
from .export import ASSET_CHOICES, ExportSummary, export_lab
from .inherited import InheritedAssets
from .manifest import MANIFEST_NAME
from .nwb import NWBSummary, export_nwb

__all__ = (
    "ASSET_CHOICES",
    "MANIFEST_NAME",
    "ExportSummary",
    "InheritedAssets",
    "NWBSummary",
    "NotAnExport",
    "UnknownExportKey",
    "export_lab",
    "export_nwb",
)
