#!/usr/bin/env bash
# Build the Rust runtime for aarch64-unknown-linux-gnu and run it under qemu-user.
#
# Why: the conformance suite must show the Rust runtime gives the same answers on
# aarch64 as on x86_64, and this machine has neither an arm64 host nor a way to
# add targets to rustup's toolchain. Debian ships both halves instead: rustc-web
# and cargo-web (1.96; /usr/bin/rustc, /usr/bin/cargo) with an arm64 std
# (libstd-rust-web-dev:arm64), the aarch64-linux-gnu-gcc cross linker, and
# qemu-aarch64. rustup's 1.95 shims (~/.cargo/bin) come first on PATH and have no
# aarch64 std, so this script calls Debian's cargo and rustc by full path. Its
# target dir is separate from the native one because the compilers differ.
#
# Usage:
#   conformance/aarch64.sh setup                  install what is missing (apt; skipped when all present)
#   conformance/aarch64.sh build [CARGO ARGS...]  cargo build --release --locked for aarch64; prints the
#                                                 built executables' paths. Default args:
#                                                 -p cerebellum-testee --bin cerebellum-testee
#   conformance/aarch64.sh path                   print the aarch64 cerebellum-testee path
#   conformance/aarch64.sh run BINARY [ARGS...]   run an aarch64 binary under qemu-aarch64; BINARY is a
#                                                 path, or a name under the release dir or its examples/
#   conformance/aarch64.sh cargo SUBCOMMAND [...] any other cargo command with the same setup, e.g.
#                                                 `cargo test --release -p cerebellum` (tests run under qemu)
# Example:
#   conformance/aarch64.sh build -p cerebellum --example cerebellum_lines
#   echo '"what is the weather"' | conformance/aarch64.sh run cerebellum_lines models/is_question --json
#
# Environment: CARGO_TARGET_DIR_AARCH64 (default ~/.cache/model_foundry/target-aarch64).
set -euo pipefail

TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu
DEB_CARGO=/usr/bin/cargo
DEB_RUSTC=/usr/bin/rustc
MIN_RUSTC=1.91 # the workspace's rust-version
PACKAGES=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
TARGET_DIR="${CARGO_TARGET_DIR_AARCH64:-$HOME/.cache/model_foundry/target-aarch64}"
RELEASE_DIR="$TARGET_DIR/$TARGET/release"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

die() { echo "aarch64.sh: $*" >&2; exit 1; }

installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]; }

setup() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
    # An older rustc-web (bookworm's 1.85) is installed but too old: upgrade it.
    if installed rustc-web && ! dpkg --compare-versions \
        "$(dpkg-query -W -f='${Version}' rustc-web)" ge "$MIN_RUSTC"; then
        missing+=(rustc-web cargo-web libstd-rust-web-dev:arm64)
    fi
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
        missing+=(arm64-architecture)
    fi
    ((${#missing[@]} == 0)) && return 0
    echo "aarch64.sh: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
}

# Debian's cargo with Debian's rustc (not rustup's shims), cross linker, qemu runner.
deb_cargo() {
    cd "$ROOT"
    RUSTC="$DEB_RUSTC" RUSTDOC=/usr/bin/rustdoc \
    CARGO_TARGET_DIR="$TARGET_DIR" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $SYSROOT" \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
        "$DEB_CARGO" "$@"
}

cmd="${1:-build}"
(($#)) && shift
case "$cmd" in
    setup)
        setup
        ;;
    build)
        setup
        (($#)) || set -- -p cerebellum-testee --bin cerebellum-testee
        # cargo's JSON messages name each built executable; diagnostics still go to stderr.
        deb_cargo build --release --locked --target "$TARGET" \
            --message-format=json-render-diagnostics "$@" |
            sed -n 's/.*"executable":"\([^"]*\)".*/\1/p'
        ;;
    path)
        [[ -x "$RELEASE_DIR/cerebellum-testee" ]] || die "not built yet: run '$0 build'"
        echo "$RELEASE_DIR/cerebellum-testee"
        ;;
    run)
        (($#)) || die "usage: $0 run BINARY [ARGS...]"
        bin="$1"
        shift
        if [[ "$bin" != */* ]]; then
            for dir in "$RELEASE_DIR" "$RELEASE_DIR/examples"; do
                [[ -x "$dir/$bin" ]] && { bin="$dir/$bin"; break; }
            done
        fi
        [[ -x "$bin" ]] || die "no such aarch64 binary: $bin"
        setup
        exec qemu-aarch64 -L "$SYSROOT" "$bin" "$@"
        ;;
    cargo)
        setup
        deb_cargo "$@"
        ;;
    *)
        die "unknown command '$cmd' (setup | build | path | run | cargo); see the header of $0"
        ;;
esac
