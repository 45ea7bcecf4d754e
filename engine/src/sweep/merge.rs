//! Joining the results tables of several shard (or resumed) directories into one.
//!
//! Rules for rows with the same run id, within one table or across tables:
//! - rows that hold the same result (all columns equal but `wall_time_s`) are one row: the
//!   first is kept;
//! - an `ok` row wins over `failed` rows (a failure that was re-run successfully);
//! - of several `failed` rows, the last one read is kept (tables in argument order, rows in
//!   file order, so the most recent attempt of a resumed directory);
//! - two `ok` rows with different results are an error: the run is not reproducible, or the
//!   tables come from different base scenarios.
//!
//! The merged table is written to `out/results.csv` in plan order when the plan is given,
//! otherwise sorted by run id; with a plan, runs without a row are listed as missing so they
//! can be resubmitted.

use super::expand::SweepPlan;
use super::manifest::Manifest;
use super::table::{
    Layout, RESULTS_FILE, RowEncoder, Status, Table, TableError, read_table, same_result,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A run of the plan without any row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRun {
    /// Plan index.
    pub index: usize,
    /// Run id.
    pub run_id: String,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// The merged table.
    pub output: PathBuf,
    /// Rows written.
    pub rows: usize,
    /// Rows read from all inputs.
    pub rows_read: usize,
    /// Rows dropped as duplicates of an equal row.
    pub duplicates: usize,
    /// Failed rows dropped because the run also has an ok row, or a later failed one.
    pub superseded: usize,
    /// Run ids whose kept row is `failed`, in output order.
    pub failed: Vec<String>,
    /// Plan runs without a row (empty without a plan).
    pub missing: Vec<MissingRun>,
}

impl MergeReport {
    /// The shards (of `count`) holding missing or failed runs: the array indices to resubmit.
    pub fn shards_to_rerun(&self, plan: &SweepPlan, count: usize) -> Vec<usize> {
        let count = count.max(1);
        let failed: std::collections::BTreeSet<&str> =
            self.failed.iter().map(String::as_str).collect();
        let mut shards: Vec<usize> = self
            .missing
            .iter()
            .map(|m| m.index % count)
            .chain(
                plan.runs
                    .iter()
                    .filter(|r| failed.contains(r.run_id.as_str()))
                    .map(|r| r.index % count),
            )
            .collect();
        shards.sort_unstable();
        shards.dedup();
        shards
    }
}

/// Why tables could not be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// No input directories.
    #[error("nothing to merge; expected at least one directory")]
    NoInputs,
    /// Reading a table failed.
    #[error(transparent)]
    Table(#[from] TableError),
    /// Reading a manifest or writing the output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Two tables have different columns.
    #[error("{second} has other columns than {first}: {difference}")]
    HeaderMismatch {
        /// The first table.
        first: PathBuf,
        /// The disagreeing one.
        second: PathBuf,
        /// The first differing column.
        difference: String,
    },
    /// Two inputs (or an input and the plan) come from different sweeps.
    #[error("{dir} comes from another sweep (plan {found}, expected {expected})")]
    PlanMismatch {
        /// The directory.
        dir: PathBuf,
        /// Its manifest's plan hash.
        found: String,
        /// The expected plan hash.
        expected: String,
    },
    /// Two inputs were run from different base scenarios.
    #[error("{dir} was run from another base scenario (digest {found}, expected {expected})")]
    BaseMismatch {
        /// The directory.
        dir: PathBuf,
        /// Its manifest's base digest.
        found: String,
        /// The first directory's base digest.
        expected: String,
    },
    /// Two ok rows of one run disagree.
    #[error(
        "run {run_id} has two different ok results (in {first} and {second}), differing in `{column}`"
    )]
    Conflict {
        /// The run.
        run_id: String,
        /// Where the first came from.
        first: PathBuf,
        /// Where the second came from.
        second: PathBuf,
        /// A differing column.
        column: String,
    },
    /// A row whose run is not in the plan.
    #[error("{path} has run {run_id}, which is not in this sweep")]
    UnknownRun {
        /// The table.
        path: PathBuf,
        /// The run.
        run_id: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MergeError + '_ {
    move |source| MergeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Deduplicated rows of one or more tables, keyed by run id (see the module rules).
#[derive(Debug, Default)]
pub struct RowSet {
    layout: Option<(Layout, PathBuf)>,
    rows: BTreeMap<String, (Vec<String>, usize)>,
    sources: Vec<PathBuf>,
    /// Rows read.
    pub rows_read: usize,
    /// Equal rows dropped.
    pub duplicates: usize,
    /// Failed rows dropped.
    pub superseded: usize,
}

impl RowSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The layout of the tables added so far.
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref().map(|(l, _)| l)
    }

    /// Adds a table read from `path`.
    pub fn add(&mut self, path: &Path, table: Table) -> Result<(), MergeError> {
        match &self.layout {
            None => self.layout = Some((table.layout.clone(), path.to_owned())),
            Some((layout, first)) if *layout != table.layout => {
                let (a, b) = (layout.header(), table.layout.header());
                let difference = a
                    .iter()
                    .zip(&b)
                    .enumerate()
                    .find(|(_, (x, y))| x != y)
                    .map(|(i, (x, y))| format!("column {} is `{y}`, expected `{x}`", i + 1))
                    .unwrap_or_else(|| format!("{} columns, expected {}", b.len(), a.len()));
                return Err(MergeError::HeaderMismatch {
                    first: first.clone(),
                    second: path.to_owned(),
                    difference,
                });
            }
            Some(_) => {}
        }
        let layout = table.layout.clone();
        let status_col = layout.status_col();
        let ok = Status::Ok.as_str();
        let source = self.sources.len();
        self.sources.push(path.to_owned());
        for row in table.rows {
            self.rows_read += 1;
            let id = row[0].clone();
            let Some((kept, kept_source)) = self.rows.get_mut(&id) else {
                self.rows.insert(id, (row, source));
                continue;
            };
            if same_result(&layout, kept, &row) {
                self.duplicates += 1;
                continue;
            }
            match (kept[status_col] == ok, row[status_col] == ok) {
                (true, true) => {
                    let column = kept
                        .iter()
                        .zip(&row)
                        .enumerate()
                        .find(|(i, (a, b))| *i != layout.wall_col() && a != b)
                        .map_or_else(String::new, |(i, _)| layout.header()[i].clone());
                    return Err(MergeError::Conflict {
                        run_id: id,
                        first: self.sources[*kept_source].clone(),
                        second: path.to_owned(),
                        column,
                    });
                }
                (true, false) => self.superseded += 1,
                (false, _) => {
                    *kept = row;
                    *kept_source = source;
                    self.superseded += 1;
                }
            }
        }
        Ok(())
    }

    /// The kept row of a run.
    pub fn get(&self, run_id: &str) -> Option<&[String]> {
        self.rows.get(run_id).map(|(r, _)| r.as_slice())
    }

    /// Kept rows sorted by run id.
    pub fn rows(&self) -> impl Iterator<Item = &[String]> {
        self.rows.values().map(|(r, _)| r.as_slice())
    }

    /// Number of kept rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is kept.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Merges `dirs/results.csv` into `out/results.csv` (`out` may be one of the inputs).
///
/// With a plan, rows are written in plan order, rows of runs outside the plan are an error,
/// and runs without a row are reported missing. Directories whose `sweep.json` names another
/// plan hash than the plan (or than the first directory), or another base scenario digest,
/// are refused.
pub fn merge(
    dirs: &[PathBuf],
    out: &Path,
    plan: Option<&SweepPlan>,
) -> Result<MergeReport, MergeError> {
    if dirs.is_empty() {
        return Err(MergeError::NoInputs);
    }
    let mut expected_hash: Option<String> = plan.map(|p| p.hash.clone());
    let mut expected_base: Option<String> = None;
    let mut set = RowSet::new();
    for dir in dirs {
        if let Some(m) = Manifest::read(dir).map_err(io_err(dir))? {
            match &expected_hash {
                Some(h) if *h != m.plan_hash => {
                    return Err(MergeError::PlanMismatch {
                        dir: dir.clone(),
                        found: m.plan_hash,
                        expected: h.clone(),
                    });
                }
                Some(_) => {}
                None => expected_hash = Some(m.plan_hash),
            }
            match (&expected_base, m.base_digest) {
                (Some(e), Some(found)) if *e != found => {
                    return Err(MergeError::BaseMismatch {
                        dir: dir.clone(),
                        found,
                        expected: e.clone(),
                    });
                }
                (None, found) => expected_base = found,
                _ => {}
            }
        }
        let path = dir.join(RESULTS_FILE);
        let table = read_table(&path)?;
        set.add(&path, table)?;
    }
    let Some(layout) = set.layout().cloned() else {
        return Err(MergeError::NoInputs);
    };

    let mut ordered: Vec<&[String]> = Vec::with_capacity(set.len());
    let mut missing = Vec::new();
    if let Some(plan) = plan {
        let mut in_plan = std::collections::BTreeSet::new();
        for run in &plan.runs {
            in_plan.insert(run.run_id.as_str());
            match set.get(&run.run_id) {
                Some(row) => ordered.push(row),
                None => missing.push(MissingRun {
                    index: run.index,
                    run_id: run.run_id.clone(),
                }),
            }
        }
        if let Some(stray) = set.rows().find(|r| !in_plan.contains(r[0].as_str())) {
            return Err(MergeError::UnknownRun {
                path: dirs[0].join(RESULTS_FILE),
                run_id: stray[0].clone(),
            });
        }
    } else {
        ordered.extend(set.rows());
    }

    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let target = out.join(RESULTS_FILE);
    let tmp = out.join(format!("{RESULTS_FILE}.partial"));
    let mut buf = Vec::new();
    let mut enc = RowEncoder::new();
    buf.extend_from_slice(enc.encode_strings(&layout.header()));
    let status_col = layout.status_col();
    let mut failed = Vec::new();
    for row in &ordered {
        buf.extend_from_slice(enc.encode_strings(row));
        if row[status_col] != Status::Ok.as_str() {
            failed.push(row[0].clone());
        }
    }
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(&buf).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &target).map_err(io_err(&target))?;

    Ok(MergeReport {
        output: target,
        rows: ordered.len(),
        rows_read: set.rows_read,
        duplicates: set.duplicates,
        superseded: set.superseded,
        failed,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::super::expand::RunSpec;
    use super::super::runner::tests::small_plan;
    use super::super::runner::{RunOutcome, RunnerConfig, run_sweep};
    use super::super::shard::{Shard, ShardSource};
    use super::*;

    fn toy(spec: &RunSpec) -> Result<RunOutcome, String> {
        let x = spec.params[0].1.as_f64().unwrap();
        let metrics = [("m".to_owned(), x + (spec.seed % 100) as f64 / 100.0)].into();
        Ok(RunOutcome {
            metrics,
            ..RunOutcome::default()
        })
    }

    fn sweep(plan: &SweepPlan, dir: &Path, shard: Option<Shard>) {
        let mut c = RunnerConfig::new(dir, vec!["m".into()]);
        c.jobs = 2;
        c.shard = shard.map(|s| (s, ShardSource::Explicit));
        run_sweep(plan, &c, toy, |_| {}).unwrap();
    }

    fn rows_without_wall(path: &Path) -> Vec<Vec<String>> {
        let t = read_table(path).unwrap();
        let wall = t.layout.wall_col();
        let mut rows: Vec<Vec<String>> = t
            .rows
            .into_iter()
            .map(|mut r| {
                r[wall].clear();
                r
            })
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn merged_shards_equal_the_unsharded_sweep() {
        let plan = small_plan(7, 3);
        let root = tempfile::tempdir().unwrap();
        let whole = root.path().join("whole");
        sweep(&plan, &whole, None);
        let n = 4;
        let dirs: Vec<PathBuf> = (0..n)
            .map(|i| root.path().join(format!("shards/{i}")))
            .collect();
        for (i, d) in dirs.iter().enumerate() {
            sweep(&plan, d, Some(Shard::new(i, n).unwrap()));
        }
        let out = root.path().join("merged");
        let rep = merge(&dirs, &out, Some(&plan)).unwrap();
        assert_eq!((rep.rows, rep.duplicates, rep.missing.len()), (42, 0, 0));
        assert_eq!(
            rows_without_wall(&out.join(RESULTS_FILE)),
            rows_without_wall(&whole.join(RESULTS_FILE))
        );
        // Plan order in the output.
        let t = read_table(&out.join(RESULTS_FILE)).unwrap();
        let ids: Vec<&str> = t.rows.iter().map(|r| r[0].as_str()).collect();
        let plan_ids: Vec<&str> = plan.runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, plan_ids);
        // Merging a shard twice only adds duplicates; merging without a plan sorts by id.
        let mut twice = dirs.clone();
        twice.push(dirs[1].clone());
        let rep = merge(&twice, &root.path().join("m2"), None).unwrap();
        assert_eq!(rep.rows, 42);
        assert!(rep.duplicates > 0);
    }

    #[test]
    fn missing_runs_are_listed_with_their_shards() {
        let plan = small_plan(5, 2);
        let root = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = (0..3).map(|i| root.path().join(i.to_string())).collect();
        for i in [0, 2] {
            sweep(&plan, &dirs[i], Some(Shard::new(i, 3).unwrap()));
        }
        let rep = merge(
            &[dirs[0].clone(), dirs[2].clone()],
            &root.path().join("out"),
            Some(&plan),
        )
        .unwrap();
        let want: Vec<usize> = (0..20).filter(|i| i % 3 == 1).collect();
        assert_eq!(
            rep.missing.iter().map(|m| m.index).collect::<Vec<_>>(),
            want
        );
        assert_eq!(rep.missing[0].run_id, plan.runs[1].run_id);
        assert_eq!(rep.shards_to_rerun(&plan, 3), [1]);
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(RESULTS_FILE), text).unwrap();
        dir.to_owned()
    }

    const H: &str = "run_id,x,variant,seed,replication,status,ticks,digest,wall_time_s,error,m\n";

    #[test]
    fn duplicate_rules() {
        let root = tempfile::tempdir().unwrap();
        let a = write(
            &root.path().join("a"),
            &format!("{H}r1,1,,5,0,ok,10,aa,0.1,,2.5\nr2,2,,5,0,failed,,,0.1,boom,\n"),
        );
        let b = write(
            &root.path().join("b"),
            &format!(
                "{H}r1,1,,5,0,ok,10,aa,0.9,,2.5\nr2,2,,5,0,ok,10,aa,0.2,,7\nr3,3,,5,0,failed,,,0.1,first,\n"
            ),
        );
        let c = write(
            &root.path().join("c"),
            &format!("{H}r3,3,,5,0,failed,,,0.1,second,\nr2,2,,5,0,failed,,,0.3,late,\n"),
        );
        let rep = merge(&[a, b, c], &root.path().join("o"), None).unwrap();
        assert_eq!(
            (rep.rows, rep.rows_read, rep.duplicates, rep.superseded),
            (3, 7, 1, 3)
        );
        assert_eq!(rep.failed, ["r3"]);
        let text = std::fs::read_to_string(root.path().join("o").join(RESULTS_FILE)).unwrap();
        assert_eq!(
            text,
            format!(
                "{H}r1,1,,5,0,ok,10,aa,0.1,,2.5\nr2,2,,5,0,ok,10,aa,0.2,,7\nr3,3,,5,0,failed,,,0.1,second,\n"
            )
        );

        let d = write(
            &root.path().join("d"),
            &format!("{H}r1,1,,5,0,ok,10,aa,0.1,,2.6\n"),
        );
        let err = merge(&[root.path().join("a"), d], &root.path().join("o2"), None).unwrap_err();
        assert!(
            matches!(&err, MergeError::Conflict { run_id, column, .. } if run_id == "r1" && column == "m"),
            "{err}"
        );

        let e = write(
            &root.path().join("e"),
            "run_id,x,variant,seed,replication,status,ticks,digest,wall_time_s,error,other\n",
        );
        let err = merge(&[root.path().join("a"), e], &root.path().join("o3"), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("column 11 is `other`, expected `m`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_runs_and_foreign_plans_are_refused() {
        let plan = small_plan(2, 1);
        let other = small_plan(3, 1);
        let root = tempfile::tempdir().unwrap();
        let a = root.path().join("a");
        sweep(&other, &a, None);
        let err = merge(
            std::slice::from_ref(&a),
            &root.path().join("o"),
            Some(&plan),
        )
        .unwrap_err();
        assert!(matches!(err, MergeError::PlanMismatch { .. }), "{err}");
        std::fs::remove_file(a.join("sweep.json")).unwrap();
        let err = merge(&[a], &root.path().join("o"), Some(&plan)).unwrap_err();
        assert!(matches!(err, MergeError::UnknownRun { .. }), "{err}");
    }

    #[test]
    fn shards_from_different_base_scenarios_are_refused() {
        let plan = small_plan(3, 1);
        let root = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = (0..2).map(|i| root.path().join(i.to_string())).collect();
        for (i, d) in dirs.iter().enumerate() {
            let mut c = RunnerConfig::new(d, vec!["m".into()]);
            c.shard = Some((Shard::new(i, 2).unwrap(), ShardSource::Explicit));
            c.base_digest = Some(format!("base{i}"));
            run_sweep(&plan, &c, toy, |_| {}).unwrap();
        }
        let err = merge(&dirs, &root.path().join("o"), Some(&plan)).unwrap_err();
        assert!(matches!(err, MergeError::BaseMismatch { .. }), "{err}");
    }
}
