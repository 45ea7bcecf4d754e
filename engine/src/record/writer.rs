//! The background writer: rows travel over a bounded crossbeam channel to one thread that owns
//! the files, so formatting and disk latency stay off the simulation thread while memory stays
//! bounded (a full channel makes the simulation wait rather than buffer the run).

use super::{OutputSink, SnapshotRow};
use crate::error::Error;
use crossbeam_channel::{Sender, bounded};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Messages in flight; about 64 snapshots of any size or many thousands of metric rows.
const CHANNEL_CAPACITY: usize = 64;

enum Msg {
    Begin(Vec<String>),
    Metrics(u64, Vec<f64>),
    Snapshot(u64, Vec<SnapshotRow>),
}

/// Writes `metrics.csv` and `snapshots.csv` into a run folder from a background thread.
/// Files are written as `name.partial` and renamed when complete.
pub struct DirSink {
    tx: Option<Sender<Msg>>,
    handle: Option<JoinHandle<Result<(), Error>>>,
}

impl std::fmt::Debug for DirSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirSink").finish_non_exhaustive()
    }
}

impl DirSink {
    /// Starts the writer for `dir` (which must exist).
    pub fn create(dir: &Path) -> Result<DirSink, Error> {
        let (tx, rx) = bounded::<Msg>(CHANNEL_CAPACITY);
        let dir = dir.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("agora-writer".into())
            .spawn(move || {
                let mut files = Files::new(dir);
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
    fn begin(&mut self, metric_columns: &[String]) -> Result<(), Error> {
        self.send(Msg::Begin(metric_columns.to_vec()))
    }
    fn metrics(&mut self, tick: u64, values: &[f64]) -> Result<(), Error> {
        self.send(Msg::Metrics(tick, values.to_vec()))
    }
    fn snapshot(&mut self, tick: u64, rows: Vec<SnapshotRow>) -> Result<(), Error> {
        self.send(Msg::Snapshot(tick, rows))
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
}

impl Drop for DirSink {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

struct Files {
    dir: PathBuf,
    metrics: Option<(PathBuf, BufWriter<File>)>,
    snapshots: Option<(PathBuf, BufWriter<File>)>,
    line: String,
}

fn partial(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.partial"))
}

fn create(path: &Path) -> Result<BufWriter<File>, Error> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 16, f))
        .map_err(|e| Error::io(path, e))
}

impl Files {
    fn new(dir: PathBuf) -> Files {
        Files {
            dir,
            metrics: None,
            snapshots: None,
            line: String::with_capacity(256),
        }
    }

    fn handle(&mut self, msg: Msg) -> Result<(), Error> {
        use std::fmt::Write as _;
        match msg {
            Msg::Begin(columns) => {
                let path = partial(&self.dir, "metrics.csv");
                let mut w = create(&path)?;
                let mut header = String::from("tick");
                for c in &columns {
                    header.push(',');
                    header.push_str(c);
                }
                header.push('\n');
                w.write_all(header.as_bytes())
                    .map_err(|e| Error::io(&path, e))?;
                self.metrics = Some((path, w));
            }
            Msg::Metrics(tick, values) => {
                let Some((path, w)) = self.metrics.as_mut() else {
                    return Ok(());
                };
                self.line.clear();
                let _ = write!(self.line, "{tick}");
                for v in values {
                    let _ = write!(self.line, ",{v}");
                }
                self.line.push('\n');
                w.write_all(self.line.as_bytes())
                    .map_err(|e| Error::io(path.as_path(), e))?;
            }
            Msg::Snapshot(tick, rows) => {
                if self.snapshots.is_none() {
                    let path = partial(&self.dir, "snapshots.csv");
                    let mut w = create(&path)?;
                    w.write_all(b"tick,agent,population,x,y,heading,state\n")
                        .map_err(|e| Error::io(&path, e))?;
                    self.snapshots = Some((path, w));
                }
                let Some((path, w)) = self.snapshots.as_mut() else {
                    return Ok(());
                };
                for r in rows {
                    self.line.clear();
                    let _ = write!(
                        self.line,
                        "{tick},{},{},{},{},",
                        r.agent, r.population, r.x, r.y
                    );
                    if let Some(h) = r.heading {
                        let _ = write!(self.line, "{h}");
                    }
                    let _ = writeln!(self.line, ",{}", r.state);
                    w.write_all(self.line.as_bytes())
                        .map_err(|e| Error::io(path.as_path(), e))?;
                }
            }
        }
        Ok(())
    }

    fn complete(&mut self) -> Result<(), Error> {
        for slot in [&mut self.metrics, &mut self.snapshots] {
            if let Some((path, mut w)) = slot.take() {
                w.flush().map_err(|e| Error::io(&path, e))?;
                let done = path.with_extension("");
                std::fs::rename(&path, &done).map_err(|e| Error::io(&done, e))?;
            }
        }
        Ok(())
    }

    /// After an I/O error the files stay `.partial`: they are incomplete and must not look
    /// complete.
    fn keep_partials(&mut self) {
        for (_, mut w) in [self.metrics.take(), self.snapshots.take()]
            .into_iter()
            .flatten()
        {
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
