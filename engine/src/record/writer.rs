//! The background writer: rows travel over a bounded crossbeam channel to one thread that owns
//! the files, so encoding and disk latency stay off the simulation thread while memory stays
//! bounded (a full channel makes the simulation wait rather than buffer the run).

use super::sink::{FileId, OutputSink, Rows, check_file_name};
use crate::error::Error;
use crossbeam_channel::{Sender, bounded};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Messages in flight: about 64 batches of any size (a snapshot of every agent is one batch),
/// or many thousands of metric rows.
const CHANNEL_CAPACITY: usize = 64;

enum Msg {
    Create(PathBuf, Vec<u8>),
    Write(FileId, Box<dyn Rows>),
}

/// Writes a run's files into a folder from a background thread. Files are written as
/// `name.partial` and renamed when complete; after an I/O error they stay `.partial`.
pub struct DirSink {
    dir: PathBuf,
    names: Vec<String>,
    tx: Option<Sender<Msg>>,
    handle: Option<JoinHandle<Result<(), Error>>>,
}

impl std::fmt::Debug for DirSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirSink")
            .field("dir", &self.dir)
            .field("files", &self.names)
            .finish_non_exhaustive()
    }
}

impl DirSink {
    /// Starts the writer for `dir` (which must exist).
    pub fn create(dir: &Path) -> Result<DirSink, Error> {
        let (tx, rx) = bounded::<Msg>(CHANNEL_CAPACITY);
        let handle = std::thread::Builder::new()
            .name("agora-writer".into())
            .spawn(move || {
                let mut files = Files::default();
                let result = (|| {
                    for msg in rx.iter() {
                        files.handle(msg)?;
                    }
                    files.complete()
                })();
                if result.is_err() {
                    files.keep_partials();
                }
                result
            })
            .map_err(|e| Error::io("writer thread", e))?;
        Ok(DirSink {
            dir: dir.to_path_buf(),
            names: Vec::new(),
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    fn send(&mut self, msg: Msg) -> Result<(), Error> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok());
        if sent {
            Ok(())
        } else {
            // The writer stopped early: its error says why.
            self.finish().and(Err(Error::Run {
                tick: 0,
                message: "the output writer stopped".into(),
            }))
        }
    }
}

impl OutputSink for DirSink {
    fn create(&mut self, name: &str, header: Vec<u8>) -> Result<FileId, Error> {
        check_file_name(name, &self.names)?;
        self.names.push(name.to_owned());
        let path = self.dir.join(format!("{name}.partial"));
        self.send(Msg::Create(path, header))?;
        Ok(FileId(self.names.len() as u32 - 1))
    }

    fn write(&mut self, file: FileId, rows: Box<dyn Rows>) -> Result<(), Error> {
        self.send(Msg::Write(file, rows))
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.tx = None;
        match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|_| {
                Err(Error::Run {
                    tick: 0,
                    message: "the output writer panicked".into(),
                })
            }),
            None => Ok(()),
        }
    }

    fn files(&self) -> Vec<String> {
        self.names.clone()
    }
}

impl Drop for DirSink {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The writer thread's state: open files by id, and one encoding buffer reused for every
/// batch.
#[derive(Default)]
struct Files {
    open: Vec<(PathBuf, BufWriter<File>)>,
    buf: Vec<u8>,
}

impl Files {
    fn handle(&mut self, msg: Msg) -> Result<(), Error> {
        match msg {
            Msg::Create(path, header) => {
                let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
                let mut w = BufWriter::with_capacity(1 << 16, file);
                w.write_all(&header).map_err(|e| Error::io(&path, e))?;
                self.open.push((path, w));
            }
            Msg::Write(id, rows) => {
                let Some((path, w)) = self.open.get_mut(id.0 as usize) else {
                    return Err(Error::Run {
                        tick: 0,
                        message: format!("write to file {} that was never created", id.0),
                    });
                };
                self.buf.clear();
                rows.encode(&mut self.buf);
                w.write_all(&self.buf)
                    .map_err(|e| Error::io(path.as_path(), e))?;
                // One huge snapshot must not pin its buffer for the rest of the run.
                if self.buf.capacity() > 64 << 20 {
                    self.buf = Vec::new();
                }
            }
        }
        Ok(())
    }

    fn complete(&mut self) -> Result<(), Error> {
        for (path, mut w) in self.open.drain(..) {
            w.flush().map_err(|e| Error::io(&path, e))?;
            let done = path.with_extension("");
            std::fs::rename(&path, &done).map_err(|e| Error::io(&done, e))?;
        }
        Ok(())
    }

    /// After an I/O error the files stay `.partial`: they are incomplete and must not look
    /// complete.
    fn keep_partials(&mut self) {
        for (_, mut w) in self.open.drain(..) {
            let _ = w.flush();
        }
    }
}

/// Writes `bytes` to `path` through `path.partial` and a rename, so a crash never leaves a
/// half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = PathBuf::from(format!("{}.partial", path.display()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_partial_until_finished() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = DirSink::create(dir.path()).unwrap();
        let a = sink.create("a.csv", b"h\n".to_vec()).unwrap();
        let b = sink.create("b.bin", Vec::new()).unwrap();
        sink.write(a, Box::new("1\n".to_owned())).unwrap();
        sink.write(b, Box::new(vec![1u8, 2, 3])).unwrap();
        assert!(sink.create("a.csv", Vec::new()).is_err());
        sink.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.csv")).unwrap(),
            "h\n1\n"
        );
        assert_eq!(std::fs::read(dir.path().join("b.bin")).unwrap(), [1, 2, 3]);
        assert!(!dir.path().join("a.csv.partial").exists());
        assert_eq!(sink.files(), ["a.csv", "b.bin"]);
    }

    #[test]
    fn a_write_error_keeps_the_partials_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = DirSink::create(&dir.path().join("missing")).unwrap();
        let _ = sink.create("a.csv", b"h\n".to_vec());
        let err = sink.finish().unwrap_err();
        assert!(err.to_string().contains("a.csv.partial"), "{err}");
    }
}
