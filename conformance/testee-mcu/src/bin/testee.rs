//! The conformance testee as firmware: `-append "IN OUT [--fault NAME]"`.
//!
//! Reads framed Requests from the host file IN (the runner's pipe: `/dev/stdin` of the
//! QEMU process) and writes one framed Response per Request to OUT (`/dev/stdout`), as
//! `conformance/testee.proto` describes; bundle files are read from the host by path.
//! Exits 0 at a clean end of IN, 2 on bad arguments or a malformed frame or message,
//! 1 when the host refuses a write.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use cerebellum_core::{BundleFile, Limits};
use cerebellum_testee_core::proto::{Failure, Request};
use cerebellum_testee_core::{
    check_file_size, failure, frame_length, kind, response_frame, BundleReader, Fault, Testee,
};
use cerebellum_testee_mcu::semihosting::{exit, Console, File, Mode};
use cerebellum_testee_mcu::{heap, semihosting};

const USAGE: &str = "usage: -append \"IN OUT [--fault lowercase]\" (host paths, e.g. /dev/stdin /dev/stdout)";

/// Bundle files from the host, by path, through semihosting.
struct HostFiles;

impl BundleReader for HostFiles {
    fn read(&mut self, bundle: &str, file: BundleFile, limit: usize) -> Result<Vec<u8>, Failure> {
        let path = format!("{bundle}/{}", file.name());
        let not_found = |problem: &str| failure(kind::NOT_FOUND, format!("{path}: {problem}"));
        let host = File::open(&path, Mode::Read).ok_or_else(|| not_found("file not found"))?;
        // The size is checked before a byte is read, as the std runtime does.
        let len = host.size().ok_or_else(|| not_found("cannot read: no file length"))?;
        check_file_size(file, len, limit)?;
        let mut bytes = vec![0u8; len];
        host.read_exact(&mut bytes)
            .map_err(|got| not_found(&format!("cannot read: {got} of {len} bytes")))?;
        Ok(bytes)
    }
}

fn fail(status: u32, message: &str) -> ! {
    let _ = writeln!(Console::stderr(), "cerebellum-testee-mcu: {message}");
    exit(status)
}

/// The next frame's payload from `input`; `None` at a clean end between frames.
fn read_frame(input: &File) -> Option<Vec<u8>> {
    let mut varint: Vec<u8> = Vec::new();
    let len = loop {
        let mut byte = [0u8];
        if input.read_exact(&mut byte).is_err() {
            match varint.len() {
                0 => return None,
                got => fail(
                    2,
                    &format!("bad input: the stream ended inside a frame length, after {got} bytes"),
                ),
            }
        }
        varint.push(byte[0]);
        match frame_length(&varint) {
            Ok(Some(len)) => break len,
            Ok(None) => {}
            Err(problem) => fail(2, &format!("bad input: {problem}")),
        }
    };
    let mut payload = vec![0u8; len];
    if let Err(got) = input.read_exact(&mut payload) {
        fail(
            2,
            &format!("bad input: the stream ended after {got} of {len} bytes of a frame"),
        );
    }
    Some(payload)
}

fn parse_args(line: &str) -> Result<(String, String, Option<Fault>), String> {
    // The kernel's path comes first.
    let mut words = line.split_whitespace().skip(1);
    let (Some(input), Some(output)) = (words.next(), words.next()) else {
        return Err("needs the input and output paths".into());
    };
    let mut fault = None;
    while let Some(word) = words.next() {
        match word {
            "--fault" => {
                let name = words.next().ok_or("--fault needs a name")?;
                fault = Some(Fault::from_name(name).ok_or_else(|| format!("unknown fault {name:?}"))?);
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok((input.into(), output.into(), fault))
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    heap::init();
    let (input, output, fault) = match parse_args(&semihosting::command_line()) {
        Ok(args) => args,
        Err(problem) => fail(2, &format!("{problem}\n{USAGE}")),
    };
    let Some(requests) = File::open(&input, Mode::Read) else {
        fail(2, &format!("cannot open {input}"))
    };
    let Some(responses) = File::open(&output, Mode::Append) else {
        fail(2, &format!("cannot open {output}"))
    };
    // The std testee's limits, so both refuse the same bundles.
    let mut testee = Testee::new(HostFiles, Limits::default(), fault);
    while let Some(payload) = read_frame(&requests) {
        let request: Request = match prost::Message::decode(payload.as_slice()) {
            Ok(request) => request,
            Err(error) => fail(2, &format!("bad input: malformed message: {error}")),
        };
        if !responses.write_all(&response_frame(&testee.respond(&request))) {
            fail(1, &format!("cannot write to {output}"));
        }
    }
    exit(0)
}
