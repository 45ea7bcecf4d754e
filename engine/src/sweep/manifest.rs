//! `sweep.json`: what a sweep directory holds and how far it got.

use super::shard::{Shard, ShardSource};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// File name of the manifest in a sweep directory.
pub const MANIFEST_FILE: &str = "sweep.json";

/// The shard a directory holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// 0-based index.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
    /// `explicit`, `slurm-array`, `kubernetes-index` or `launcher`.
    pub source: String,
}

impl ShardInfo {
    /// From a resolved shard.
    pub fn new(shard: Shard, source: ShardSource) -> ShardInfo {
        ShardInfo {
            index: shard.index,
            count: shard.count,
            source: source.as_str().to_owned(),
        }
    }
}

/// Contents of `sweep.json`. Unknown fields are accepted when reading so that newer writers
/// stay readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub schema: u32,
    /// Version string supplied by the caller.
    pub agora_version: String,
    /// Absolute path of the sweep file, when known.
    pub sweep_file: Option<PathBuf>,
    /// [`super::expand::SweepPlan::hash`] of the full plan (all shards).
    pub plan_hash: String,
    /// Digest of the base scenario, as computed by the caller (none if not given).
    #[serde(default)]
    pub base_digest: Option<String>,
    /// Runs in the full plan.
    pub runs_total: usize,
    /// Parameter cells in the full plan.
    pub cells: usize,
    /// Runs per cell.
    pub replications: usize,
    /// The shard, or none for the whole plan.
    pub shard: Option<ShardInfo>,
    /// Runs in this shard.
    pub runs_in_shard: usize,
    /// Runs skipped because an earlier invocation finished them (`--resume`).
    pub skipped_done: usize,
    /// Runs finished ok by this invocation.
    pub ok: usize,
    /// Runs failed in this invocation.
    pub failed: usize,
    /// Runs not started because of a stop request or a write error.
    pub not_run: usize,
    /// Worker threads.
    pub jobs: usize,
    /// Whether this invocation resumed.
    pub resume: bool,
    /// `running`, `complete` (every run of the shard has a row), `interrupted` or `error`.
    pub state: String,
    /// Start of this invocation, RFC 3339 UTC.
    pub started: String,
    /// End of this invocation, RFC 3339 UTC.
    pub finished: Option<String>,
    /// Swept columns.
    pub columns: Vec<String>,
    /// Metric columns.
    pub metrics: Vec<String>,
}

impl Manifest {
    /// Writes `dir/sweep.json` atomically (temporary file, then rename).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!("{MANIFEST_FILE}.partial"));
        let mut f = std::fs::File::create(&tmp)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join(MANIFEST_FILE))
    }

    /// Reads `dir/sweep.json`; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> std::io::Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `time` as RFC 3339 UTC with second precision, e.g. `2026-11-26T21:41:00Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (H. Hinnant), valid for the whole proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_matches_known_instants() {
        let at = |s: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
