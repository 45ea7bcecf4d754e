//! Plug-ins: behaviors and metrics are types with a stable name, a one-line summary and a
//! params struct; the [`Registry`] is the explicit list of them that scenarios name.

use crate::scenario::WorldSpec;
use crate::sim::{AgentSpawn, SimBuilder};
use bevy_ecs::prelude::{Component, Entity, World};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

/// An agent behavior. The type itself is the params struct (deserialized from the
/// scenario's `params` with `deny_unknown_fields`, every field defaulted) and the component
/// each agent of the population carries, so systems select their agents with `&Self` or
/// `With<Self>`.
///
/// ```
/// use agora_engine::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// /// Scenario: `(behavior: "drift", count: 10, params: (dx: 0.5))`
/// #[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
/// #[serde(default, deny_unknown_fields)]
/// pub struct Drift {
///     /// Distance moved along x per tick (default 0).
///     pub dx: f64,
/// }
///
/// impl Behavior for Drift {
///     const NAME: &'static str = "drift";
///     const SUMMARY: &'static str = "Move along x at a constant speed.";
///     fn build(sim: &mut SimBuilder) {
///         sim.add_systems(Phase::Act, drift);
///     }
/// }
///
/// fn drift(space: Res<Space>, mut agents: Query<(&Drift, &mut Position)>) {
///     agents.iter_mut().for_each(|(params, mut pos)| {
///         pos.0 = space.wrap(pos.0 + DVec2::new(params.dx, 0.0));
///     });
/// }
/// ```
pub trait Behavior: Component + Clone + Default + Serialize + DeserializeOwned {
    /// The name scenarios use (`behavior: "random_walk"`); stable, unique, snake_case.
    const NAME: &'static str;
    /// One line for `agora list`.
    const SUMMARY: &'static str;

    /// Whether each agent carries a copy of the params (default `true`). Behaviors meant for
    /// millions of agents with large params can set it to `false` to save the memory; they
    /// then keep params per population themselves (see [`SimBuilder::populations_of`]) and
    /// insert a marker component of their own in [`Behavior::spawn`] for their systems to
    /// select agents by.
    const PARAMS_PER_AGENT: bool = true;

    /// Adds the behavior's systems and resources. Called once per simulation, however many
    /// populations use the behavior.
    fn build(sim: &mut SimBuilder<'_>);

    /// Checks the params of one population against the world; the message explains what is
    /// wrong and what is expected.
    fn validate(&self, ctx: &ValidateCtx<'_>) -> Result<(), String> {
        let _ = ctx;
        Ok(())
    }

    /// Adds per-agent components at spawn time (initial heading, memory, ...). The engine has
    /// already inserted [`crate::AgentId`], [`crate::Population`], a position, and (unless
    /// [`Behavior::PARAMS_PER_AGENT`] is `false`) a clone of the params.
    fn spawn(&self, agent: &mut AgentSpawn<'_>) {
        let _ = agent;
    }
}

/// A metric: a function of the world recorded as one or more columns.
///
/// Metrics must only read the world: they run in the Record phase, after every other phase.
pub trait Metric: Clone + Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name used in `record: (metrics: [...])`; stable, unique, snake_case.
    const NAME: &'static str;
    /// One line for `agora list`, saying what is measured.
    const SUMMARY: &'static str;

    /// The columns this metric writes; by default one, named after the metric.
    fn columns(&self) -> Vec<String> {
        vec![Self::NAME.to_owned()]
    }

    /// Checks params against the scenario.
    fn validate(&self, ctx: &ValidateCtx<'_>) -> Result<(), String> {
        let _ = ctx;
        Ok(())
    }

    /// Pushes one value per column onto `out`. NaN means "not defined here" (for example a
    /// Schelling metric in a world without Schelling agents).
    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>);
}

/// The scenario section a [`Mechanism`] is chosen in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Section {
    /// `allocation: (protocol: "...", params: (...))`: a task-allocation protocol.
    Allocation,
    /// `conflicts: (policy: "...", params: (...))`: a conflict-resolution policy.
    Conflicts,
}

/// A scenario-level plug-in chosen by name in a scenario section: task-allocation protocols
/// and conflict-resolution policies. Like a [`Behavior`], the type is its own params struct;
/// unlike one, it is a single resource for the whole world rather than a per-agent
/// component, and at most one per section runs.
pub trait Mechanism:
    bevy_ecs::prelude::Resource + Clone + Default + Serialize + DeserializeOwned
{
    /// Which section selects it.
    const SECTION: Section;
    /// The name scenarios use; stable, unique within its section, snake_case.
    const NAME: &'static str;
    /// One line for `agora list`.
    const SUMMARY: &'static str;

    /// Adds the mechanism's systems. The engine has already inserted `self` as a resource.
    fn build(sim: &mut SimBuilder<'_>);

    /// Checks the params against the scenario.
    fn validate(&self, ctx: &ValidateCtx<'_>) -> Result<(), String> {
        let _ = ctx;
        Ok(())
    }
}

/// What a plug-in's `validate` can look at.
#[derive(Debug, Clone, Copy)]
pub struct ValidateCtx<'a> {
    /// The scenario's world section.
    pub world: &'a WorldSpec,
    /// For behaviors: the population size. For metrics: the total number of agents.
    pub count: u64,
    /// The registry the scenario is resolved against (to check names of other plug-ins, such
    /// as the quantities a metric summarises).
    pub registry: &'a Registry,
}

/// Converts a plug-in's params between their RON text, the JSON data model used by overrides,
/// and the typed struct; one set of monomorphised functions per plug-in type.
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    pub(crate) parse_ron: fn(&str, &ron::Options) -> Result<Value, ron::error::SpannedError>,
    pub(crate) normalize: fn(&Value) -> Result<Value, String>,
    pub(crate) to_ron: fn(&Value) -> Result<String, String>,
    pub(crate) default_ron: fn() -> String,
}

fn parse_ron<T: DeserializeOwned + Serialize>(
    text: &str,
    opts: &ron::Options,
) -> Result<Value, ron::error::SpannedError> {
    let typed: T = opts.from_str(text)?;
    serde_json::to_value(&typed).map_err(|e| ron::error::SpannedError {
        code: ron::Error::Message(e.to_string()),
        span: ron::error::Span {
            start: ron::error::Position { line: 1, col: 1 },
            end: ron::error::Position { line: 1, col: 1 },
        },
    })
}

fn normalize<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

fn to_ron<T: DeserializeOwned + Serialize>(v: &Value) -> Result<String, String> {
    let typed: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    // One line, spaced like a person would write it, so the resolved scenario stays readable.
    let compact = ron::ser::PrettyConfig::new()
        .new_line(" ".to_owned())
        .indentor(String::new());
    ron::ser::to_string_pretty(&typed, compact).map_err(|e| e.to_string())
}

fn default_ron<T: Default + Serialize>() -> String {
    let pretty = ron::ser::PrettyConfig::new()
        .depth_limit(1)
        .separate_tuple_members(true);
    ron::ser::to_string_pretty(&T::default(), pretty).unwrap_or_else(|e| format!("<{e}>"))
}

impl Codec {
    pub(crate) fn of<T: Default + Serialize + DeserializeOwned>() -> Codec {
        Codec {
            parse_ron: parse_ron::<T>,
            normalize: normalize::<T>,
            to_ron: to_ron::<T>,
            default_ron: default_ron::<T>,
        }
    }
}

/// Which registry list a plug-in is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum PluginKind {
    /// [`Behavior`].
    Behavior,
    /// [`Metric`].
    Metric,
    /// [`Mechanism`] of [`Section::Allocation`].
    Protocol,
    /// [`Mechanism`] of [`Section::Conflicts`].
    Policy,
    /// [`crate::AgentQuantity`].
    Quantity,
}

impl PluginKind {
    fn of_section(section: Section) -> PluginKind {
        match section {
            Section::Allocation => PluginKind::Protocol,
            Section::Conflicts => PluginKind::Policy,
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::Behavior => "behavior",
            PluginKind::Metric => "metric",
            PluginKind::Protocol => "protocol",
            PluginKind::Policy => "policy",
            PluginKind::Quantity => "quantity",
        })
    }
}

/// A registered plug-in, as `agora list` shows it.
#[derive(Clone, Copy)]
pub struct PluginInfo {
    /// Its name.
    pub name: &'static str,
    /// Its one-line summary.
    pub summary: &'static str,
    /// Which list it is in.
    pub kind: PluginKind,
    pub(crate) codec: Codec,
}

impl PluginInfo {
    /// The default params, as RON.
    pub fn default_params(&self) -> String {
        (self.codec.default_ron)()
    }
}

impl fmt::Debug for PluginInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginInfo")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

pub(crate) type InstallFn = fn(&mut SimBuilder<'_>);
/// Spawns `count` agents with ids `first..first + count`; the callback creates each agent's
/// entity with its engine components.
pub(crate) type SpawnFn = fn(
    &mut World,
    &Value,
    u32,
    u32,
    &mut dyn FnMut(&mut World, u32) -> Entity,
) -> Result<(), String>;
pub(crate) type ValidateFn = fn(&Value, &ValidateCtx<'_>) -> Result<(), String>;
pub(crate) type MakeMetricFn = fn(&Value) -> Result<Box<dyn DynMetric>, String>;

#[derive(Clone, Copy)]
pub(crate) struct BehaviorEntry {
    pub(crate) info: PluginInfo,
    pub(crate) type_id: std::any::TypeId,
    pub(crate) install: InstallFn,
    pub(crate) spawn: SpawnFn,
    pub(crate) validate: ValidateFn,
}

#[derive(Clone, Copy)]
pub(crate) struct MetricEntry {
    pub(crate) info: PluginInfo,
    pub(crate) make: MakeMetricFn,
    pub(crate) validate: ValidateFn,
}

pub(crate) type InstallMechanismFn = fn(&mut SimBuilder<'_>, &Value) -> Result<(), String>;

#[derive(Clone, Copy)]
pub(crate) struct MechanismEntry {
    pub(crate) info: PluginInfo,
    pub(crate) install: InstallMechanismFn,
    pub(crate) validate: ValidateFn,
}

fn install_mechanism<M: Mechanism>(sim: &mut SimBuilder<'_>, params: &Value) -> Result<(), String> {
    let m: M = serde_json::from_value(params.clone()).map_err(|e| e.to_string())?;
    sim.insert_resource(m);
    M::build(sim);
    Ok(())
}

fn validate_mechanism<M: Mechanism>(v: &Value, ctx: &ValidateCtx<'_>) -> Result<(), String> {
    validate_typed::<M, _>(v, ctx, M::validate)
}

/// Object-safe face of [`Metric`].
pub(crate) trait DynMetric: Send + Sync {
    fn columns(&self) -> Vec<String>;
    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>);
}

impl<M: Metric> DynMetric for M {
    fn columns(&self) -> Vec<String> {
        Metric::columns(self)
    }
    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        Metric::compute(self, world, out);
    }
}

fn install_behavior<B: Behavior>(sim: &mut SimBuilder<'_>) {
    B::build(sim);
}

fn spawn_behavior<B: Behavior>(
    world: &mut World,
    params: &Value,
    first: u32,
    count: u32,
    base: &mut dyn FnMut(&mut World, u32) -> Entity,
) -> Result<(), String> {
    let params: B = serde_json::from_value(params.clone()).map_err(|e| e.to_string())?;
    for k in 0..count {
        let entity = base(world, k);
        let mut agent = AgentSpawn::new(world, entity, first + k);
        if B::PARAMS_PER_AGENT {
            agent.insert(params.clone());
        }
        params.spawn(&mut agent);
    }
    Ok(())
}

fn validate_typed<T: DeserializeOwned, F: Fn(&T, &ValidateCtx<'_>) -> Result<(), String>>(
    v: &Value,
    ctx: &ValidateCtx<'_>,
    f: F,
) -> Result<(), String> {
    let typed: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    f(&typed, ctx)
}

fn validate_behavior<B: Behavior>(v: &Value, ctx: &ValidateCtx<'_>) -> Result<(), String> {
    validate_typed::<B, _>(v, ctx, B::validate)
}

fn validate_metric<M: Metric>(v: &Value, ctx: &ValidateCtx<'_>) -> Result<(), String> {
    validate_typed::<M, _>(v, ctx, M::validate)
}

fn make_metric<M: Metric>(v: &Value) -> Result<Box<dyn DynMetric>, String> {
    let m: M = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    Ok(Box::new(m))
}

/// The explicit list of plug-ins a scenario may name. `agora_agents::register_all` fills it;
/// tests check that names are unique and snake_case.
#[derive(Default, Clone)]
pub struct Registry {
    behaviors: Vec<BehaviorEntry>,
    metrics: Vec<MetricEntry>,
    mechanisms: Vec<MechanismEntry>,
    quantities: Vec<(PluginInfo, crate::quantity::MakeQuantityFn)>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field(
                "behaviors",
                &self
                    .behaviors
                    .iter()
                    .map(|b| b.info.name)
                    .collect::<Vec<_>>(),
            )
            .field(
                "mechanisms",
                &self
                    .mechanisms
                    .iter()
                    .map(|m| m.info.name)
                    .collect::<Vec<_>>(),
            )
            .field(
                "metrics",
                &self.metrics.iter().map(|m| m.info.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers a behavior.
    pub fn behavior<B: Behavior>(&mut self) -> &mut Registry {
        self.behaviors.push(BehaviorEntry {
            info: PluginInfo {
                name: B::NAME,
                summary: B::SUMMARY,
                kind: PluginKind::Behavior,
                codec: Codec::of::<B>(),
            },
            type_id: std::any::TypeId::of::<B>(),
            install: install_behavior::<B>,
            spawn: spawn_behavior::<B>,
            validate: validate_behavior::<B>,
        });
        self
    }

    /// Registers a metric.
    pub fn metric<M: Metric>(&mut self) -> &mut Registry {
        self.metrics.push(MetricEntry {
            info: PluginInfo {
                name: M::NAME,
                summary: M::SUMMARY,
                kind: PluginKind::Metric,
                codec: Codec::of::<M>(),
            },
            make: make_metric::<M>,
            validate: validate_metric::<M>,
        });
        self
    }

    /// Registers a task-allocation protocol or conflict-resolution policy.
    pub fn mechanism<M: Mechanism>(&mut self) -> &mut Registry {
        self.mechanisms.push(MechanismEntry {
            info: PluginInfo {
                name: M::NAME,
                summary: M::SUMMARY,
                kind: PluginKind::of_section(M::SECTION),
                codec: Codec::of::<M>(),
            },
            install: install_mechanism::<M>,
            validate: validate_mechanism::<M>,
        });
        self
    }

    pub(crate) fn find_mechanism(&self, kind: PluginKind, name: &str) -> Option<&MechanismEntry> {
        self.mechanisms
            .iter()
            .find(|m| m.info.kind == kind && m.info.name == name)
    }

    /// The params codec of whatever plug-in sits at `site`, or the unknown-name message.
    pub(crate) fn codec_for(&self, site: crate::scenario::ParamSite<'_>) -> Result<&Codec, String> {
        use crate::scenario::ParamSite;
        let (kind, name) = match site {
            ParamSite::Behavior { name, .. } => (PluginKind::Behavior, name),
            ParamSite::Metric { name } => (PluginKind::Metric, name),
            ParamSite::Protocol { name } => (PluginKind::Protocol, name),
            ParamSite::Policy { name } => (PluginKind::Policy, name),
        };
        self.plugins()
            .find(|p| p.kind == kind && p.name == name)
            .map(|p| &p.codec)
            .ok_or_else(|| unknown_name_message(&kind.to_string(), name, &self.names(kind)))
    }

    /// Registers a per-agent quantity that metrics can summarise.
    pub fn quantity<Q: crate::AgentQuantity>(&mut self) -> &mut Registry {
        self.quantities.push((
            PluginInfo {
                name: Q::NAME,
                summary: Q::SUMMARY,
                kind: PluginKind::Quantity,
                codec: Codec::of::<Q>(),
            },
            crate::quantity::make_quantity::<Q>,
        ));
        self
    }

    /// The registered quantities, as metrics use them at run time.
    pub fn quantities(&self) -> crate::Quantities {
        crate::Quantities {
            entries: self.quantities.iter().map(|(i, m)| (i.name, *m)).collect(),
        }
    }

    /// All plug-ins: behaviors, mechanisms, metrics, then quantities, each list in
    /// registration order.
    pub fn plugins(&self) -> impl Iterator<Item = &PluginInfo> {
        self.behaviors
            .iter()
            .map(|b| &b.info)
            .chain(self.mechanisms.iter().map(|m| &m.info))
            .chain(self.metrics.iter().map(|m| &m.info))
            .chain(self.quantities.iter().map(|(i, _)| i))
    }

    /// Names of one kind, in registration order.
    pub fn names(&self, kind: PluginKind) -> Vec<&'static str> {
        self.plugins()
            .filter(|p| p.kind == kind)
            .map(|p| p.name)
            .collect()
    }

    pub(crate) fn find_behavior(&self, name: &str) -> Option<&BehaviorEntry> {
        self.behaviors.iter().find(|b| b.info.name == name)
    }

    pub(crate) fn find_metric(&self, name: &str) -> Option<&MetricEntry> {
        self.metrics.iter().find(|m| m.info.name == name)
    }

    /// Checks the registry's invariants: names unique within a kind and snake_case. Returns
    /// every violation.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for p in self.plugins() {
            if !seen.insert((p.kind, p.name)) {
                problems.push(format!("{} name `{}` is registered twice", p.kind, p.name));
            }
            if !is_snake_case(p.name) {
                problems.push(format!("{} name `{}` is not snake_case", p.kind, p.name));
            }
            if p.summary.trim().is_empty() || p.summary.contains('\n') {
                problems.push(format!("{} `{}` needs a one-line summary", p.kind, p.name));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// `lower_snake_case`: lowercase ASCII letters and digits separated by single underscores,
/// starting with a letter.
pub fn is_snake_case(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && !name.ends_with('_')
        && !name.contains("__")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// "unknown behavior `flockin`; did you mean `flocking`? valid names: a, b, c".
pub fn unknown_name_message(kind: &str, name: &str, valid: &[&str]) -> String {
    let nearest = valid
        .iter()
        .map(|v| (strsim::damerau_levenshtein(name, v), *v))
        .min()
        .filter(|(d, v)| *d <= (v.len() / 3).max(2));
    let mut msg = format!("unknown {kind} `{name}`");
    if let Some((_, v)) = nearest {
        msg.push_str(&format!("; did you mean `{v}`?"));
    }
    let kinds = match kind.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ => format!("{kind}s"),
    };
    if valid.is_empty() {
        msg.push_str(&format!(" (no {kinds} are registered)"));
    } else {
        msg.push_str(&format!(" (valid {kinds}: {})", valid.join(", ")));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_rules() {
        for ok in ["flocking", "random_walk", "a1", "mean_nn_distance"] {
            assert!(is_snake_case(ok), "{ok}");
        }
        for bad in [
            "",
            "Flocking",
            "random-walk",
            "_x",
            "x_",
            "a__b",
            "1a",
            "a b",
        ] {
            assert!(!is_snake_case(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_names_suggest_the_nearest() {
        let msg = unknown_name_message("behavior", "flockin", &["flocking", "schelling"]);
        assert!(msg.contains("did you mean `flocking`"), "{msg}");
        assert!(msg.contains("flocking, schelling"), "{msg}");
        let msg = unknown_name_message("behavior", "zzz", &["flocking"]);
        assert!(!msg.contains("did you mean"), "{msg}");
        let msg = unknown_name_message("policy", "tokn", &["token"]);
        assert!(msg.contains("(valid policies: token)"), "{msg}");
        let msg = unknown_name_message("key", "k", &["x"]);
        assert!(msg.contains("(valid keys: x)"), "{msg}");
    }
}
