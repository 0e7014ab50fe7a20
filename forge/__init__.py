"""forge: turn blueprints into micro-model bundles (generate, refine, train, export, verify)."""

from importlib import metadata

from cerebellum import __version__ as _runtime_version

try:  # the model-foundry distribution's own version, even beside another runtime's
    __version__ = metadata.version("model-foundry")
except metadata.PackageNotFoundError:  # a source tree on sys.path: one VERSION file serves both
    __version__ = _runtime_version

__all__ = ["__version__"]
