"""forge: turn blueprints into micro-model bundles (generate, refine, train, export, verify)."""

from cerebellum import __version__

__all__ = ["__version__"]
