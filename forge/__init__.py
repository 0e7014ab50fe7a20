"""forge: turn blueprints into micro-model bundles (generate, refine, train, export, verify)."""

from cerebellum import __version__  # one VERSION file for every distribution (tests/test_version.py)

__all__ = ["__version__"]
