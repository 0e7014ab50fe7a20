"""The forge fits with numpy's baseline SIMD kernels and one OpenBLAS kernel set, whatever the processor offers."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from forge import BLAS_KERNELS, NUMPY_KERNELS, _runs_haswell_kernels
from tests.forge_builtins import REPO

DISPATCHED = (
    "from numpy._core._multiarray_umath import __cpu_dispatch__ as d, __cpu_features__ as f; "
    "print(json.dumps(sorted(x for x in d if f[x])))"
)

BLAS = (
    "import os, scipy.linalg; from threadpoolctl import threadpool_info; "
    "print(json.dumps([os.environ.get('OPENBLAS_CORETYPE'), "
    "*sorted(i['architecture'] for i in threadpool_info() if i['internal_api'] == 'openblas')]))"
)

pytestmark = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"), reason="the forge pins x86-64 kernel levels"
)


def _reported(first: str, variable: str, chosen: str | None, report: str) -> list[str]:
    """What ``report`` prints in a fresh interpreter that imports ``first``, then numpy, with
    ``variable`` set to ``chosen`` (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != variable}
    if chosen is not None:
        env[variable] = chosen
    code = f"import json, {first}, numpy; {report}"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _dispatched(first: str, chosen: str | None) -> list[str]:
    """The SIMD targets numpy dispatches to."""
    return _reported(first, NUMPY_KERNELS, chosen, DISPATCHED)


def _blas(first: str, chosen: str | None) -> list[str]:
    """The kernel choice, then the kernel sets of numpy's and scipy's OpenBLAS (a Zen
    processor takes Haswell's kernels unasked)."""
    return _reported(first, BLAS_KERNELS, chosen, BLAS)


def test_importing_the_forge_first_leaves_numpy_on_its_baseline_kernels() -> None:
    assert _dispatched("forge", None) == []


def test_a_kernel_choice_the_user_made_wins() -> None:
    assert _dispatched("forge", "AVX512_SPR") == _dispatched("json", "AVX512_SPR")


@pytest.mark.skipif(not _runs_haswell_kernels(), reason="this processor lacks AVX2 or FMA")
def test_importing_the_forge_first_gives_numpy_and_scipy_the_haswell_blas_kernels() -> None:
    assert _blas("forge", None) == ["Haswell", "Haswell", "Haswell"]


def test_a_blas_choice_the_user_made_wins() -> None:
    chosen = _blas("forge", "Prescott")
    assert chosen == _blas("json", "Prescott")
    assert chosen[0] == "Prescott" and "Haswell" not in chosen[1:]
