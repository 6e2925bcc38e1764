"""Export: a lab's data and assets laid out for a paper's supplementary materials
(``moalab export``), and the assets of an earlier export for a follow-up experiment
(:class:`InheritedAssets`).

This package is in the lab layer, beside ``moalab.protocol``: it reads the store and
the asset storage, and nothing above.
"""

from ..core.lazy import lazy_names

_MODULES = {
    "ASSET_CHOICES": "options",
    "MANIFEST_NAME": "manifest",
    "ExportSummary": "export",
    "InheritedAssets": "inherited",
    "NWBSummary": "nwb",
    "NotAnExport": "errors",
    "UnknownExportKey": "errors",
    "export_lab": "export",
    "export_nwb": "nwb",
}
"""Each public name and the module of this package holding it, imported on first use
(the lab's store and the asset storage are imported only by what needs them)."""


__getattr__ = lazy_names(__name__, _MODULES)


__all__ = tuple(_MODULES)
