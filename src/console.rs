//! The one printer: results to stdout, messages to stderr, both injectable so that the
//! library runs in-process under test. A closed pipe (`ct-onboard check x.csv | head -1`)
//! silences the stream instead of failing the command: the exit code stays the work's.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

type Sink = Arc<Mutex<Stream>>;

struct Stream {
    writer: Box<dyn Write + Send>,
    /// Set once a write fails (a closed pipe): later writes are dropped.
    closed: bool,
}

/// Where a command's output goes. Cheap to clone; clones share the streams.
#[derive(Clone)]
pub struct Console {
    out: Sink,
    err: Sink,
    /// Messages go to the logger (one JSON object a line) instead of plain stderr.
    logged: bool,
}

/// What a captured console received, for tests.
#[derive(Clone, Default)]
pub struct Captured {
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }
}

struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sink(writer: Box<dyn Write + Send>) -> Sink {
    Arc::new(Mutex::new(Stream {
        writer,
        closed: false,
    }))
}

fn write(sink: &Sink, text: &str) {
    let mut stream = sink.lock().unwrap_or_else(PoisonError::into_inner);
    if stream.closed {
        return;
    }
    let written = stream
        .writer
        .write_all(text.as_bytes())
        .and_then(|()| stream.writer.flush());
    if written.is_err() {
        stream.closed = true;
    }
}

impl Console {
    /// The process's stdout and stderr.
    pub fn std() -> Console {
        Console::new(Box::new(std::io::stdout()), Box::new(std::io::stderr()))
    }

    pub fn new(out: Box<dyn Write + Send>, err: Box<dyn Write + Send>) -> Console {
        Console {
            out: sink(out),
            err: sink(err),
            logged: false,
        }
    }

    /// Every message on stderr becomes a log event (for `--log-format json`), so that each
    /// stderr line is one JSON object; results stay on stdout.
    #[must_use]
    pub fn logged(self) -> Console {
        Console {
            logged: true,
            ..self
        }
    }

    /// A console that keeps what it is given, for tests.
    pub fn captured() -> (Console, Captured) {
        let captured = Captured::default();
        let console = Console::new(
            Box::new(Shared(captured.out.clone())),
            Box::new(Shared(captured.err.clone())),
        );
        (console, captured)
    }

    /// Results: text exactly as given.
    pub fn out(&self, text: &str) {
        write(&self.out, text);
    }

    /// One line of results.
    pub fn line(&self, text: &str) {
        write(&self.out, &format!("{text}\n"));
    }

    /// Text exactly as given, on stderr.
    pub fn out_err(&self, text: &str) {
        if self.logged {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                tracing::info!(event = "result", "{}", line.trim());
            }
        } else {
            write(&self.err, text);
        }
    }

    /// A message that is not a result (banner, notice), on stderr.
    pub fn note(&self, text: &str) {
        if self.logged {
            tracing::info!("{text}");
        } else {
            write(&self.err, &format!("{text}\n"));
        }
    }

    pub fn warn(&self, text: impl std::fmt::Display) {
        if self.logged {
            tracing::warn!("{text}");
        } else {
            write(&self.err, &format!("warning: {text}\n"));
        }
    }

    pub fn error(&self, text: impl std::fmt::Display) {
        if self.logged {
            tracing::error!("{text}");
        } else {
            write(&self.err, &format!("error: {text}\n"));
        }
    }

    /// The error that ended a command, with whatever it carries (every problem found).
    pub fn fail(&self, error: &crate::Error) {
        if let crate::Error::Invalid { problems, hint } = error {
            for problem in problems {
                if self.logged {
                    tracing::error!(
                        event = "problem",
                        file = %problem.file,
                        row = problem.sheet_row,
                        "{problem}"
                    );
                } else {
                    self.error(problem);
                }
            }
            if let Some(hint) = hint {
                self.note(hint);
            }
            self.note(&error.to_string());
        } else {
            self.error(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_silenced_not_fatal() {
        let console = Console::new(Box::new(ClosedPipe), Box::new(ClosedPipe));
        console.line("one");
        console.error("two");
        assert!(console.out.lock().unwrap().closed);
    }

    #[test]
    fn captured_output_is_kept_per_stream() {
        let (console, captured) = Console::captured();
        console.line("result");
        console.warn("careful");
        assert_eq!(captured.stdout(), "result\n");
        assert_eq!(captured.stderr(), "warning: careful\n");
    }
}
