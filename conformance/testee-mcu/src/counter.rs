//! Emulated instructions, for the cost of a call. Run QEMU with `-icount shift=0`: every
//! instruction then advances the virtual clock by 1 ns, and both counters below follow it.
//!
//! * RISC-V: `minstret`/`minstreth` (under icount QEMU counts instructions).
//! * Cortex-M4: SysTick on the processor clock (25 MHz on mps2-an386, so one tick per
//!   40 instructions), with an exception counting its 24-bit wraps. The ratio is
//!   measured, not assumed: [`calibrate`] times a loop of a known instruction count.
//!
//! These are QEMU's instruction counts, not cycles of a real core.

#[cfg(target_arch = "arm")]
mod imp {
    use core::sync::atomic::{AtomicU32, Ordering};

    const RELOAD: u32 = 0x00ff_ffff;
    const SYST_CSR: *mut u32 = 0xe000_e010 as *mut u32;
    const SYST_RVR: *mut u32 = 0xe000_e014 as *mut u32;
    const SYST_CVR: *mut u32 = 0xe000_e018 as *mut u32;

    static WRAPS: AtomicU32 = AtomicU32::new(0);

    #[cortex_m_rt::exception]
    fn SysTick() {
        WRAPS.fetch_add(1, Ordering::Relaxed);
    }

    pub fn start() {
        // SAFETY: the SysTick registers of every Armv7-M core; nothing else uses the timer.
        unsafe {
            core::ptr::write_volatile(SYST_RVR, RELOAD);
            core::ptr::write_volatile(SYST_CVR, 0);
            // ENABLE | TICKINT | CLKSOURCE (the processor clock)
            core::ptr::write_volatile(SYST_CSR, 0b111);
        }
    }

    /// SysTick ticks since [`start`].
    pub fn raw() -> u64 {
        loop {
            let before = WRAPS.load(Ordering::Relaxed);
            // SAFETY: a read of SysTick's current value register.
            let current = unsafe { core::ptr::read_volatile(SYST_CVR) } & RELOAD;
            if WRAPS.load(Ordering::Relaxed) == before {
                return u64::from(before) * u64::from(RELOAD + 1) + u64::from(RELOAD - current);
            }
        }
    }

    /// `iterations` of a two-instruction loop (subs, bne).
    #[inline(never)]
    pub fn spin(iterations: u32) {
        // SAFETY: a register-only countdown loop.
        unsafe {
            core::arch::asm!("2:", "subs {n}, #1", "bne 2b", n = inout(reg) iterations => _, options(nomem, nostack))
        };
    }
}

#[cfg(target_arch = "riscv32")]
mod imp {
    pub fn start() {}

    /// `minstret` (retired instructions; QEMU's icount under `-icount`).
    pub fn raw() -> u64 {
        loop {
            let (high, low, again): (u32, u32, u32);
            // SAFETY: reads of the machine-mode instruction counter, which the firmware runs in.
            unsafe {
                core::arch::asm!("csrr {0}, minstreth", "csrr {1}, minstret", "csrr {2}, minstreth",
                    out(reg) high, out(reg) low, out(reg) again, options(nomem, nostack))
            };
            if high == again {
                return (u64::from(high) << 32) | u64::from(low);
            }
        }
    }

    /// `iterations` of a two-instruction loop (addi, bnez).
    #[inline(never)]
    pub fn spin(iterations: u32) {
        // SAFETY: a register-only countdown loop.
        unsafe {
            core::arch::asm!("2:", "addi {n}, {n}, -1", "bnez {n}, 2b", n = inout(reg) iterations => _,
                options(nomem, nostack))
        };
    }
}

/// Starts the counter (SysTick on the M4); call once before [`raw`].
pub fn start() {
    imp::start()
}

/// The raw counter: SysTick ticks on the M4, instructions on RISC-V.
pub fn raw() -> u64 {
    imp::raw()
}

/// Instructions per raw count, measured on a loop of two million instructions (`None` if
/// the counter did not move: QEMU without `-icount`, or a board without the timer).
pub fn calibrate() -> Option<f64> {
    const ITERATIONS: u32 = 1_000_000;
    let before = raw();
    imp::spin(ITERATIONS);
    let counted = raw().checked_sub(before).filter(|&n| n > 0)?;
    Some(f64::from(2 * ITERATIONS) / counted as f64)
}
