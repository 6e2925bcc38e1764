"""What an export can include, apart from the functions that export (the CLI's
`moalab export` parser needs the choices, not the store and assets they import)."""

__all__ = ("ASSET_CHOICES",)

ASSET_CHOICES = ("experiment", "all", "none")
"""``experiment``: the sessions' recordings; ``all``: and the protocols' stimuli;
``none``: the data only."""
