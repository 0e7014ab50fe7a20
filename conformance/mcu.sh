#!/usr/bin/env bash
# The microcontroller tier (issue #12): build the no_std core and the firmware testees for
# Cortex-M4F and RISC-V, run them under QEMU, measure their footprint.
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
# The firmware testees (conformance/testee-mcu, its own workspace and lockfile) speak the
# testee protocol over semihosting: QEMU runs the firmware's file calls on the host, so
# the firmware opens the QEMU process's /dev/stdin and /dev/stdout (its paths come
# through -append) and reads bundle files by path. QEMU itself gets no console
# (-nodefaults -serial none -monitor none), so nothing else writes to stdout.
#
# Usage:
#   conformance/mcu.sh setup              install what is missing (apt; skipped when all present)
#   conformance/mcu.sh build-core         setup, then build cerebellum-core (release) for every MCU target
#   conformance/mcu.sh build-testee       setup, then build the firmware testee for every MCU target
#   conformance/mcu.sh path TARGET        print the built testee's path (exit 1 when not built)
#   conformance/mcu.sh triple TARGET      print TARGET's target triple
#   conformance/mcu.sh run TARGET [ARGS]  run the testee under QEMU: Requests on stdin, Responses on
#                                         stdout; ARGS go to the firmware (e.g. --fault lowercase)
#   conformance/mcu.sh footprint          a firmware per bundle in models/ (MCU_MODELS) with the
#                                         bundle embedded: sizes, heap, stack, instructions (markdown)
#   conformance/mcu.sh lint               cargo fmt --check and clippy -D warnings of the firmware
#   conformance/mcu.sh cargo ARGS...      any cargo command with the same toolchain and environment
#   conformance/mcu.sh firmware-cargo ARGS...  the same in the firmware's workspace (e.g. update)
# TARGET: cortex-m4 or riscv32 (or the target triple).
#
# Environment: CARGO_TARGET_DIR_MCU (default ~/.cache/model_foundry/target-mcu);
# MCU_TARGETS (default "thumbv7em-none-eabihf riscv32imac-unknown-none-elf"); MCU_TIMEOUT
# (seconds a `run` may take in all, default 7200: a hang guard, the runner has its own
# per-request watchdog); MCU_MODELS (default models/).
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

FIRMWARE="$ROOT/conformance/testee-mcu"
BUILD_STD=(-Zbuild-std=core,alloc)

# Debian's cargo and rustc, -Zbuild-std allowed, in the MCU target dir.
deb_cargo() {
    cd "$ROOT"
    debian_cargo "$@"
}

# The same in the firmware's own workspace.
firmware_cargo() {
    cd "$FIRMWARE"
    debian_cargo "$@"
}

debian_cargo() { debian_env /usr/bin/cargo "$@"; }

debian_env() {
    env -u RUSTUP_TOOLCHAIN -u RUSTFLAGS \
        PATH="/usr/bin:/bin:/usr/sbin:/sbin" \
        RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO=/usr/bin/cargo \
        RUSTC_BOOTSTRAP=1 \
        CARGO_TARGET_DIR="$TARGET_DIR" \
        "$@"
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

triple() {
    case "$1" in
        cortex-m4 | thumbv7em-none-eabihf) echo thumbv7em-none-eabihf ;;
        riscv32 | riscv32imac-unknown-none-elf) echo riscv32imac-unknown-none-elf ;;
        *) die "unknown MCU target '$1' (cortex-m4 | riscv32)" ;;
    esac
}

firmware_path() { echo "$TARGET_DIR/$(triple "$1")/release/$2"; }

# One cargo call per target: in one call for both, cargo would unify the features of
# critical-section that cortex-m and riscv each set, and refuse the pair.
build_testee() {
    local target
    for target in "${TARGETS[@]}"; do
        log "firmware testee for $target"
        firmware_cargo build --release --locked --target "$target" "${BUILD_STD[@]}" --bin testee
    done
}

# QEMU_COMMAND: QEMU for TARGET without a console of its own (the firmware's semihosting
# calls are its only I/O).
qemu_command() {
    local common=(-display none -nodefaults -monitor none -serial none -nic none
        -semihosting-config enable=on,target=native)
    case "$(triple "$1")" in
        thumbv7em-none-eabihf) QEMU_COMMAND=(qemu-system-arm -machine mps2-an386 -cpu cortex-m4 "${common[@]}") ;;
        riscv32imac-unknown-none-elf) QEMU_COMMAND=(qemu-system-riscv32 -machine virt -bios none "${common[@]}") ;;
    esac
}

run_testee() {
    local target="$1" binary
    shift
    binary="$(firmware_path "$target" testee)"
    [[ -x "$binary" ]] || die "no testee for $target at $binary: run conformance/mcu.sh build-testee"
    qemu_command "$target"
    # --foreground keeps QEMU in the caller's process group (a terminal can talk to it); the
    # timeout still ends it.
    exec timeout --foreground "${MCU_TIMEOUT:-7200}" "${QEMU_COMMAND[@]}" \
        -kernel "$binary" -append "/dev/stdin /dev/stdout $*"
}

kib() { awk -v b="$1" 'BEGIN { if (b < 1024) printf "%d B", b; else printf "%.1f", b / 1024 }'; }

# "FLASH RAM" bytes of an ELF: what the image stores (code, rodata, the initial .data) and
# the RAM it links (.data, .bss). The reserved .stack/.heap regions of riscv-rt are not
# counted: the stack is measured, and the heap lives outside the linked RAM.
image_sizes() {
    llvm-size-22 -A "$1" | awk '
        $1 ~ /^\.(vector_table|text|init\.rust|rodata)$/ { flash += $2 }
        $1 == ".data" { flash += $2; ram += $2 }
        $1 ~ /^\.(bss|uninit)$/ { ram += $2 }
        END { print flash + 0, ram + 0 }'
}

# One firmware per bundle with the bundle in flash (MCU_BUNDLE, see testee-mcu/build.rs), run
# under -icount shift=0 so its counters count instructions; a markdown table on stdout.
footprint() {
    local models target bundle name elf report flash ram field arch heap_peak total chars="?"
    models="$(realpath "${MCU_MODELS:-$ROOT/models}")" || die "no bundles at ${MCU_MODELS:-models/} (make models)"
    local out_dir="$TARGET_DIR/footprint-firmware" # not "footprint": cargo's directory of that profile
    mkdir -p "$out_dir"
    local rows=()
    for target in "${TARGETS[@]}"; do
        for bundle in "$models"/*/; do
            bundle="${bundle%/}"
            name="$(basename "$bundle")"
            [[ -f "$bundle/preprocessor.bin" && -f "$bundle/model.onnx" ]] || continue
            log "footprint: $name on $target"
            MCU_BUNDLE="$bundle" firmware_cargo build --profile footprint --locked --target "$target" \
                "${BUILD_STD[@]}" --bin footprint --quiet
            elf="$out_dir/$name.$target.elf"
            cp "$TARGET_DIR/$target/footprint/footprint" "$elf"
            read -r flash ram < <(image_sizes "$elf")
            qemu_command "$target"
            # QEMU's stderr (mps2's warning about its unconnected NIC) only when something fails.
            report="$(timeout 600 "${QEMU_COMMAND[@]}" -icount shift=0 -kernel "$elf" 2>"$out_dir/stderr")" ||
                die "the footprint firmware failed for $name on $target: $(cat "$out_dir/stderr")"
            declare -A f=()
            for field in $report; do [[ "$field" == *=* ]] && f[${field%%=*}]="${field#*=}"; done
            arch="${target%%-*}"
            local image="| $arch | $name | $(kib "${f[flash_bundle]}") | $(kib $((flash - f[flash_bundle]))) | $(kib "$ram")"
            chars="${f[chars_per_call]}"
            heap_peak=$((f[heap_peak_load] > f[heap_peak_calls] ? f[heap_peak_load] : f[heap_peak_calls]))
            total=$((ram + heap_peak + f[stack_peak]))
            # A classifier's cost is per call (it hardly depends on the length), a tagger's per character.
            local classify="" tag=""
            case "${f[kind]}" in
                classifier) classify="$(awk -v n="${f[call_instructions]}" 'BEGIN { printf "%.1f", n / 1e3 }')" ;;
                tagger) tag="$(awk -v n="${f[char_instructions]}" 'BEGIN { printf "%.1f", n / 1e3 }')" ;;
            esac
            rows+=("$image | $(kib "${f[heap_parsed]}") | $(kib "${f[heap_kept]}") | $(kib "${f[heap_peak_load]}") | $(kib "${f[heap_peak_calls]}") | $(kib "${f[stack_peak]}") | **$(kib "$total")** | $(awk -v n="${f[load_instructions]}" 'BEGIN { printf "%.1f", n / 1e6 }') | $classify | $tag |")
        done
    done
    echo "| Target | Bundle | Bundle (KiB flash) | Program (KiB flash) | Static RAM (KiB) | Heap: parsed bundle (KiB) | Heap: loaded model (KiB) | Heap peak, load (KiB) | Heap peak, calls (KiB) | Stack peak (KiB) | RAM peak (KiB) | Load (M instr) | Classify (k instr/call) | Tag (k instr/char) |"
    echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Program: code and rodata without the bundle. Static RAM: .data + .bss. RAM peak: static RAM + the larger heap peak + stack peak. Built with opt-level \"s\". Instructions: QEMU's count (-icount shift=0) over the same 8 texts, $chars characters per call on average (classifier: predict_with; tagger: tag_with, its count divided by the characters); not cycles of a real core."
}

# rustfmt is the host's (formatting does not depend on the target); clippy must be Debian's,
# the compiler that has the bare-metal targets (rust-web-clippy, at rustc-web's version).
lint() {
    local target
    if ! installed rust-web-clippy; then
        log "installing rust-web-clippy"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
            "rust-web-clippy=$(dpkg-query -W -f='${Version}' rustc-web)" >/dev/null
    fi
    (cd "$ROOT" && cargo fmt --check --manifest-path conformance/testee-mcu/Cargo.toml)
    for target in "${TARGETS[@]}"; do
        # cargo-clippy by path: `cargo clippy` would find rustup's proxy in ~/.cargo/bin first.
        (cd "$FIRMWARE" && debian_env /usr/bin/cargo-clippy clippy --release --locked --target "$target" \
            "${BUILD_STD[@]}" --bins --lib -- -D warnings)
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
    build-testee)
        setup
        build_testee
        ;;
    triple)
        (($# == 1)) || die "usage: mcu.sh triple TARGET"
        triple "$1"
        ;;
    path)
        (($# == 1)) || die "usage: mcu.sh path TARGET"
        binary="$(firmware_path "$1" testee)"
        [[ -x "$binary" ]] || die "no testee for $1 at $binary: run conformance/mcu.sh build-testee"
        echo "$binary"
        ;;
    run)
        (($# >= 1)) || die "usage: mcu.sh run TARGET [ARGS...]"
        run_testee "$@"
        ;;
    footprint)
        setup
        footprint
        ;;
    lint)
        setup
        lint
        ;;
    cargo)
        setup
        deb_cargo "$@"
        ;;
    firmware-cargo)
        setup
        firmware_cargo "$@"
        ;;
    *)
        die "unknown command '$cmd' (setup | build-core | build-testee | triple | path | run | footprint | lint | cargo | firmware-cargo); see the header of $0"
        ;;
esac
