//! Scenario files: the versioned RON schema, loading with positioned errors, overrides.
//!
//! A scenario is generic over how plug-in params are held: as raw RON text while a file is
//! parsed (so errors inside params get the file's line and column), as the JSON data model
//! once resolved (so overrides and sweeps can edit any field by path), and as RON text again
//! when the resolved scenario is written out.

mod load;
mod locate;
pub mod map;
pub mod overrides;
mod record;

pub use locate::Locator;
pub use map::MapSpec;
pub use overrides::{FieldPath, OverrideError, PathSegment};
pub use record::{DetectSpec, SnapshotFormat};

use crate::space::{Boundary, Neighborhood, SpaceKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The schema version this engine reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Tick cap used when a scenario gives a stop condition but no `ticks`, so that a condition
/// that is never met cannot run forever.
pub const DEFAULT_TICK_CAP: u64 = 1_000_000;

/// A resolved scenario: names checked, params typed and defaulted, ready to build.
pub type Scenario = ScenarioOf<Params>;

/// Resolved plug-in params in serde's data model (every field present, defaults filled).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(pub Value);

/// A scenario file's contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de> + Default")
)]
pub struct ScenarioOf<P> {
    /// Schema version; must be [`SCHEMA_VERSION`].
    pub schema: u32,
    /// Short name used in outputs (default: empty; the CLI falls back to the file stem).
    #[serde(default)]
    pub name: String,
    /// Free text for people (default: empty).
    #[serde(default)]
    pub description: String,
    /// Run seed: every random draw derives from it.
    pub seed: u64,
    /// Number of ticks to run. Optional when `stop` is given (then capped at
    /// [`DEFAULT_TICK_CAP`]).
    #[serde(default)]
    pub ticks: Option<u64>,
    /// Stop early when a metric crosses a value (default: none).
    #[serde(default)]
    pub stop: Option<StopCondition>,
    /// The space agents live in.
    pub world: WorldSpec,
    /// Who lives there; agent ids are assigned population by population, in order.
    pub populations: Vec<PopulationSpec<P>>,
    /// Task-allocation protocol (default: none).
    #[serde(default)]
    pub allocation: Option<AllocationSpec<P>>,
    /// Conflict-resolution policy (default: none, which resolves conflicts first come,
    /// first served).
    #[serde(default)]
    pub conflicts: Option<ConflictSpec<P>>,
    /// Resources with a capacity that agents use through intents: stations, tools,
    /// channels (default none).
    #[serde(default)]
    pub resources: Vec<crate::intent::ResourceSpec>,
    /// What to record (default: nothing but the summary).
    #[serde(default)]
    pub record: RecordSpec<P>,
    /// Tasks: where they come from and what they need (default: none).
    #[serde(default)]
    pub tasks: Option<crate::task::TaskSpec>,
    /// The channel model of message buses (default: latency 1, no loss, complete topology).
    #[serde(default)]
    pub comms: crate::comms::CommsSpec,
    /// Agents failing and joining at given ticks (default none).
    #[serde(default)]
    pub events: Vec<crate::events::EventSpec>,
    /// The file this scenario was loaded from, for resolving relative paths (not part of the
    /// schema).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// The world section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldSpec {
    /// `Continuous` (default) or `Grid`.
    #[serde(default)]
    pub kind: SpaceKind,
    /// Extent along x: world units, or cells for a grid (must be a whole number).
    pub width: f64,
    /// Extent along y.
    pub height: f64,
    /// `Torus` (default) or `Walls`.
    #[serde(default)]
    pub boundary: Boundary,
    /// Grid neighbourhood: `Moore` (default) or `VonNeumann`.
    #[serde(default)]
    pub neighborhood: Neighborhood,
    /// Grid worlds: at most one agent per cell (default false).
    #[serde(default)]
    pub one_per_cell: bool,
    /// Grid worlds: blocked cells `(x, y)` (default none).
    #[serde(default)]
    pub obstacles: Vec<(i32, i32)>,
    /// Grid worlds: a map whose blocked cells are obstacles too, from a MovingAI `.map` file
    /// or written as rows ([`MapSpec`]); `width` and `height` must match it (default none).
    #[serde(default)]
    pub map: Option<MapSpec>,
}

impl WorldSpec {
    /// Every blocked cell: `obstacles` and the map's, sorted, without repeats.
    pub fn blocked_cells(&self) -> Vec<(i32, i32)> {
        let mut cells = self.obstacles.clone();
        if let Some(MapSpec::Rows(rows)) = &self.map
            && let Ok(m) = map::parse_rows(rows)
        {
            cells.extend(m.blocked);
        }
        cells.sort_unstable_by_key(|&(x, y)| (y, x));
        cells.dedup();
        cells
    }
}

/// One population: `count` agents running one behavior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de> + Default")
)]
pub struct PopulationSpec<P> {
    /// Registered behavior name.
    pub behavior: String,
    /// Number of agents.
    pub count: u32,
    /// Label for outputs (default: empty, meaning the behavior name).
    #[serde(default)]
    pub name: String,
    /// The behavior's params (default: all of the behavior's defaults).
    #[serde(default)]
    pub params: P,
    /// Where agents start (default `Uniform`).
    #[serde(default)]
    pub placement: Placement,
}

/// Initial positions. In grid worlds positions are truncated to cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub enum Placement {
    /// Uniformly at random over the world (distinct free cells in one-per-cell grids).
    #[default]
    Uniform,
    /// All at one point `(x, y)`.
    Point(f64, f64),
    /// Uniformly inside the rectangle `(x0, y0, x1, y1)`.
    Rect(f64, f64, f64, f64),
    /// Uniformly inside the disc `(x, y, radius)`.
    Disc(f64, f64, f64),
    /// Exactly these positions, one per agent.
    Positions(Vec<(f64, f64)>),
}

/// The `allocation` section: a registered task-allocation protocol and its params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de> + Default")
)]
pub struct AllocationSpec<P> {
    /// Registered protocol name (`agora list` shows them).
    pub protocol: String,
    /// The protocol's params (default: all of its defaults).
    #[serde(default)]
    pub params: P,
}

/// The `conflicts` section: a registered conflict-resolution policy and its params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de> + Default")
)]
pub struct ConflictSpec<P> {
    /// Registered policy name.
    pub policy: String,
    /// The policy's params (default: all of its defaults).
    #[serde(default)]
    pub params: P,
    /// How deadlocks are broken (default: the youngest member backs off after 2 ticks).
    #[serde(default)]
    pub deadlock: crate::intent::DeadlockSpec,
}

/// Where a set of plug-in params sits in a scenario, and whose they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSite<'a> {
    /// `populations[index].params` of behavior `name`.
    Behavior {
        /// Population index.
        index: usize,
        /// Behavior name.
        name: &'a str,
    },
    /// `record.metric_params.<name>`.
    Metric {
        /// Metric name.
        name: &'a str,
    },
    /// `allocation.params` of protocol `name`.
    Protocol {
        /// Protocol name.
        name: &'a str,
    },
    /// `conflicts.params` of policy `name`.
    Policy {
        /// Policy name.
        name: &'a str,
    },
}

impl ParamSite<'_> {
    /// The params' field path.
    pub fn params_path(&self) -> String {
        match self {
            ParamSite::Behavior { index, .. } => format!("populations[{index}].params"),
            ParamSite::Metric { name } => format!("record.metric_params.{name}"),
            ParamSite::Protocol { .. } => "allocation.params".to_owned(),
            ParamSite::Policy { .. } => "conflicts.params".to_owned(),
        }
    }

    /// The field path of the name that selected the plug-in.
    pub fn name_path(&self) -> String {
        match self {
            ParamSite::Behavior { index, .. } => format!("populations[{index}].behavior"),
            ParamSite::Metric { name } => format!("record.metric_params.{name}"),
            ParamSite::Protocol { .. } => "allocation.protocol".to_owned(),
            ParamSite::Policy { .. } => "conflicts.policy".to_owned(),
        }
    }
}

/// The record section: which metrics, how often, and whether to write snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de> + Default")
)]
pub struct RecordSpec<P> {
    /// Registered metric names, one or more columns each (default none).
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Params for metrics that take them, by metric name (default: the metrics' defaults).
    #[serde(default = "BTreeMap::new")]
    pub metric_params: BTreeMap<String, P>,
    /// Record metrics every N ticks (default 1). Tick 0 and the final tick are always recorded.
    #[serde(default = "one")]
    pub every: u64,
    /// Write per-agent snapshots every N ticks (default `None`: off).
    #[serde(default)]
    pub snapshots: Option<u64>,
    /// Snapshot file format: `Csv` (default) or `Binary`.
    #[serde(default)]
    pub snapshot_format: SnapshotFormat,
    /// Event logs to write, by kind (`["conflicts", "messages"]`; default none). The kinds are
    /// those the scenario's plug-ins declare; an unknown one is an error naming the valid ones.
    #[serde(default)]
    pub events: Vec<String>,
    /// Change detectors over metric columns (default none); see [`DetectSpec`].
    #[serde(default)]
    pub detect: Vec<DetectSpec>,
}

fn one() -> u64 {
    1
}

impl<P> Default for RecordSpec<P> {
    fn default() -> Self {
        RecordSpec {
            metrics: Vec::new(),
            metric_params: BTreeMap::new(),
            every: 1,
            snapshots: None,
            snapshot_format: SnapshotFormat::Csv,
            events: Vec::new(),
            detect: Vec::new(),
        }
    }
}

/// Stop when a metric satisfies a comparison (checked after every tick).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopCondition {
    /// A registered metric (it need not be recorded); its first column is compared.
    pub metric: String,
    /// The comparison.
    pub op: Compare,
    /// The threshold.
    pub value: f64,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compare {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
}

impl Compare {
    /// Applies the comparison; NaN never satisfies it.
    pub fn holds(self, x: f64, threshold: f64) -> bool {
        match self {
            Compare::Ge => x >= threshold,
            Compare::Gt => x > threshold,
            Compare::Le => x <= threshold,
            Compare::Lt => x < threshold,
        }
    }
}

impl<P> ScenarioOf<P> {
    /// The same scenario with every plug-in's params converted by `f`, which learns where
    /// they sit. The one place that lists where params live: new sections with plug-in
    /// params are added here.
    pub fn map_params<Q, E>(
        &self,
        mut f: impl FnMut(ParamSite<'_>, &P) -> Result<Q, E>,
    ) -> Result<ScenarioOf<Q>, E> {
        let mut populations = Vec::with_capacity(self.populations.len());
        for (index, p) in self.populations.iter().enumerate() {
            populations.push(PopulationSpec {
                behavior: p.behavior.clone(),
                count: p.count,
                name: p.name.clone(),
                params: f(
                    ParamSite::Behavior {
                        index,
                        name: &p.behavior,
                    },
                    &p.params,
                )?,
                placement: p.placement.clone(),
            });
        }
        let mut metric_params = BTreeMap::new();
        for (name, p) in &self.record.metric_params {
            metric_params.insert(name.clone(), f(ParamSite::Metric { name }, p)?);
        }
        let allocation = match &self.allocation {
            Some(a) => Some(AllocationSpec {
                protocol: a.protocol.clone(),
                params: f(ParamSite::Protocol { name: &a.protocol }, &a.params)?,
            }),
            None => None,
        };
        let conflicts = match &self.conflicts {
            Some(c) => Some(ConflictSpec {
                policy: c.policy.clone(),
                params: f(ParamSite::Policy { name: &c.policy }, &c.params)?,
                deadlock: c.deadlock,
            }),
            None => None,
        };
        Ok(ScenarioOf {
            schema: self.schema,
            name: self.name.clone(),
            description: self.description.clone(),
            seed: self.seed,
            ticks: self.ticks,
            stop: self.stop.clone(),
            world: self.world.clone(),
            populations,
            allocation,
            conflicts,
            resources: self.resources.clone(),
            record: RecordSpec {
                metrics: self.record.metrics.clone(),
                metric_params,
                every: self.record.every,
                snapshots: self.record.snapshots,
                snapshot_format: self.record.snapshot_format,
                events: self.record.events.clone(),
                detect: self.record.detect.clone(),
            },
            tasks: self.tasks.clone(),
            comms: self.comms.clone(),
            events: self.events.clone(),
            source: self.source.clone(),
        })
    }

    /// Total number of agents at the start.
    pub fn agent_count(&self) -> u64 {
        self.populations.iter().map(|p| u64::from(p.count)).sum()
    }

    /// The tick limit: `ticks`, or the cap when only a stop condition is given.
    pub fn tick_limit(&self) -> u64 {
        self.ticks.unwrap_or(DEFAULT_TICK_CAP)
    }

    /// The population's label: its `name`, or its behavior's name.
    pub fn population_label(&self, index: usize) -> &str {
        let p = &self.populations[index];
        if p.name.is_empty() {
            &p.behavior
        } else {
            &p.name
        }
    }
}
