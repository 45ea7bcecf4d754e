//! Where recorders' rows go: an [`OutputSink`] owns the files of one run.

use crate::error::Error;
use std::sync::{Arc, Mutex, MutexGuard};

/// A file created through [`OutputSink::create`], named by creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

/// Rows on their way to a file. Recorders collect plain data on the simulation thread and
/// hand it over as `Rows`; [`Rows::encode`] turns it into bytes wherever the sink decides (the
/// run-folder sink does it on its writer thread, so number formatting never slows a tick).
pub trait Rows: Send + 'static {
    /// Appends the encoded rows to `buf`.
    fn encode(&self, buf: &mut Vec<u8>);
}

impl Rows for Vec<u8> {
    fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(self);
    }
}

impl Rows for String {
    fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(self.as_bytes());
    }
}

/// The destination of a run's recorded files. Implementations must not block for long: the
/// simulation thread calls them.
pub trait OutputSink: Send + Sync + 'static {
    /// Creates the file `name` (a plain file name such as `metrics.csv`) starting with
    /// `header`. A name that is not a plain file name, or one already created, is an error.
    fn create(&mut self, name: &str, header: Vec<u8>) -> Result<FileId, Error>;
    /// Appends rows to a file made by [`OutputSink::create`].
    fn write(&mut self, file: FileId, rows: Box<dyn Rows>) -> Result<(), Error>;
    /// Flushes and completes every file. Called once, also after a failed run, so that what
    /// was recorded is kept.
    fn finish(&mut self) -> Result<(), Error>;
    /// The names of the files created so far, in creation order.
    fn files(&self) -> Vec<String>;
}

/// Checks that `name` is a plain file name that `existing` does not hold yet.
pub(crate) fn check_file_name(name: &str, existing: &[String]) -> Result<(), Error> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.ends_with(".partial");
    let message = if !plain {
        format!("recorder file name `{name}` is not a plain file name")
    } else if existing.iter().any(|f| f == name) {
        format!("two recorders write `{name}`")
    } else {
        return Ok(());
    };
    Err(Error::Run { tick: 0, message })
}

/// Discards everything (runs where only the summary matters, such as sweeps that keep no
/// run folders). File names are not checked here; the sinks that write check them.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl OutputSink for NullSink {
    fn create(&mut self, _name: &str, _header: Vec<u8>) -> Result<FileId, Error> {
        Ok(FileId(0))
    }
    fn write(&mut self, _: FileId, _: Box<dyn Rows>) -> Result<(), Error> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), Error> {
        Ok(())
    }
    fn files(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Keeps every file in memory (tests, library use, small runs). Clones share the same
/// storage, so keep one clone and hand another to [`crate::Sim::set_output`]:
///
/// ```
/// use agora_engine::MemorySink;
/// let sink = MemorySink::new();
/// let handle = sink.clone();
/// // sim.set_output(Box::new(sink))?; sim.run()?; sim.finish()?;
/// assert!(handle.text("metrics.csv").is_none());
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    files: Arc<Mutex<MemoryFiles>>,
}

#[derive(Debug, Default)]
struct MemoryFiles {
    names: Vec<String>,
    bytes: Vec<Vec<u8>>,
    finished: bool,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryFiles> {
        // A panic while holding the lock leaves plain byte buffers, still worth reading.
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The contents of file `name`, if it was created.
    pub fn bytes(&self, name: &str) -> Option<Vec<u8>> {
        let files = self.lock();
        let i = files.names.iter().position(|n| n == name)?;
        Some(files.bytes[i].clone())
    }

    /// The contents of file `name` as text, if it was created and is UTF-8.
    pub fn text(&self, name: &str) -> Option<String> {
        self.bytes(name).and_then(|b| String::from_utf8(b).ok())
    }

    /// Whether [`OutputSink::finish`] was called.
    pub fn is_finished(&self) -> bool {
        self.lock().finished
    }
}

impl OutputSink for MemorySink {
    fn create(&mut self, name: &str, header: Vec<u8>) -> Result<FileId, Error> {
        let mut files = self.lock();
        check_file_name(name, &files.names)?;
        files.names.push(name.to_owned());
        files.bytes.push(header);
        Ok(FileId(files.names.len() as u32 - 1))
    }
    fn write(&mut self, file: FileId, rows: Box<dyn Rows>) -> Result<(), Error> {
        let mut files = self.lock();
        let buf = files
            .bytes
            .get_mut(file.0 as usize)
            .ok_or_else(|| Error::Run {
                tick: 0,
                message: format!("write to file {} that was never created", file.0),
            })?;
        rows.encode(buf);
        Ok(())
    }
    fn finish(&mut self) -> Result<(), Error> {
        self.lock().finished = true;
        Ok(())
    }
    fn files(&self) -> Vec<String> {
        self.lock().names.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_must_be_plain_and_unique() {
        let mut sink = MemorySink::new();
        assert_eq!(sink.create("a.csv", b"x\n".to_vec()).unwrap(), FileId(0));
        for bad in ["", "..", "dir/a.csv", "a.csv.partial", "a.csv"] {
            assert!(sink.create(bad, Vec::new()).is_err(), "{bad:?}");
        }
        sink.write(FileId(0), Box::new("1\n".to_owned())).unwrap();
        assert!(sink.write(FileId(7), Box::new(Vec::new())).is_err());
        assert_eq!(sink.text("a.csv").as_deref(), Some("x\n1\n"));
        assert_eq!(sink.files(), ["a.csv"]);
    }
}
