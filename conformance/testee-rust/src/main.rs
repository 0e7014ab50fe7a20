//! `cerebellum-testee [--fault lowercase]`: answers framed conformance
//! Requests on stdin with framed Responses on stdout (see
//! `conformance/testee.proto`). Exits 0 at end of input, 2 on bad arguments or
//! a malformed frame or message, 1 on any other i/o error.

use std::process::ExitCode;

use cerebellum_testee::{serve, Fault, FrameError, Testee};

const USAGE: &str = "usage: cerebellum-testee [--fault lowercase]";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Fault>, String> {
    let mut fault = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--fault" => {
                let name = args.next().ok_or("--fault needs a name")?;
                fault = Some(Fault::from_name(&name).ok_or_else(|| format!("unknown fault {name:?}"))?);
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(fault)
}

fn main() -> ExitCode {
    let fault = match parse_args(std::env::args().skip(1)) {
        Ok(fault) => fault,
        Err(problem) => {
            eprintln!("cerebellum-testee: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut testee = Testee::new(fault);
    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    let mut output = std::io::BufWriter::new(stdout.lock());
    match serve(&mut stdin.lock(), &mut output, &mut testee) {
        Ok(_) => ExitCode::SUCCESS,
        Err(
            error @ (FrameError::TruncatedLength { .. }
            | FrameError::Truncated { .. }
            | FrameError::MalformedLength
            | FrameError::TooLong { .. }
            | FrameError::Decode(_)),
        ) => {
            eprintln!("cerebellum-testee: bad input: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("cerebellum-testee: {error}");
            ExitCode::from(1)
        }
    }
}
