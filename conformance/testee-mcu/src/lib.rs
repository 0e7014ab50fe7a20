//! # cerebellum-testee-mcu
//!
//! The conformance testee as bare-metal firmware for Cortex-M4F (`thumbv7em-none-eabihf`,
//! QEMU `mps2-an386`) and RISC-V (`riscv32imac-unknown-none-elf`, QEMU `virt`), and a
//! footprint probe. Both talk to the host only through semihosting: QEMU runs the
//! firmware's `open`/`read`/`write` on host files (`-semihosting-config
//! enable=on,target=native`), so the testee reads its Requests from the QEMU process's
//! `/dev/stdin`, writes Responses to its `/dev/stdout` and reads bundle files by path.
//!
//! * `bin/testee.rs`: the testee protocol (`conformance/testee.proto`), answers from
//!   `cerebellum-testee-core`, exactly as the std testee computes them.
//! * `bin/footprint.rs`: a classifier firmware with a bundle embedded at build time
//!   (`MCU_BUNDLE=dir`), which reports peak heap, peak stack and instructions per call.
//!
//! This library holds what both need: [`semihosting`] I/O, the counting [`heap`], an
//! instruction [`counter`], [`stack`] painting, and the panic handler (the library code
//! never panics, but a firmware must not hang if something does).

#![no_std]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

extern crate alloc;

pub mod counter;
pub mod heap;
pub mod semihosting;
pub mod stack;

use core::fmt::Write;

// The critical-section implementations the allocator locks with (single core, single hart):
// linked only when something names the crate.
#[cfg(target_arch = "arm")]
use cortex_m as _;
#[cfg(target_arch = "riscv32")]
use riscv as _;

/// Reports the panic on the host's stderr and makes QEMU exit with status 101.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut err = semihosting::Console::stderr();
    let _ = writeln!(err, "firmware panicked: {info}");
    semihosting::exit(101)
}
