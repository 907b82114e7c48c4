//! Writing a command's answer to stdout. A reader that went away (`| head`)
//! ends the answer: that is not an error, and never a panic.

use std::io::{ErrorKind, Write};

/// Writes `text` and a newline to stdout; a closed pipe is success.
pub(crate) fn emit(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
