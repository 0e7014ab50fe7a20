"""The C library as `make c-lib` stages it: a versioned SONAME, pkg-config files, a static
archive that links without an executable stack, and the C contract (version, scores buffer,
empty text, one handle on several threads) checked by a C program built with the system cc."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import cerebellum

from .conftest import REPO, c_library_soname, cargo_version

TOOLS = ("cc", "make", "pkg-config", "readelf")
pytestmark = pytest.mark.skipif(any(shutil.which(tool) is None for tool in TOOLS), reason=f"needs {', '.join(TOOLS)}")

CHECK_PROGRAM = REPO / "runtimes" / "rust" / "cerebellum-ffi" / "tests" / "c_library_check.c"
TEXT = "when is dinner?"
SCORE_TOLERANCE = 1e-5  # as in test_rust_runtime.py: the engines may round the last bits differently
VERSION = cargo_version()
SONAME = c_library_soname()


@pytest.fixture(scope="module")
def c_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prefix = tmp_path_factory.mktemp("c-dist")
    subprocess.run(["make", "--no-print-directory", "c-lib", f"PREFIX={prefix}"], cwd=REPO, check=True)
    return prefix


def pkg_config(prefix: Path, *args: str) -> list[str]:
    env = {**os.environ, "PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig")}
    done = subprocess.run(["pkg-config", *args], env=env, capture_output=True, text=True, check=True)
    return shlex.split(done.stdout)


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", *args], capture_output=True, text=True, check=True).stdout


def compile_check(prefix: Path, package: str, binary: Path) -> subprocess.CompletedProcess[str]:
    flags = pkg_config(prefix, "--cflags", "--libs", package)
    command = ["cc", "-Wall", "-Wextra", "-Werror", "-O2", "-pthread", str(CHECK_PROGRAM), *flags, "-o", str(binary)]
    return subprocess.run(command, capture_output=True, text=True, check=True)


def run_check(binary: Path, bundle: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([str(binary), str(bundle), TEXT], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    version_line, answer = done.stdout.splitlines()
    assert version_line == f"version\t{VERSION}"
    label, scores = answer.split("\t")
    python = cerebellum.load(bundle)
    assert label == python.predict(TEXT)
    np.testing.assert_allclose([float(s) for s in scores.split()], python.predict_proba(TEXT), atol=SCORE_TOLERANCE)


def needed_libraries(binary: Path) -> list[str]:
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf("-dW", str(binary)))


def test_shared_library_carries_a_versioned_soname(c_dist: Path) -> None:
    lib = c_dist / "lib"
    assert f"Library soname: [{SONAME}]" in readelf("-dW", str(lib / f"libcerebellum.so.{VERSION}"))
    real = (lib / f"libcerebellum.so.{VERSION}").resolve()
    assert (lib / SONAME).resolve() == real
    assert (lib / "libcerebellum.so").resolve() == real
    assert (lib / "libcerebellum.a").is_file()
    assert (c_dist / "include" / "cerebellum.h").is_file()


def test_pkg_config_describes_the_staged_tree(c_dist: Path) -> None:
    assert pkg_config(c_dist, "--modversion", "cerebellum") == [VERSION]
    assert pkg_config(c_dist, "--cflags", "cerebellum") == [f"-I{c_dist}/include"]
    assert pkg_config(c_dist, "--libs", "cerebellum") == [f"-L{c_dist}/lib", "-lcerebellum"]
    static = pkg_config(c_dist, "--static", "--libs", "cerebellum")
    assert {"-Wl,-z,noexecstack", "-lpthread", "-ldl", "-lm"} <= set(static)
    assert pkg_config(c_dist, "--libs", "cerebellum-static")[:2] == [
        "-Wl,-z,noexecstack",
        f"{c_dist}/lib/libcerebellum.a",
    ]


def test_c_program_linked_through_pkg_config(c_dist: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    binary = tmp_path / "check"
    compile_check(c_dist, "cerebellum", binary)
    assert SONAME in needed_libraries(binary)  # the SONAME, not the unversioned link
    run_check(binary, tiny_bundle, env={**os.environ, "LD_LIBRARY_PATH": str(c_dist / "lib")})


def test_static_link_keeps_the_stack_non_executable(c_dist: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    binary = tmp_path / "check-static"
    built = compile_check(c_dist, "cerebellum-static", binary)
    assert "executable stack" not in built.stderr  # ld's warning about an object without .note.GNU-stack
    assert not any("cerebellum" in name for name in needed_libraries(binary))
    (stack,) = [line.split() for line in readelf("-lW", str(binary)).splitlines() if "GNU_STACK" in line]
    assert stack[-2] == "RW", stack  # ... MemSiz Flg Align: RWE would mean an executable stack
    run_check(binary, tiny_bundle)
