//! Semihosting (the Arm "semihosting" interface, which QEMU also implements for RISC-V):
//! the firmware traps to the emulator, which runs the call on the host. Only the calls the
//! testee needs: open/close/read/write/flen on host files, the command line, exit.

use alloc::string::String;
use alloc::vec::Vec;

const SYS_OPEN: usize = 0x01;
const SYS_CLOSE: usize = 0x02;
const SYS_WRITE: usize = 0x05;
const SYS_READ: usize = 0x06;
const SYS_FLEN: usize = 0x0c;
const SYS_GET_CMDLINE: usize = 0x15;
const SYS_EXIT_EXTENDED: usize = 0x20;
/// ADP_Stopped_ApplicationExit: the program ended; the subcode is the exit status.
const APPLICATION_EXIT: usize = 0x20026;

/// Semihosting call `op` with parameter `arg` (usually the address of a parameter block).
///
/// # Safety
/// `arg` must be what `op` expects; blocks it points to must stay valid during the call.
#[cfg(target_arch = "arm")]
unsafe fn call(op: usize, arg: usize) -> isize {
    let result: usize;
    // SAFETY: BKPT 0xAB is the M-profile semihosting trap; QEMU handles it and returns in r0.
    unsafe { core::arch::asm!("bkpt #0xab", inout("r0") op => result, in("r1") arg, options(nostack)) };
    result as isize
}

/// See the Arm version. RISC-V marks the trap with the three-instruction sequence the
/// semihosting spec requires (uncompressed, so QEMU finds the neighbours of the `ebreak`).
///
/// # Safety
/// `arg` must be what `op` expects; blocks it points to must stay valid during the call.
#[cfg(target_arch = "riscv32")]
unsafe fn call(op: usize, arg: usize) -> isize {
    let result: usize;
    // SAFETY: the slli/ebreak/srai sequence is the RISC-V semihosting trap (no effect besides the call).
    unsafe {
        core::arch::asm!(
            ".balign 16",
            ".option push",
            ".option norvc",
            "slli x0, x0, 0x1f",
            "ebreak",
            "srai x0, x0, 7",
            ".option pop",
            inout("a0") op => result,
            in("a1") arg,
            options(nostack),
        )
    };
    result as isize
}

/// Ends the emulation; QEMU exits with `status`.
pub fn exit(status: u32) -> ! {
    let block = [APPLICATION_EXIT, status as usize];
    // SAFETY: a two-word block, as SYS_EXIT_EXTENDED expects.
    unsafe { call(SYS_EXIT_EXTENDED, block.as_ptr() as usize) };
    // Not reached under QEMU; a debugger might resume.
    loop {
        core::hint::spin_loop();
    }
}

/// The command line QEMU passes: the kernel's path, a space, then `-append`'s text.
pub fn command_line() -> String {
    let mut buf = alloc::vec![0u8; 4096];
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: the block names a writable buffer of its length; QEMU writes the length back.
    let status = unsafe { call(SYS_GET_CMDLINE, block.as_mut_ptr() as usize) };
    if status != 0 {
        return String::new();
    }
    buf.truncate(block[1].min(buf.len()));
    String::from_utf8(buf).unwrap_or_default()
}

/// How a host file is opened (the ISO C `fopen` modes of the semihosting spec).
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// "rb"
    Read = 1,
    /// "ab": appends, so opening a pipe or a terminal never truncates anything.
    Append = 9,
}

/// A host file, open until dropped.
#[derive(Debug)]
pub struct File(usize);

impl File {
    /// Opens `path` on the host; `None` when the host refuses.
    pub fn open(path: &str, mode: Mode) -> Option<File> {
        // Short names stay on the stack, so the panic handler can open stderr when the heap is full.
        let mut short = [0u8; 128];
        let mut long = Vec::new();
        let name: &mut [u8] = if path.len() < short.len() {
            &mut short[..=path.len()]
        } else {
            long.resize(path.len() + 1, 0);
            &mut long
        };
        name[..path.len()].copy_from_slice(path.as_bytes());
        let block = [name.as_ptr() as usize, mode as usize, path.len()];
        // SAFETY: a NUL-terminated name, its mode and length, as SYS_OPEN expects.
        let handle = unsafe { call(SYS_OPEN, block.as_ptr() as usize) };
        usize::try_from(handle).ok().map(File)
    }

    /// Reads up to `buf.len()` bytes: the count read, 0 at end of file, `None` on an error.
    /// Pipes return what has arrived, so a read may be short.
    pub fn read(&self, buf: &mut [u8]) -> Option<usize> {
        let block = [self.0, buf.as_mut_ptr() as usize, buf.len()];
        // SAFETY: the block names a writable buffer of its length.
        let not_read = unsafe { call(SYS_READ, block.as_ptr() as usize) };
        usize::try_from(not_read).ok().and_then(|n| buf.len().checked_sub(n))
    }

    /// Fills `buf`; the number of bytes read when the file ends (or fails) first.
    pub fn read_exact(&self, buf: &mut [u8]) -> Result<(), usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.read(&mut buf[filled..]) {
                Some(0) | None => return Err(filled),
                Some(n) => filled += n,
            }
        }
        Ok(())
    }

    /// Writes all of `bytes`; false when the host fails.
    pub fn write_all(&self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            let block = [self.0, bytes.as_ptr() as usize, bytes.len()];
            // SAFETY: the block names a readable buffer of its length.
            let not_written = unsafe { call(SYS_WRITE, block.as_ptr() as usize) };
            match usize::try_from(not_written)
                .ok()
                .and_then(|n| bytes.len().checked_sub(n))
            {
                Some(written) if written > 0 => bytes = &bytes[written..],
                _ => return false,
            }
        }
        true
    }

    /// The file's length in bytes; `None` when the host cannot tell (a pipe).
    pub fn size(&self) -> Option<usize> {
        let block = [self.0];
        // SAFETY: a one-word block holding the handle.
        let len = unsafe { call(SYS_FLEN, block.as_ptr() as usize) };
        usize::try_from(len).ok()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let block = [self.0];
        // SAFETY: a one-word block holding the handle, which is not used again.
        unsafe { call(SYS_CLOSE, block.as_ptr() as usize) };
    }
}

/// Text output to a host file, for diagnostics and reports.
#[derive(Debug)]
pub struct Console(Option<File>);

impl Console {
    /// The QEMU process's stderr (never its stdout, which carries the protocol).
    pub fn stderr() -> Console {
        Console(File::open("/dev/stderr", Mode::Append))
    }

    /// The QEMU process's stdout.
    pub fn stdout() -> Console {
        Console(File::open("/dev/stdout", Mode::Append))
    }
}

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        match &self.0 {
            Some(file) if file.write_all(s.as_bytes()) => Ok(()),
            _ => Err(core::fmt::Error),
        }
    }
}
