//! Expansion of a sweep file into its ordered list of runs.
//!
//! Order: cells are the mixed-radix product of the axes with the last axis varying fastest
//! (like nested loops in file order); each cell's replications follow each other. So run
//! `index = cell * replications + replication`. The list is a pure function of the file.
//!
//! Identity: a run's id is `hex16(fnv1a64(canonical_json({"overrides": {path: value, ..},
//! "seed": seed, "variant": label or null})))` where `overrides` holds every assignment the run
//! applies (axis values and the variant's overrides). It does not depend on the run's
//! position, so reordering or extending axes keeps the ids of unchanged runs.

use super::file::{Replication, SweepFile};
use super::hash::{canonical_json, derive_seed, fnv1a64, hex16};
use super::overrides::{FieldPath, OverrideError, set_path};
use serde_json::{Map, Value};

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Position in the full plan (0-based), the key for sharding.
    pub index: usize,
    /// Parameter cell (0-based): runs that differ only in seed share it.
    pub cell: usize,
    /// Stable 16-hex-digit id (see the module docs).
    pub run_id: String,
    /// The run's seed.
    pub seed: u64,
    /// Replication number within the cell (0-based).
    pub replication: u32,
    /// Swept values, one per [`SweepPlan::columns`] entry, in that order.
    pub params: Vec<(FieldPath, Value)>,
    /// Variant label (labels of several `Variants` axes joined with `+`); none without one.
    pub variant: Option<String>,
    /// The variant's overrides (empty without one).
    pub variant_overrides: Vec<(FieldPath, Value)>,
}

impl RunSpec {
    /// Every assignment this run makes: swept values, then the variant's overrides.
    pub fn overrides(&self) -> impl Iterator<Item = &(FieldPath, Value)> {
        self.params.iter().chain(&self.variant_overrides)
    }

    /// Applies [`RunSpec::overrides`] to a scenario tree. Setting the seed is left to the
    /// caller, which knows where its scenario keeps it.
    pub fn apply(&self, scenario: &mut Value) -> Result<(), OverrideError> {
        for (path, value) in self.overrides() {
            set_path(scenario, path, value.clone())?;
        }
        Ok(())
    }
}

/// The expanded sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPlan {
    /// Swept paths, in column order (axis order, then member/dimension order).
    pub columns: Vec<FieldPath>,
    /// Whether some axis is a `Variants` axis.
    pub has_variants: bool,
    /// Number of parameter cells.
    pub cells: usize,
    /// Runs per cell.
    pub replications: usize,
    /// All runs, in index order.
    pub runs: Vec<RunSpec>,
    /// `hex16(fnv1a64)` of the run ids joined by newlines: equal plans have equal hashes.
    pub hash: String,
}

/// Why a sweep could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// The product of the axes does not fit in memory.
    #[error("the sweep has {cells} cells x {replications} replications, more than can be listed")]
    TooManyRuns {
        /// Cells (saturated).
        cells: usize,
        /// Replications per cell.
        replications: usize,
    },
    /// Two runs have the same id: the same overrides, variant and seed twice.
    #[error("runs {first} and {second} are identical (id {run_id}); remove the repeated value")]
    DuplicateRun {
        /// The id.
        run_id: String,
        /// Index of the first.
        first: usize,
        /// Index of the second.
        second: usize,
    },
}

/// Expands a validated sweep file into its runs.
pub fn expand(file: &SweepFile) -> Result<SweepPlan, ExpandError> {
    let reps = file.replication.count();
    let mut cells: usize = 1;
    for axis in &file.axes {
        cells = cells
            .checked_mul(axis.len())
            .ok_or(ExpandError::TooManyRuns {
                cells: usize::MAX,
                replications: reps,
            })?;
    }
    let total = cells
        .checked_mul(reps)
        .filter(|&t| t <= isize::MAX as usize / 256);
    let total = total.ok_or(ExpandError::TooManyRuns {
        cells,
        replications: reps,
    })?;
    let columns: Vec<FieldPath> = file.axes.iter().flat_map(|a| a.columns.clone()).collect();
    let has_variants = file.axes.iter().any(|a| !a.variants.is_empty());

    let mut runs = Vec::with_capacity(total);
    let mut digits = vec![0usize; file.axes.len()];
    for cell in 0..cells {
        let mut rest = cell;
        for (d, axis) in digits.iter_mut().zip(&file.axes).rev() {
            *d = rest % axis.len();
            rest /= axis.len();
        }
        let mut params = Vec::with_capacity(columns.len());
        let mut labels: Vec<&str> = Vec::new();
        let mut variant_overrides = Vec::new();
        for (&d, axis) in digits.iter().zip(&file.axes) {
            for (c, value) in axis.columns.iter().zip(&axis.points[d]) {
                params.push((c.clone(), value.clone()));
            }
            if let Some(v) = axis.variants.get(d) {
                labels.push(&v.name);
                variant_overrides.extend(v.overrides.iter().cloned());
            }
        }
        let variant = (!labels.is_empty()).then(|| labels.join("+"));
        let mut overrides = Map::new();
        for (path, value) in params.iter().chain(&variant_overrides) {
            overrides.insert(path.to_string(), value.clone());
        }
        let mut key = Map::new();
        key.insert("overrides".into(), Value::Object(overrides));
        key.insert(
            "variant".into(),
            variant.clone().map_or(Value::Null, Value::String),
        );
        let cell_hash = fnv1a64(canonical_json(&Value::Object(key.clone())).as_bytes());
        for rep in 0..reps {
            let seed = match &file.replication {
                Replication::Derived(_) => derive_seed(file.seed, cell_hash, rep as u32),
                Replication::Listed(seeds) => seeds[rep],
            };
            key.insert("seed".into(), Value::from(seed));
            let run_id = hex16(fnv1a64(
                canonical_json(&Value::Object(key.clone())).as_bytes(),
            ));
            runs.push(RunSpec {
                index: runs.len(),
                cell,
                run_id,
                seed,
                replication: rep as u32,
                params: params.clone(),
                variant: variant.clone(),
                variant_overrides: variant_overrides.clone(),
            });
        }
    }

    let mut by_id: Vec<(&str, usize)> = runs.iter().map(|r| (r.run_id.as_str(), r.index)).collect();
    by_id.sort_unstable();
    if let Some(w) = by_id.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ExpandError::DuplicateRun {
            run_id: w[0].0.to_owned(),
            first: w[0].1.min(w[1].1),
            second: w[0].1.max(w[1].1),
        });
    }
    let mut ids = String::with_capacity(runs.len() * 17);
    for r in &runs {
        ids.push_str(&r.run_id);
        ids.push('\n');
    }
    Ok(SweepPlan {
        columns,
        has_variants,
        cells,
        replications: reps,
        hash: hex16(fnv1a64(ids.as_bytes())),
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn plan(axes: &str, reps: &str) -> SweepPlan {
        let text = format!("(schema: 1, base: \"b.ron\", seed: 11, {reps} axes: [{axes}])");
        expand(&SweepFile::parse(&text, Path::new("s.ron")).unwrap()).unwrap()
    }

    fn values(r: &RunSpec) -> Vec<Value> {
        r.params.iter().map(|(_, v)| v.clone()).collect()
    }

    #[test]
    fn full_factorial_product_with_last_axis_fastest() {
        let p = plan(
            "Values(path: \"a\", values: [1, 2]), Values(path: \"b\", values: [x, y, z])",
            "replications: 2,",
        );
        assert_eq!(p.cells, 6);
        assert_eq!(p.runs.len(), 12);
        let cells: Vec<Vec<Value>> = p.runs.iter().step_by(2).map(values).collect();
        assert_eq!(
            cells,
            [
                [json!(1), json!("x")],
                [json!(1), json!("y")],
                [json!(1), json!("z")],
                [json!(2), json!("x")],
                [json!(2), json!("y")],
                [json!(2), json!("z")],
            ]
        );
        for (i, r) in p.runs.iter().enumerate() {
            assert_eq!((r.index, r.cell, r.replication as usize), (i, i / 2, i % 2));
        }
        // Replications of one cell have different seeds; all ids distinct.
        assert_ne!(p.runs[0].seed, p.runs[1].seed);
        let mut ids: Vec<&str> = p.runs.iter().map(|r| r.run_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 12);
    }

    #[test]
    fn zip_advances_together_and_variants_form_an_axis() {
        let p = plan(
            "Zip([Values(path: \"w\", values: [1, 2, 3]), Range(path: \"h\", start: 10, stop: 30, step: 10)]), \
             Variants([(name: \"base\"), (name: \"fast\", set: {\"speed\": 2.0, \"ticks\": 5})])",
            "seeds: [5],",
        );
        assert_eq!(
            p.columns
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["w", "h"]
        );
        assert!(p.has_variants);
        let got: Vec<(Vec<Value>, Option<String>, usize, u64)> = p
            .runs
            .iter()
            .map(|r| {
                (
                    values(r),
                    r.variant.clone(),
                    r.variant_overrides.len(),
                    r.seed,
                )
            })
            .collect();
        let v = |w: i64, h: i64, name: &str, n: usize| {
            (vec![json!(w), json!(h)], Some(name.to_owned()), n, 5)
        };
        assert_eq!(
            got,
            [
                v(1, 10, "base", 0),
                v(1, 10, "fast", 2),
                v(2, 20, "base", 0),
                v(2, 20, "fast", 2),
                v(3, 30, "base", 0),
                v(3, 30, "fast", 2),
            ]
        );
        let mut scenario = json!({"w": 0, "h": 0, "speed": 1.0, "ticks": 100});
        p.runs[1].apply(&mut scenario).unwrap();
        assert_eq!(scenario, json!({"w": 1, "h": 10, "speed": 2.0, "ticks": 5}));
    }

    #[test]
    fn hand_computed_id_and_seed() {
        let p = plan("Values(path: \"a\", values: [1])", "seeds: [7],");
        let key = r#"{"overrides":{"a":1},"seed":7,"variant":null}"#;
        assert_eq!(p.runs[0].run_id, hex16(fnv1a64(key.as_bytes())));
        let p = plan("Values(path: \"a\", values: [1])", "replications: 1,");
        let cell = r#"{"overrides":{"a":1},"variant":null}"#;
        assert_eq!(p.runs[0].seed, derive_seed(11, fnv1a64(cell.as_bytes()), 0));
    }

    #[test]
    fn ids_are_pinned() {
        // These literals are the on-disk contract: changing them breaks resuming old sweeps.
        let p = plan(
            "Values(path: \"populations[0].count\", values: [100, 200]), \
             Variants([(name: \"lossy\", set: {\"comms.loss\": 0.1})])",
            "replications: 2,",
        );
        let got: Vec<(&str, u64)> = p.runs.iter().map(|r| (r.run_id.as_str(), r.seed)).collect();
        assert_eq!(got, PINNED);
        assert_eq!(p.hash, PINNED_HASH);
    }

    // Computed independently (a short script implementing FNV-1a and SplitMix64 from their
    // reference descriptions), not copied from this code's output.
    const PINNED: [(&str, u64); 4] = [
        ("e6adaa8e808a24d6", 8_569_055_657_418_330_062),
        ("c16390bea74fb8a3", 11_041_460_320_298_201_761),
        ("8d1b7786ab99aefd", 11_463_716_430_340_631_341),
        ("e5bcbd51734903ec", 9_174_298_365_118_782_362),
    ];
    const PINNED_HASH: &str = "2cca9113573c6139";

    #[test]
    fn ids_do_not_depend_on_position() {
        let a = plan("Values(path: \"x\", values: [1, 2, 3])", "replications: 2,");
        let b = plan("Values(path: \"x\", values: [3, 0, 1])", "replications: 2,");
        let find = |p: &SweepPlan, x: i64| -> Vec<(String, u64)> {
            p.runs
                .iter()
                .filter(|r| r.params[0].1 == json!(x))
                .map(|r| (r.run_id.clone(), r.seed))
                .collect()
        };
        assert_eq!(find(&a, 1), find(&b, 1));
        assert_eq!(find(&a, 3), find(&b, 3));
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn no_axes_gives_one_cell_and_duplicate_runs_are_rejected() {
        let p = plan("", "replications: 3,");
        assert_eq!((p.cells, p.runs.len()), (1, 3));
        assert!(p.columns.is_empty());
        let text =
            "(schema: 1, base: \"b.ron\", seed: 1, axes: [Values(path: \"a\", values: [1, 1])])";
        let err = expand(&SweepFile::parse(text, Path::new("s.ron")).unwrap()).unwrap_err();
        assert!(
            matches!(
                err,
                ExpandError::DuplicateRun {
                    first: 0,
                    second: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn sample_axis_expands_to_its_points() {
        let p = plan(
            "Sample(method: LatinHypercube, n: 4, seed: 2, dims: [(path: \"a\", min: 0.0, max: 1.0), (path: \"b\", min: 1.0, max: 2.0)])",
            "",
        );
        assert_eq!(p.runs.len(), 4);
        let mut strata: Vec<usize> = p
            .runs
            .iter()
            .map(|r| (r.params[0].1.as_f64().unwrap() * 4.0) as usize)
            .collect();
        strata.sort_unstable();
        assert_eq!(strata, [0, 1, 2, 3]);
    }

    proptest::proptest! {
        #[test]
        fn product_sizes_unique_ids_and_consistent_indices(
            lens in proptest::collection::vec(1usize..5, 0..4),
            reps in 1u32..4,
            shards in 1usize..5,
        ) {
            let axes: Vec<String> = lens
                .iter()
                .enumerate()
                .map(|(a, &n)| {
                    let vals: Vec<String> = (0..n).map(|v| v.to_string()).collect();
                    format!("Values(path: \"p{a}\", values: [{}])", vals.join(", "))
                })
                .collect();
            let p = plan(&axes.join(", "), &format!("replications: {reps},"));
            let cells: usize = lens.iter().product();
            proptest::prop_assert_eq!(p.cells, cells);
            proptest::prop_assert_eq!(p.runs.len(), cells * reps as usize);
            let mut ids: Vec<&str> = p.runs.iter().map(|r| r.run_id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            proptest::prop_assert_eq!(ids.len(), p.runs.len());
            for r in &p.runs {
                proptest::prop_assert_eq!(r.index, r.cell * reps as usize + r.replication as usize);
                // Mixed radix, last axis fastest.
                let mut rest = r.cell;
                for (k, &n) in lens.iter().enumerate().rev() {
                    proptest::prop_assert_eq!(&r.params[k].1, &json!(rest % n));
                    rest /= n;
                }
            }
            let mut owners = vec![0usize; p.runs.len()];
            for i in 0..shards {
                let s = super::super::shard::Shard::new(i, shards).unwrap();
                for r in p.runs.iter().filter(|r| s.contains(r.index)) {
                    owners[r.index] += 1;
                }
            }
            proptest::prop_assert!(owners.iter().all(|&o| o == 1));
        }
    }
}
