//! Reading `events_changes.csv`: the regime changes the run's detectors found, marked on the
//! charts of the metrics they watch.

use std::path::Path;

use csv::ByteRecord;
use serde::Serialize;

use super::ReplayError;
use super::csvio::CsvFile;

const EXPECTED_HEADER: &str = "tick,name,metric,detector,direction,value,statistic";

/// Markers beyond this many per run would hide the lines they annotate.
const MAX_CHANGES: usize = 200;

/// One detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Change {
    pub(super) tick: u64,
    pub(super) name: String,
    pub(super) metric: String,
    pub(super) direction: String,
}

/// Reads `path`; a run without detectors has no such file, which is no change at all.
pub(super) fn read(path: &Path) -> Result<Vec<Change>, ReplayError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut csv = CsvFile::open(path, "the run had change detectors")?;
    let c_tick = csv.column("tick", EXPECTED_HEADER)?;
    let c_name = csv.column("name", EXPECTED_HEADER)?;
    let c_metric = csv.column("metric", EXPECTED_HEADER)?;
    let c_dir = csv.column("direction", EXPECTED_HEADER)?;
    let mut out = Vec::new();
    let mut record = ByteRecord::new();
    while csv.next(&mut record)? && out.len() < MAX_CHANGES {
        let text =
            |c: usize| String::from_utf8_lossy(record.get(c).unwrap_or_default()).into_owned();
        out.push(Change {
            tick: csv.uint(&record, c_tick, "a non-negative integer tick")?,
            name: text(c_name),
            metric: text(c_metric),
            direction: text(c_dir),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_detections_and_tolerates_their_absence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events_changes.csv");
        assert!(read(&path).unwrap().is_empty());
        std::fs::write(
            &path,
            format!("{EXPECTED_HEADER}\n120,order,polarization,threshold,up,0.81,0.81\n"),
        )
        .unwrap();
        let got = read(&path).unwrap();
        assert_eq!(
            got,
            [Change {
                tick: 120,
                name: "order".into(),
                metric: "polarization".into(),
                direction: "up".into()
            }]
        );
        std::fs::write(&path, format!("{EXPECTED_HEADER}\nx,o,p,t,up,1,1\n")).unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("`tick`"));
    }
}
