#!/usr/bin/env bash
# The microcontroller tier (issue #12): build the no_std core for Cortex-M4F and RISC-V.
#
# Why: rustup's toolchain here cannot add the bare-metal targets (no rust-src), so the
# MCU builds use Debian's rustc-web/cargo-web (1.96) with rust-web-src, which build
# `core` and `alloc` from source (`-Zbuild-std`; RUSTC_BOOTSTRAP=1 lets the stable
# Debian cargo accept it). rust-web-llvm's /usr/bin/rust-lld points at lld-22 without
# depending on it, so lld-22 is listed too; qemu and binutils-arm-none-eabi run and
# measure the firmware testees. /usr/bin comes first on PATH so rustup's proxies in
# ~/.cargo/bin (no rust-src) are never picked. The target dir is separate from the
# host's because the compilers differ.
#
# Usage:
#   conformance/mcu.sh setup          install what is missing (apt; skipped when all present)
#   conformance/mcu.sh build-core     setup, then build cerebellum-core (release) for every MCU target
#   conformance/mcu.sh cargo ARGS...  any cargo command with the same toolchain and environment
#
# Environment: CARGO_TARGET_DIR_MCU (default ~/.cache/model_foundry/target-mcu);
# MCU_TARGETS (default "thumbv7em-none-eabihf riscv32imac-unknown-none-elf").
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR_MCU:-$HOME/.cache/model_foundry/target-mcu}"
read -r -a TARGETS <<<"${MCU_TARGETS:-thumbv7em-none-eabihf riscv32imac-unknown-none-elf}"
# The four rust-web packages must come at one version: rust-web-src is the source of
# the very `core` the compiler expects.
RUST_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm)
OTHER_PACKAGES=(lld-22 qemu-system-arm qemu-system-misc binutils-arm-none-eabi)
MIN_RUSTC=1.91 # the workspace's rust-version

die() { echo "mcu.sh: $*" >&2; exit 1; }
log() { echo "mcu.sh: $*" >&2; }

installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]; }

setup() {
    local missing=() pkg
    for pkg in "${RUST_PACKAGES[@]}" "${OTHER_PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
    if installed rustc-web && ! dpkg --compare-versions \
        "$(dpkg-query -W -f='${Version}' rustc-web)" ge "$MIN_RUSTC"; then
        missing+=(rustc-web)
    fi
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]}"
    apt-get update -qq
    local version
    version="$(apt-cache policy rustc-web | awk '/Candidate:/ {print $2}')"
    [[ -n "$version" && "$version" != "(none)" ]] || die "apt has no rustc-web candidate"
    local pinned=()
    for pkg in "${RUST_PACKAGES[@]}"; do pinned+=("$pkg=$version"); done
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
        --no-install-recommends "${pinned[@]}" "${OTHER_PACKAGES[@]}" >/dev/null
}

# Debian's cargo and rustc, -Zbuild-std allowed, in the MCU target dir.
deb_cargo() {
    cd "$ROOT"
    env -u RUSTUP_TOOLCHAIN -u RUSTFLAGS \
        PATH="/usr/bin:/bin:/usr/sbin:/sbin" \
        RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO=/usr/bin/cargo \
        RUSTC_BOOTSTRAP=1 \
        CARGO_TARGET_DIR="$TARGET_DIR" \
        /usr/bin/cargo "$@"
}

# The core for each target: `core` and `alloc` built from rust-web-src, no std anywhere.
build_core() {
    local target
    for target in "${TARGETS[@]}"; do
        log "cerebellum-core for $target"
        deb_cargo build -p cerebellum-core --release --locked --target "$target" -Zbuild-std=core,alloc
        ls -l "$TARGET_DIR/$target/release/libcerebellum_core.rlib" >&2
    done
}

cmd="${1:-build-core}"
(($#)) && shift
case "$cmd" in
    setup)
        setup
        ;;
    build-core)
        setup
        build_core
        ;;
    cargo)
        setup
        deb_cargo "$@"
        ;;
    *)
        die "unknown command '$cmd' (setup | build-core | cargo); see the header of $0"
        ;;
esac
