"""forge: turn blueprints into micro-model bundles (generate, refine, train, export, verify)."""

import os
from importlib import metadata

# numpy picks its SIMD kernels by processor, and AVX-512 sums round differently from AVX2 ones:
# with the same pinned versions, an AVX-512 machine forged a different is_question (8,400 kept
# terms, C = 30) from an AVX2 one (3,500, C = 10). The forge fits with numpy's baseline kernels
# (x86-64-v2 in the PyPI wheels) so that a blueprint forges the same model on every x86-64
# processor. Only takes effect when numpy is not yet imported; a value the user sets wins.
NUMPY_KERNELS = "NPY_DISABLE_CPU_FEATURES"
os.environ.setdefault(NUMPY_KERNELS, "X86_V3 X86_V4 AVX512_ICL AVX512_SPR")

# The OpenBLAS in numpy's and scipy's wheels picks its kernels by processor as well: with numpy
# pinned, an AVX-512 Xeon and an AVX2 EPYC still forged sentiment models with other bits (lbfgs
# steps through BLAS). Where AVX2 and FMA are there, both libraries take the Haswell kernels,
# which every such processor runs; older ones keep their own (OpenBLAS would not check).
BLAS_KERNELS = "OPENBLAS_CORETYPE"


def _runs_haswell_kernels() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:  # not Linux: the default kernels
        return False
    return "avx2" in flags and "fma" in flags


if _runs_haswell_kernels():
    os.environ.setdefault(BLAS_KERNELS, "Haswell")

from cerebellum import __version__ as _runtime_version  # noqa: E402  (after the kernel choice)

try:  # the model-foundry distribution's own version, even beside another runtime's
    __version__ = metadata.version("model-foundry")
except metadata.PackageNotFoundError:  # a source tree on sys.path: one VERSION file serves both
    __version__ = _runtime_version

__all__ = ["__version__"]
