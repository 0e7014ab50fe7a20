"""forge: turn blueprints into micro-model bundles (generate, refine, train, export, verify)."""

__version__ = "0.1.0"
