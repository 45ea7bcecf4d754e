//! The sweep file: what to vary, how many seeds, and which scenario to start from.
//!
//! ```ron
//! (
//!     schema: 1,
//!     name: "speed-vs-loss",           // optional, free text
//!     base: "flocking.ron",           // relative to this file; or inline: base: ( ... )
//!     seed: 7,                        // sweep seed: replication seeds derive from it
//!     replications: 5,                // or seeds: [1, 2, 3] (the same seeds in every cell)
//!     axes: [
//!         Values(path: "populations[0].count", values: [100, 200, 400]),
//!         Range(path: "comms.loss", start: 0.0, stop: 0.3, step: 0.1),
//!         Zip([
//!             Values(path: "world.width", values: [50.0, 100.0]),
//!             Values(path: "world.height", values: [50.0, 100.0]),
//!         ]),
//!         Variants([
//!             (name: "baseline", set: {}),
//!             (name: "fast", set: {"populations[0].params.speed": 2.0, "ticks": 50}),
//!         ]),
//!         Sample(method: LatinHypercube, n: 8, seed: 3, dims: [
//!             (path: "populations[0].params.cohesion", min: 0.0, max: 1.0),
//!         ]),
//!     ],
//! )
//! ```
//!
//! Values are written exactly as for `--set` ([`parse_value`]): RON literals, and bare
//! identifiers (`Torus`) as strings. Axes combine as a full factorial product; the members of a
//! `Zip` advance together; a `Variants` axis contributes the `variant` column; a `Sample` axis
//! contributes `n` points jointly over its dimensions.
//!
//! Numeric ranges: if `start`, `stop` and `step` are all integers the values are integers;
//! otherwise value `i` is `start + i * step` (not a running sum, so error does not accumulate),
//! rounded to 12 significant digits so that `0.1` steps give `0.3` and not
//! `0.30000000000000004`. `stop` is included when it is reached within `1e-9` steps.

use super::overrides::{FieldPath, OverrideError, parse_value};
use crate::scenario::Locator;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Number, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The only schema version this code reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Ranges longer than this are refused: they are almost certainly a wrong step.
pub const MAX_RANGE_LEN: usize = 1_000_000;

/// Why a sweep file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepFileError {
    /// The file could not be read.
    #[error("cannot read sweep file {file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// RON syntax or structure error.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The file (or `<inline>`).
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What ron expected or found.
        message: String,
    },
    /// `schema` is not [`SCHEMA_VERSION`].
    #[error("{file}: unsupported sweep schema {found}; expected schema: 1")]
    Schema {
        /// The file.
        file: PathBuf,
        /// The version found.
        found: u32,
    },
    /// A problem with the file's content, other than with one axis.
    #[error("{file}{at}: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Where in the file, when known.
        at: At,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A problem with one axis.
    #[error("{file}{at}: {axis}: {message}")]
    Axis {
        /// The file.
        file: PathBuf,
        /// Where the axis starts, when known.
        at: At,
        /// Which axis, e.g. ``axis 2 (`comms.loss`)``.
        axis: String,
        /// What is wrong and what was expected.
        message: String,
    },
}

/// A 1-based `(line, column)` in a sweep file, displayed as `:line:column` (nothing when
/// unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct At(pub Option<(usize, usize)>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((line, column)) => write!(f, ":{line}:{column}"),
            None => Ok(()),
        }
    }
}

/// Where the base scenario comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BaseScenario {
    /// A scenario file; relative paths in the sweep file are resolved against the sweep file's
    /// directory.
    File(PathBuf),
    /// The scenario written inline, as RON text for the caller's scenario loader. File-level
    /// RON extensions (`#![enable(...)]`) of the sweep file do not carry over to it.
    Inline(String),
}

/// How many runs per parameter cell, and with which seeds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replication {
    /// `replications: N`: seeds derived by [`super::hash::derive_seed`] (default: 1).
    Derived(u32),
    /// `seeds: [..]`: these seeds in every cell (common random numbers across cells).
    Listed(Vec<u64>),
}

impl Replication {
    /// Runs per cell.
    pub fn count(&self) -> usize {
        match self {
            Replication::Derived(n) => *n as usize,
            Replication::Listed(seeds) => seeds.len(),
        }
    }
}

/// The kind of an axis, kept for messages and the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AxisKind {
    /// `Values(..)`.
    Values,
    /// `Range(..)`.
    Range,
    /// `Zip([..])`.
    Zip,
    /// `Variants([..])`.
    Variants,
    /// `Sample(method: Random, ..)`.
    Random,
    /// `Sample(method: LatinHypercube, ..)`.
    LatinHypercube,
}

/// A named set of overrides (one point of a `Variants` axis).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The label written to the `variant` column.
    pub name: String,
    /// Overrides, in path order.
    pub overrides: Vec<(FieldPath, Value)>,
}

/// One validated axis, reduced to its list of points.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// What the file wrote.
    pub kind: AxisKind,
    /// Name used in messages, e.g. ``axis 2 (`comms.loss`)``.
    pub label: String,
    /// The result columns this axis sets (empty for `Variants`).
    pub columns: Vec<FieldPath>,
    /// Values per point: `points[p][c]` is the value of `columns[c]` at point `p`. For
    /// `Variants` each inner vector is empty.
    pub points: Vec<Vec<Value>>,
    /// The variants, for a `Variants` axis (same length as `points`); empty otherwise.
    pub variants: Vec<Variant>,
}

impl Axis {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Always false for a validated axis (empty axes are rejected).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// A validated sweep file.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepFile {
    /// Where it was read from (`<inline>` when parsed from text without a path).
    pub path: PathBuf,
    /// Free-text name (default: none).
    pub name: Option<String>,
    /// The scenario every run starts from.
    pub base: BaseScenario,
    /// The sweep seed.
    pub seed: u64,
    /// Runs per cell.
    pub replication: Replication,
    /// Axes in file order; the last one varies fastest.
    pub axes: Vec<Axis>,
    /// Where the `base` value starts in the file, so that errors in an inline base scenario
    /// can point into the sweep file.
    pub base_at: At,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    schema: u32,
    #[serde(default)]
    name: Option<String>,
    base: Box<ron::value::RawValue>,
    seed: u64,
    #[serde(default)]
    replications: Option<u32>,
    #[serde(default)]
    seeds: Option<Vec<u64>>,
    #[serde(default)]
    axes: Vec<RawAxis>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
enum RawAxis {
    Values {
        path: String,
        values: Vec<Box<ron::value::RawValue>>,
    },
    Range {
        path: String,
        start: Box<ron::value::RawValue>,
        stop: Box<ron::value::RawValue>,
        step: Box<ron::value::RawValue>,
    },
    Zip(Vec<RawAxis>),
    Variants(Vec<RawVariant>),
    Sample {
        method: SampleMethod,
        n: usize,
        seed: u64,
        dims: Vec<RawDim>,
    },
}

/// How a `Sample` axis draws its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum SampleMethod {
    /// Independent uniform draws per dimension.
    Random,
    /// Latin hypercube: each dimension's range is cut into `n` equal strata and every stratum
    /// holds exactly one point.
    LatinHypercube,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: String,
    #[serde(default)]
    set: OverrideMap,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDim {
    path: String,
    min: f64,
    max: f64,
}

/// A RON map of `"path": value` that keeps file order and rejects repeated keys (a plain
/// `BTreeMap` would silently keep the last one).
#[derive(Default)]
struct OverrideMap(Vec<(String, Box<ron::value::RawValue>)>);

impl<'de> Deserialize<'de> for OverrideMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OverrideMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of \"field.path\": value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OverrideMap, A::Error> {
                let mut out: Vec<(String, Box<ron::value::RawValue>)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("path `{key}` is set twice")));
                    }
                    let value = map.next_value::<Box<ron::value::RawValue>>()?;
                    out.push((key, value));
                }
                Ok(OverrideMap(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl SweepFile {
    /// Reads and validates a sweep file.
    pub fn load(path: &Path) -> Result<SweepFile, SweepFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| SweepFileError::Io {
            file: path.to_owned(),
            source,
        })?;
        SweepFile::parse(&text, path)
    }

    /// Parses and validates sweep-file text; `path` is used for messages and to resolve a
    /// relative `base` (pass e.g. `Path::new("<inline>")` for text without a file).
    pub fn parse(text: &str, path: &Path) -> Result<SweepFile, SweepFileError> {
        // `implicit_some` so that optional fields read `replications: 5`, not `Some(5)`.
        let options = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let raw: RawFile = options.from_str(text).map_err(|e| SweepFileError::Parse {
            file: path.to_owned(),
            line: e.span.start.line,
            column: e.span.start.col,
            message: e.code.to_string(),
        })?;
        // Semantic errors are found after parsing, when ron's positions are gone; the
        // scenario loader's locator maps field paths (`axes[2]`, `seeds`) back to them.
        let locator = Locator::new(text);
        let at = |field: &str| At(locator.position_of(field));
        let invalid_at = |field: &str, message: String| SweepFileError::Invalid {
            file: path.to_owned(),
            at: at(field),
            message,
        };
        let invalid = |message: String| invalid_at("base", message);
        if raw.schema != SCHEMA_VERSION {
            return Err(SweepFileError::Schema {
                file: path.to_owned(),
                found: raw.schema,
            });
        }
        let base_text = raw.base.get_ron().trim();
        let base = if base_text.starts_with('"') {
            let rel: String = ron::from_str(base_text)
                .map_err(|e| invalid(format!("bad base path {base_text}: {}", e.code)))?;
            if rel.trim().is_empty() {
                return Err(invalid(
                    "`base` is an empty path; expected a scenario file".into(),
                ));
            }
            let dir = path.parent().unwrap_or(Path::new(""));
            BaseScenario::File(dir.join(rel))
        } else {
            BaseScenario::Inline(base_text.to_owned())
        };
        let replication = match (raw.replications, raw.seeds) {
            (Some(_), Some(_)) => {
                return Err(invalid_at(
                    "seeds",
                    "both `replications` and `seeds` are given; expected one of them".into(),
                ));
            }
            (Some(0), None) => {
                return Err(invalid_at(
                    "replications",
                    "`replications` is 0; expected at least 1".into(),
                ));
            }
            (Some(n), None) => Replication::Derived(n),
            (None, Some(seeds)) => {
                if seeds.is_empty() {
                    return Err(invalid_at(
                        "seeds",
                        "`seeds` is empty; expected at least one seed".into(),
                    ));
                }
                let mut sorted = seeds.clone();
                sorted.sort_unstable();
                if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                    return Err(invalid_at(
                        "seeds",
                        format!("seed {} is listed twice in `seeds`", w[0]),
                    ));
                }
                Replication::Listed(seeds)
            }
            (None, None) => Replication::Derived(1),
        };
        let mut axes = Vec::with_capacity(raw.axes.len());
        for (i, raw_axis) in raw.axes.into_iter().enumerate() {
            axes.push(validate_axis(i + 1, raw_axis).map_err(|(axis, message)| {
                SweepFileError::Axis {
                    file: path.to_owned(),
                    at: at(&format!("axes[{i}]")),
                    axis,
                    message,
                }
            })?);
        }
        check_paths(&axes).map_err(|(i, message)| SweepFileError::Axis {
            file: path.to_owned(),
            at: at(&format!("axes[{i}]")),
            axis: axes[i].label.clone(),
            message,
        })?;
        Ok(SweepFile {
            path: path.to_owned(),
            name: raw.name,
            base,
            seed: raw.seed,
            replication,
            axes,
            base_at: at("base"),
        })
    }
}

type AxisError = (String, String);

fn axis_label(index: usize, kind: &str, paths: &[&str]) -> String {
    if paths.is_empty() {
        format!("axis {index} ({kind})")
    } else {
        let names: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
        format!("axis {index} ({kind} {})", names.join(", "))
    }
}

fn parse_path(label: &str, path: &str) -> Result<FieldPath, AxisError> {
    FieldPath::parse(path).map_err(|e| (label.to_owned(), e.to_string()))
}

fn parse_raw(label: &str, path: &str, raw: &ron::value::RawValue) -> Result<Value, AxisError> {
    parse_value(path, raw.get_ron()).map_err(|e: OverrideError| (label.to_owned(), e.to_string()))
}

fn validate_axis(index: usize, raw: RawAxis) -> Result<Axis, AxisError> {
    match raw {
        RawAxis::Values { path, values } => {
            let label = axis_label(index, "values of", &[&path]);
            one_column(
                &label,
                AxisKind::Values,
                &path,
                values_of(&label, &path, &values)?,
            )
        }
        RawAxis::Range {
            path,
            start,
            stop,
            step,
        } => {
            let label = axis_label(index, "range of", &[&path]);
            let values = range_values(&label, &path, &start, &stop, &step)?;
            one_column(&label, AxisKind::Range, &path, values)
        }
        RawAxis::Zip(members) => {
            let mut paths = Vec::new();
            for m in &members {
                match m {
                    RawAxis::Values { path, .. } | RawAxis::Range { path, .. } => {
                        paths.push(path.as_str());
                    }
                    _ => {}
                }
            }
            let label = axis_label(index, "zip of", &paths);
            if members.is_empty() {
                return Err((label, "zip has no members; expected at least one".into()));
            }
            let mut columns = Vec::new();
            let mut per_column: Vec<Vec<Value>> = Vec::new();
            for (m, member) in members.into_iter().enumerate() {
                let (path, values) = match member {
                    RawAxis::Values { path, values } => {
                        let v = values_of(&label, &path, &values)?;
                        (path, v)
                    }
                    RawAxis::Range {
                        path,
                        start,
                        stop,
                        step,
                    } => {
                        let v = range_values(&label, &path, &start, &stop, &step)?;
                        (path, v)
                    }
                    _ => {
                        return Err((
                            label,
                            format!(
                                "member {} is not Values or Range; a zip holds only those",
                                m + 1
                            ),
                        ));
                    }
                };
                if values.is_empty() {
                    return Err((label, format!("member `{path}` has no values")));
                }
                columns.push(parse_path(&label, &path)?);
                per_column.push(values);
            }
            let len = per_column[0].len();
            if per_column.iter().any(|v| v.len() != len) {
                let lens: Vec<String> = columns
                    .iter()
                    .zip(&per_column)
                    .map(|(c, v)| format!("`{c}` has {}", v.len()))
                    .collect();
                return Err((
                    label,
                    format!(
                        "zipped members must have the same number of values, but {}",
                        lens.join(", ")
                    ),
                ));
            }
            let points = (0..len)
                .map(|p| per_column.iter().map(|v| v[p].clone()).collect())
                .collect();
            Ok(Axis {
                kind: AxisKind::Zip,
                label,
                columns,
                points,
                variants: Vec::new(),
            })
        }
        RawAxis::Variants(raw_variants) => {
            let label = axis_label(index, "variants", &[]);
            if raw_variants.is_empty() {
                return Err((label, "no variants; expected at least one".into()));
            }
            let mut variants: Vec<Variant> = Vec::with_capacity(raw_variants.len());
            for rv in raw_variants {
                let name = rv.name.trim().to_owned();
                if name.is_empty() || name.chars().any(char::is_control) {
                    return Err((
                        label,
                        format!(
                            "variant name {:?} is empty or has control characters",
                            rv.name
                        ),
                    ));
                }
                if variants.iter().any(|v| v.name == name) {
                    return Err((label, format!("variant `{name}` is defined twice")));
                }
                let mut overrides = Vec::with_capacity(rv.set.0.len());
                for (path, raw) in &rv.set.0 {
                    let vlabel = format!("{label}, variant `{name}`");
                    let fp = parse_path(&vlabel, path)?;
                    overrides.push((fp, parse_raw(&vlabel, path, raw)?));
                }
                overrides.sort_by(|a, b| a.0.cmp(&b.0));
                variants.push(Variant { name, overrides });
            }
            Ok(Axis {
                kind: AxisKind::Variants,
                label,
                columns: Vec::new(),
                points: vec![Vec::new(); variants.len()],
                variants,
            })
        }
        RawAxis::Sample {
            method,
            n,
            seed,
            dims,
        } => {
            let paths: Vec<&str> = dims.iter().map(|d| d.path.as_str()).collect();
            let kind_name = match method {
                SampleMethod::Random => "random sample of",
                SampleMethod::LatinHypercube => "latin hypercube of",
            };
            let label = axis_label(index, kind_name, &paths);
            if n == 0 {
                return Err((label, "`n` is 0; expected at least one point".into()));
            }
            if dims.is_empty() {
                return Err((
                    label,
                    "no `dims`; expected at least one (path, min, max)".into(),
                ));
            }
            let mut columns = Vec::with_capacity(dims.len());
            let mut bounds = Vec::with_capacity(dims.len());
            for d in &dims {
                if !(d.min.is_finite() && d.max.is_finite()) || d.min > d.max {
                    return Err((
                        label,
                        format!(
                            "`{}` has min {} and max {}; expected finite bounds with min <= max",
                            d.path, d.min, d.max
                        ),
                    ));
                }
                columns.push(parse_path(&label, &d.path)?);
                bounds.push((d.min, d.max));
            }
            let points = super::sample::draw(method, n, seed, &bounds)
                .into_iter()
                .map(|row| row.into_iter().map(float_value).collect())
                .collect();
            Ok(Axis {
                kind: match method {
                    SampleMethod::Random => AxisKind::Random,
                    SampleMethod::LatinHypercube => AxisKind::LatinHypercube,
                },
                label,
                columns,
                points,
                variants: Vec::new(),
            })
        }
    }
}

fn one_column(
    label: &str,
    kind: AxisKind,
    path: &str,
    values: Vec<Value>,
) -> Result<Axis, AxisError> {
    if values.is_empty() {
        return Err((label.to_owned(), "no values; expected at least one".into()));
    }
    Ok(Axis {
        kind,
        label: label.to_owned(),
        columns: vec![parse_path(label, path)?],
        points: values.into_iter().map(|v| vec![v]).collect(),
        variants: Vec::new(),
    })
}

fn values_of(
    label: &str,
    path: &str,
    raw: &[Box<ron::value::RawValue>],
) -> Result<Vec<Value>, AxisError> {
    raw.iter().map(|r| parse_raw(label, path, r)).collect()
}

fn float_value(x: f64) -> Value {
    // Non-finite values cannot come out of validated ranges or samples; null is unreachable.
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Rounds to 12 significant decimal digits, removing the binary noise of `start + i * step`.
fn round12(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.11e}").parse().unwrap_or(x)
}

fn range_values(
    label: &str,
    path: &str,
    start: &ron::value::RawValue,
    stop: &ron::value::RawValue,
    step: &ron::value::RawValue,
) -> Result<Vec<Value>, AxisError> {
    let num = |name: &str, raw: &ron::value::RawValue| -> Result<Number, AxisError> {
        match parse_raw(label, path, raw)? {
            Value::Number(n) => Ok(n),
            other => Err((
                label.to_owned(),
                format!("range `{name}` is {other}; expected a number"),
            )),
        }
    };
    let (a, b, s) = (num("start", start)?, num("stop", stop)?, num("step", step)?);
    let err = |m: String| (label.to_owned(), m);
    if let (Some(a), Some(b), Some(s)) = (a.as_i64(), b.as_i64(), s.as_i64()) {
        if s == 0 {
            return Err(err("range step is 0; expected a non-zero step".into()));
        }
        let span = i128::from(b) - i128::from(a);
        if span != 0 && (span < 0) != (s < 0) {
            return Err(err(format!(
                "range step {s} has the wrong sign to go from {a} to {b}"
            )));
        }
        let n = span / i128::from(s) + 1;
        if n > MAX_RANGE_LEN as i128 {
            return Err(err(format!(
                "range has {n} values; at most {MAX_RANGE_LEN} allowed"
            )));
        }
        return Ok((0..n)
            .map(|i| Value::from((i128::from(a) + i * i128::from(s)) as i64))
            .collect());
    }
    let (a, b, s) = (
        a.as_f64().unwrap_or(f64::NAN),
        b.as_f64().unwrap_or(f64::NAN),
        s.as_f64().unwrap_or(f64::NAN),
    );
    if !(a.is_finite() && b.is_finite() && s.is_finite()) {
        return Err(err(
            "range start, stop and step must be finite numbers".into()
        ));
    }
    if s == 0.0 {
        return Err(err("range step is 0; expected a non-zero step".into()));
    }
    let k = (b - a) / s;
    if k < -1e-9 {
        return Err(err(format!(
            "range step {s} has the wrong sign to go from {a} to {b}"
        )));
    }
    let last = (k + 1e-9).floor();
    if last + 1.0 > MAX_RANGE_LEN as f64 {
        return Err(err(format!(
            "range has {} values; at most {MAX_RANGE_LEN} allowed",
            last + 1.0
        )));
    }
    let n = last as usize + 1;
    Ok((0..n)
        .map(|i| {
            let x = if i + 1 == n && ((a + i as f64 * s) - b).abs() <= 1e-9 * s.abs() {
                b
            } else {
                round12(a + i as f64 * s)
            };
            float_value(x)
        })
        .collect())
}

/// Each path on one axis only, and never the seed (returns the offending axis's index).
fn check_paths(axes: &[Axis]) -> Result<(), (usize, String)> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (i, axis) in axes.iter().enumerate() {
        let mut axis_paths: Vec<String> = axis.columns.iter().map(ToString::to_string).collect();
        for v in &axis.variants {
            for (p, _) in &v.overrides {
                let p = p.to_string();
                if !axis_paths.contains(&p) {
                    axis_paths.push(p);
                }
            }
        }
        for p in axis_paths {
            if p == "seed" {
                return Err((
                    i,
                    "sets `seed`, which every run gets from the sweep's `seed` and \
                     `replications`; list the seeds with `seeds: [..]` instead"
                        .into(),
                ));
            }
            if let Some(first) = seen.get(&p) {
                return Err((
                    i,
                    format!(
                        "path `{p}` is set by both {first} and {}; expected each path on one axis",
                        axis.label
                    ),
                ));
            }
            seen.insert(p, &axis.label);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<SweepFile, SweepFileError> {
        SweepFile::parse(text, Path::new("dir/s.ron"))
    }

    fn first_axis(axes: &str) -> Result<Axis, SweepFileError> {
        let f = parse(&format!(
            "(schema: 1, base: \"b.ron\", seed: 1, axes: [{axes}])"
        ))?;
        Ok(f.axes.into_iter().next().expect("one axis"))
    }

    fn column(axis: &Axis) -> Vec<Value> {
        axis.points.iter().map(|p| p[0].clone()).collect()
    }

    #[test]
    fn base_path_is_relative_to_the_sweep_file_and_inline_is_kept_as_text() {
        let f = parse("(schema: 1, base: \"sc/b.ron\", seed: 3)").unwrap();
        assert_eq!(f.base, BaseScenario::File(PathBuf::from("dir/sc/b.ron")));
        assert_eq!(f.replication, Replication::Derived(1));
        let f = parse("(schema: 1, base: (ticks: 10, world: (kind: Grid)), seed: 3)").unwrap();
        assert_eq!(
            f.base,
            BaseScenario::Inline("(ticks: 10, world: (kind: Grid))".into())
        );
    }

    #[test]
    fn integer_and_float_ranges() {
        let a = first_axis("Range(path: \"n\", start: 1, stop: 10, step: 3)").unwrap();
        assert_eq!(column(&a), [json!(1), json!(4), json!(7), json!(10)]);
        let a = first_axis("Range(path: \"n\", start: 10, stop: 1, step: -4)").unwrap();
        assert_eq!(column(&a), [json!(10), json!(6), json!(2)]);
        let a = first_axis("Range(path: \"x\", start: 0.0, stop: 0.3, step: 0.1)").unwrap();
        assert_eq!(column(&a), [json!(0.0), json!(0.1), json!(0.2), json!(0.3)]);
        // Stop not reached exactly: excluded.
        let a = first_axis("Range(path: \"x\", start: 0.0, stop: 1.0, step: 0.3)").unwrap();
        assert_eq!(column(&a), [json!(0.0), json!(0.3), json!(0.6), json!(0.9)]);
        // Mixed integer/float: a float range.
        let a = first_axis("Range(path: \"x\", start: 1, stop: 2, step: 0.5)").unwrap();
        assert_eq!(column(&a), [json!(1.0), json!(1.5), json!(2.0)]);
        // A long float range ends exactly on stop despite accumulated error.
        let a = first_axis("Range(path: \"x\", start: 0.0, stop: 10.0, step: 0.01)").unwrap();
        assert_eq!(a.len(), 1001);
        assert_eq!(a.points[1000][0], json!(10.0));
        assert_eq!(a.points[333][0], json!(3.33));
    }

    #[test]
    fn semantic_errors_name_the_axis() {
        let e = first_axis(
            "Values(path: \"a\", values: [1]), Range(path: \"x\", start: 0.0, stop: 1.0, step: 0.0)",
        );
        // First axis is fine; load the whole file to see the second one's error.
        let msg = e.unwrap_err().to_string();
        assert!(
            msg.contains("axis 2 (range of `x`)") && msg.contains("step is 0"),
            "{msg}"
        );
        let msg = first_axis("Range(path: \"x\", start: 5, stop: 1, step: 1)")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("axis 1 (range of `x`)") && msg.contains("wrong sign"),
            "{msg}"
        );
        let msg = first_axis("Values(path: \"x\", values: [])")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("axis 1 (values of `x`): no values"), "{msg}");
        let msg = first_axis(
            "Zip([Values(path: \"a\", values: [1, 2]), Values(path: \"b\", values: [1])])",
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("axis 1 (zip of `a`, `b`)") && msg.contains("`a` has 2, `b` has 1"),
            "{msg}"
        );
        let msg = first_axis("Range(path: \"x\", start: \"a\", stop: 1, step: 1)")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("expected a number"), "{msg}");
        let msg = first_axis(
            "Values(path: \"a\", values: [1]), Variants([(name: \"v\", set: {\"a\": 2})])",
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("path `a` is set by both axis 1"), "{msg}");
        let msg = first_axis("Variants([(name: \"v\", set: {\"a\": 2, \"a\": 3})])")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`a` is set twice"), "{msg}");
        let msg = first_axis(
            "Sample(method: Random, n: 0, seed: 1, dims: [(path: \"a\", min: 0.0, max: 1.0)])",
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("axis 1 (random sample of `a`)") && msg.contains("`n` is 0"),
            "{msg}"
        );
    }

    #[test]
    fn parse_errors_give_line_and_column() {
        let text = "(\n    schema: 1,\n    base: \"b.ron\",\n    seed: 1,\n    axis: [],\n)";
        let e = parse(text).unwrap_err();
        match &e {
            SweepFileError::Parse {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!((*line, *column), (5, 5), "{e}");
                assert!(
                    message.contains("axis") && message.contains("axes"),
                    "{message}"
                );
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
        assert!(e.to_string().starts_with("dir/s.ron:5:5: "), "{e}");
        let e = parse(
            "(schema: 1, base: \"b.ron\", seed: 1, axes: [Values(path: \"a\", valuez: [1])])",
        )
        .unwrap_err();
        assert!(e.to_string().contains("valuez"), "{e}");
        let e = parse("(schema: 2, base: \"b.ron\", seed: 1)").unwrap_err();
        assert!(e.to_string().contains("unsupported sweep schema 2"), "{e}");
        let e = parse("(schema: 1, base: \"b.ron\", seed: 1, replications: 2, seeds: [1])")
            .unwrap_err();
        assert!(
            e.to_string().contains("both `replications` and `seeds`"),
            "{e}"
        );
    }

    #[test]
    fn semantic_errors_point_at_the_axis_and_the_seed_is_not_an_axis() {
        let text = "(\n  schema: 1,\n  base: \"b.ron\",\n  seed: 1,\n  axes: [\n    \
                    Values(path: \"ticks\", values: [1]),\n    \
                    Values(path: \"seed\", values: [1, 2]),\n  ],\n)";
        let msg = parse(text).unwrap_err().to_string();
        assert!(
            msg.starts_with("dir/s.ron:7:5: axis 2 (values of `seed`)"),
            "{msg}"
        );
        assert!(msg.contains("seeds: [..]"), "{msg}");
        let msg = parse("(schema: 1, base: \"b.ron\", seed: 1,\n replications: 0)")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("dir/s.ron:2:16: `replications` is 0"),
            "{msg}"
        );
    }

    #[test]
    fn values_accept_bare_identifiers_and_structs() {
        let a =
            first_axis("Values(path: \"world.boundary\", values: [Torus, Walls, (a: 1)])").unwrap();
        assert_eq!(
            column(&a),
            [json!("Torus"), json!("Walls"), json!({"a": 1})]
        );
    }
}
