//! The simulation: a bevy `World` and the tick `Schedule`, built from a scenario.

use crate::agent::{AgentId, AgentState, GridCell, Population, Position};
use crate::digest::{DigestFns, DigestState, component_digest, resource_digest, world_digest};
use crate::error::{Error, ScenarioError};
use crate::phase::{EngineSet, Phase, Slot, Tick, TickSchedule};
use crate::plugin::{DynMetric, PluginKind, Registry, unknown_name_message};
use crate::record::{
    DetectedChange, MetricSet, MetricsRecorder, OutputSink, Recorder, Recording, SnapshotRecorder,
    record_at, record_output,
};
use crate::rng::{AgentRng, Purpose, SimRng};
use crate::scenario::{Placement, Scenario, StopCondition};
use crate::space::{
    GridItem, GridOccupancy, QueryTables, Space, SpaceKind, TableRows, UniformGrid,
};
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{
    IntoScheduleConfigs, LogLevel, MultiThreadedExecutor, ScheduleBuildSettings,
    SingleThreadedExecutor,
};
use bevy_ecs::system::ScheduleSystem;
use glam::DVec2;
use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet};

/// How a simulation executes (never what it computes: results are identical for any value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimOptions {
    /// 1: single-threaded executor. N > 1: multi-threaded executor and parallel iteration in
    /// hot systems, on a compute pool of N threads sized once per process.
    pub threads: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions { threads: 1 }
    }
}

/// Sizes bevy's process-wide compute pool. The first call wins (the pool is a global that
/// cannot be resized); returns the pool's actual thread count.
pub fn init_compute_pool(threads: usize) -> usize {
    let threads = threads.max(1);
    bevy_tasks::ComputeTaskPool::get_or_init(|| {
        bevy_tasks::TaskPoolBuilder::new()
            .num_threads(threads)
            .build()
    })
    .thread_num()
}

/// The spatial index over all agents with a [`Position`], rebuilt before Sense when a plug-in
/// asks for it with [`SimBuilder::spatial_index`].
#[derive(Resource, Default)]
pub struct SpatialIndex {
    /// Items carry the entity, so a system can look up neighbours' components.
    pub grid: UniformGrid<Entity>,
    radius: f64,
}

impl std::ops::Deref for SpatialIndex {
    type Target = UniformGrid<Entity>;
    fn deref(&self) -> &UniformGrid<Entity> {
        &self.grid
    }
}

fn rebuild_spatial_index(
    space: Res<'_, Space>,
    mut index: ResMut<'_, SpatialIndex>,
    agents: Query<'_, '_, (Entity, &AgentId, &Position)>,
) {
    let index = &mut *index;
    let tables = QueryTables::new(
        agents
            .contiguous_iter()
            .expect("agent ids and positions are stored in tables")
            .map(|(entities, ids, pos)| AgentRows(entities, ids, pos)),
    );
    index.grid.rebuild_indexed(&space, index.radius, &tables);
}

/// One ECS table's agents, for [`SpatialIndex`].
struct AgentRows<'w>(&'w [Entity], &'w [AgentId], &'w [Position]);

impl TableRows for AgentRows<'_> {
    type Data = Entity;

    fn rows(&self) -> usize {
        self.0.len()
    }

    #[inline(always)]
    fn item(&self, r: usize) -> GridItem<Entity> {
        GridItem {
            pos: self.2[r].0,
            id: self.1[r].0,
            data: self.0[r],
        }
    }
}

/// Blocked cells of a grid world.
#[derive(Resource, Debug, Clone, Default)]
pub struct Obstacles {
    width: i32,
    blocked: Vec<bool>,
}

impl Obstacles {
    /// Whether `cell` is blocked (cells outside the grid are not).
    pub fn is_blocked(&self, cell: GridCell) -> bool {
        cell.x >= 0
            && cell.x < self.width
            && cell.y >= 0
            && self
                .blocked
                .get((cell.y * self.width + cell.x) as usize)
                .copied()
                .unwrap_or(false)
    }

    /// The blocked cells.
    pub fn cells(&self) -> impl Iterator<Item = GridCell> + '_ {
        let w = self.width;
        self.blocked
            .iter()
            .enumerate()
            .filter(|(_, b)| **b)
            .map(move |(i, _)| GridCell::new(i as i32 % w, i as i32 / w))
    }
}

/// What a behavior's `build` uses to add systems and resources.
pub struct SimBuilder<'s> {
    world: World,
    schedule: Schedule,
    scenario: &'s Scenario,
    registry: &'s Registry,
    slot: u16,
    built: BTreeSet<TypeIdKey>,
    spatial_radius: Option<f64>,
    pub(crate) recorders: Vec<Box<dyn Recorder>>,
    pub(crate) event_kinds: Vec<&'static str>,
}

/// `TypeId` with an order, for a deterministic set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TypeIdKey(TypeId);

impl<'s> SimBuilder<'s> {
    /// Adds systems to a phase. Systems of different plug-ins in one phase run in
    /// population order; a plug-in orders its own systems (`.chain()`, `.before()`).
    pub fn add_systems<M>(
        &mut self,
        phase: Phase,
        systems: impl IntoScheduleConfigs<ScheduleSystem, M>,
    ) -> &mut Self {
        self.schedule
            .add_systems(systems.in_set(Slot(phase, self.slot)));
        self
    }

    /// Adds engine systems to one of the engine's own sets.
    pub(crate) fn add_engine_systems<M>(
        &mut self,
        set: EngineSet,
        systems: impl IntoScheduleConfigs<ScheduleSystem, M>,
    ) -> &mut Self {
        self.schedule.add_systems(systems.in_set(set));
        self
    }

    /// The schedule being built, for engine subsystems that order their own sets.
    pub(crate) fn schedule_mut(&mut self) -> &mut Schedule {
        &mut self.schedule
    }

    /// Adds a recorder; it runs after the built-in ones (metrics, snapshots), in the order
    /// added.
    pub fn add_recorder(&mut self, recorder: impl Recorder) -> &mut Self {
        self.recorders.push(Box::new(recorder));
        self
    }

    /// Inserts (or replaces) a resource.
    pub fn insert_resource<R: Resource>(&mut self, resource: R) -> &mut Self {
        self.world.insert_resource(resource);
        self
    }

    /// Inserts a resource from its `Default`/`FromWorld` unless present.
    pub fn init_resource<R: Resource + FromWorld>(&mut self) -> &mut Self {
        self.world.init_resource::<R>();
        self
    }

    /// The world being built (resources, component hooks).
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// The world being built.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The scenario being built.
    pub fn scenario(&self) -> &'s Scenario {
        self.scenario
    }

    /// The registry the scenario was resolved with.
    pub fn registry(&self) -> &'s Registry {
        self.registry
    }

    /// The world's geometry.
    pub fn space(&self) -> &Space {
        self.world.resource::<Space>()
    }

    /// Asks for the shared [`SpatialIndex`] with queries of up to `radius`.
    pub fn spatial_index(&mut self, radius: f64) -> &mut Self {
        self.spatial_radius = Some(self.spatial_radius.map_or(radius, |r| r.max(radius)));
        self
    }

    /// Includes component `C` of every agent in the world digest.
    pub fn digest_component<C: Component + DigestState>(&mut self) -> &mut Self {
        let mut fns = self.world.resource_mut::<DigestFns>();
        let id = TypeId::of::<C>();
        if !fns.entity.iter().any(|(t, _)| *t == id) {
            fns.entity.push((id, component_digest::<C>));
        }
        self
    }

    /// Includes resource `R` in the world digest.
    pub fn digest_resource<R: Resource + DigestState>(&mut self) -> &mut Self {
        let mut fns = self.world.resource_mut::<DigestFns>();
        let id = TypeId::of::<R>();
        if !fns.world.iter().any(|(t, _)| *t == id) {
            fns.world.push((id, resource_digest::<R>));
        }
        self
    }

    /// Returns `true` the first time it is called for `T` in this simulation: for setup that
    /// several plug-ins share.
    pub fn first_time<T: 'static>(&mut self) -> bool {
        self.built.insert(TypeIdKey(TypeId::of::<T>()))
    }

    /// Indices of the populations whose behavior is `name`.
    pub fn populations_of(&self, name: &str) -> Vec<u16> {
        self.scenario
            .populations
            .iter()
            .enumerate()
            .filter(|(_, p)| p.behavior == name)
            .map(|(i, _)| i as u16)
            .collect()
    }
}

/// What a behavior's `spawn` sees for one new agent.
pub struct AgentSpawn<'w> {
    world: &'w mut World,
    entity: Entity,
    id: u32,
    rng: AgentRng,
}

impl<'w> AgentSpawn<'w> {
    pub(crate) fn new(world: &'w mut World, entity: Entity, id: u32) -> AgentSpawn<'w> {
        let rng = world.resource::<SimRng>().agent(id, 0, Purpose::SPAWN);
        AgentSpawn {
            world,
            entity,
            id,
            rng,
        }
    }

    /// The agent's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The agent's entity.
    pub fn entity(&self) -> Entity {
        self.entity
    }

    /// The agent's own random stream for initialisation.
    pub fn rng(&mut self) -> &mut AgentRng {
        &mut self.rng
    }

    /// The world's geometry.
    pub fn space(&self) -> &Space {
        self.world.resource::<Space>()
    }

    /// The agent's position, in a continuous world.
    pub fn position(&self) -> Option<DVec2> {
        self.world.get::<Position>(self.entity).map(|p| p.0)
    }

    /// The agent's cell, in a grid world.
    pub fn cell(&self) -> Option<GridCell> {
        self.world.get::<GridCell>(self.entity).copied()
    }

    /// Adds components to the agent.
    pub fn insert<B: Bundle>(&mut self, bundle: B) -> &mut Self {
        self.world.entity_mut(self.entity).insert(bundle);
        self
    }

    /// The world, for spawn logic that needs resources.
    pub fn world_mut(&mut self) -> &mut World {
        self.world
    }
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The tick limit was reached.
    Ticks,
    /// The stop condition held.
    Condition,
}

impl StopReason {
    /// `ticks` or `condition`.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Ticks => "ticks",
            StopReason::Condition => "condition",
        }
    }
}

/// The end state of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Ticks executed.
    pub ticks: u64,
    /// Why it ended.
    pub stopped_by: StopReason,
    /// Final value of every recorded metric column, in column order.
    pub metrics: Vec<(String, f64)>,
    /// The world digest at the end.
    pub digest: u64,
    /// Regime changes found by the detectors of `record.detect`, in order of detection.
    pub changes: Vec<DetectedChange>,
    /// Events written per enabled event log, by kind.
    pub events: BTreeMap<String, u64>,
}

struct StopCheck {
    cond: StopCondition,
    metric: Box<dyn DynMetric>,
    scratch: Vec<f64>,
}

/// A running simulation.
pub struct Sim {
    world: World,
    schedule: Schedule,
    tick: u64,
    limit: u64,
    started: bool,
    stop: Option<StopCheck>,
    columns: Vec<String>,
    stopped_by: Option<StopReason>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("tick", &self.tick)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

fn bad_input(scenario: &Scenario, field: &str, message: impl Into<String>) -> Error {
    let origin = scenario
        .source
        .as_ref()
        .map_or_else(|| "scenario".to_owned(), |p| p.display().to_string());
    let mut err = ScenarioError::new(origin, message).at_field(field);
    // Building happens after loading, when positions are gone: find the field again.
    let src = scenario
        .source
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    if let Some((line, col)) =
        src.and_then(|s| crate::scenario::Locator::new(&s).position_of(field))
    {
        err = err.at(line, col);
    }
    Error::Scenario(err)
}

impl Sim {
    /// Builds the world and schedule from a resolved scenario: resources, plug-in systems,
    /// agents (ids in population order), metrics. Output goes nowhere until
    /// [`Sim::set_output`].
    pub fn new(
        scenario: &Scenario,
        registry: &Registry,
        options: SimOptions,
    ) -> Result<Sim, Error> {
        init_compute_pool(options.threads);
        let mut world = World::new();
        let w = &scenario.world;
        let space = Space {
            kind: w.kind,
            width: w.width,
            height: w.height,
            boundary: w.boundary,
            neighborhood: w.neighborhood,
        };
        world.insert_resource(space.clone());
        world.insert_resource(SimRng::new(scenario.seed));
        world.insert_resource(Tick(0));
        world.insert_resource(registry.quantities());
        world.init_resource::<DigestFns>();
        if space.kind == SpaceKind::Grid {
            let mut blocked = vec![false; space.cell_count()];
            for (x, y) in w.blocked_cells() {
                blocked[(y * space.width as i32 + x) as usize] = true;
            }
            world.insert_resource(Obstacles {
                width: space.width as i32,
                blocked,
            });
            if w.one_per_cell {
                world.insert_resource(GridOccupancy::new(&space));
            }
        }

        let mut schedule = Schedule::new(TickSchedule);
        if options.threads > 1 {
            schedule.set_executor(MultiThreadedExecutor::new());
        } else {
            schedule.set_executor(SingleThreadedExecutor::new());
        }
        schedule.set_build_settings(ScheduleBuildSettings {
            ambiguity_detection: LogLevel::Error,
            ..Default::default()
        });
        let chain = (
            EngineSet::Prepare,
            Phase::Sense,
            EngineSet::Deliver,
            Phase::Deliver,
            Phase::Decide,
            EngineSet::Transmit,
            Phase::Resolve,
            EngineSet::TaskResolve,
            Phase::Act,
            EngineSet::TaskAct,
            Phase::Environment,
            EngineSet::Events,
            EngineSet::TaskUpkeep,
            Phase::Record,
            EngineSet::Output,
        );
        schedule.configure_sets(chain.chain());

        let mut builder = SimBuilder {
            world,
            schedule,
            scenario,
            registry,
            slot: 0,
            built: BTreeSet::new(),
            spatial_radius: None,
            recorders: Vec::new(),
            event_kinds: Vec::new(),
        };
        for (i, pop) in scenario.populations.iter().enumerate() {
            let entry = registry.find_behavior(&pop.behavior).ok_or_else(|| {
                bad_input(
                    scenario,
                    &format!("populations[{i}].behavior"),
                    format!("unknown behavior `{}`", pop.behavior),
                )
            })?;
            if builder.built.insert(TypeIdKey(entry.type_id)) {
                builder.slot = i as u16;
                (entry.install)(&mut builder);
            }
        }
        // Mechanisms get the slots after the populations', in section order.
        let sections = [
            scenario
                .allocation
                .as_ref()
                .map(|a| (PluginKind::Protocol, &a.protocol, &a.params)),
            scenario
                .conflicts
                .as_ref()
                .map(|c| (PluginKind::Policy, &c.policy, &c.params)),
        ];
        let mut slots = scenario.populations.len() as u16;
        for (kind, name, params) in sections.into_iter().flatten() {
            let entry = registry.find_mechanism(kind, name).ok_or_else(|| {
                bad_input(
                    scenario,
                    &format!("{kind}"),
                    format!("unknown {kind} `{name}`"),
                )
            })?;
            builder.slot = slots;
            slots += 1;
            (entry.install)(&mut builder, &params.0)
                .map_err(|m| bad_input(scenario, &format!("{kind}"), m))?;
        }
        crate::task::install(&mut builder)?;
        let SimBuilder {
            mut world,
            mut schedule,
            spatial_radius,
            recorders: plugin_recorders,
            event_kinds,
            ..
        } = builder;
        for (i, kind) in scenario.record.events.iter().enumerate() {
            if !event_kinds.contains(&kind.as_str()) {
                return Err(bad_input(
                    scenario,
                    &format!("record.events[{i}]"),
                    unknown_name_message("event log", kind, &event_kinds),
                ));
            }
        }
        for phase in Phase::ALL {
            for slot in 0..slots {
                schedule.configure_sets(Slot(phase, slot).in_set(phase));
                if slot > 0 {
                    schedule.configure_sets(Slot(phase, slot).after(Slot(phase, slot - 1)));
                }
            }
        }
        crate::intent::install(&mut world, &mut schedule, slots, scenario);
        if let Some(radius) = spatial_radius {
            world.insert_resource(SpatialIndex {
                grid: UniformGrid::new(),
                radius,
            });
            schedule.add_systems(rebuild_spatial_index.in_set(EngineSet::Prepare));
        }
        schedule.add_systems(record_output.in_set(EngineSet::Output));

        spawn_populations(&mut world, scenario, registry)?;
        crate::events::install(&mut world, &mut schedule, scenario, registry)?;
        crate::comms::finish_build(&mut world, scenario)?;

        let mut metrics = Vec::new();
        for name in &scenario.record.metrics {
            metrics.push(make_metric(scenario, registry, name)?);
        }
        let set = MetricSet::new(metrics);
        let columns = set.columns.clone();
        world.insert_resource(set);
        let mut recorders: Vec<Box<dyn Recorder>> = vec![Box::new(
            MetricsRecorder::new(scenario.record.every, &columns, &scenario.record.detect)
                .map_err(|m| bad_input(scenario, "record.detect", m))?,
        )];
        if let Some(every) = scenario.record.snapshots {
            recorders.push(Box::new(SnapshotRecorder::new(
                every,
                scenario.record.snapshot_format,
            )));
        }
        recorders.extend(plugin_recorders);
        recorders.push(Box::new(crate::events::JournalRecorder::default()));
        world.insert_resource(Recording::new(recorders));
        let stop = match &scenario.stop {
            Some(cond) => Some(StopCheck {
                cond: cond.clone(),
                metric: make_metric(scenario, registry, &cond.metric)?,
                scratch: Vec::new(),
            }),
            None => None,
        };

        if let Err(e) = schedule.initialize(&mut world) {
            return Err(Error::Build(e.to_string(schedule.graph(), &world)));
        }
        Ok(Sim {
            world,
            schedule,
            tick: 0,
            limit: scenario.tick_limit(),
            started: false,
            stop,
            columns,
            stopped_by: None,
        })
    }

    /// Sends recorded files to `sink` (by default they go nowhere). Call it before the first
    /// step: recorders create their files when the run starts.
    pub fn set_output(&mut self, sink: Box<dyn OutputSink>) -> Result<(), Error> {
        let mut rec = self.world.resource_mut::<Recording>();
        if rec.has_begun() {
            return Err(Error::Run {
                tick: self.tick,
                message: "the output can only be set before the first step".into(),
            });
        }
        rec.sink = sink;
        Ok(())
    }

    /// The files the output sink created, in creation order (complete once
    /// [`Sim::finish`] or [`Sim::abandon`] returned).
    pub fn output_files(&self) -> Vec<String> {
        self.world.resource::<Recording>().sink.files()
    }

    /// Metric column names, in order.
    pub fn metric_columns(&self) -> &[String] {
        &self.columns
    }

    /// Completed ticks.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// The tick limit.
    pub fn tick_limit(&self) -> u64 {
        self.limit
    }

    /// The world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, mutably (tests, tools).
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    fn take_output_error(&mut self) -> Result<(), Error> {
        match self.world.resource_mut::<Recording>().error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs one tick (recording the initial state first, on the first call).
    pub fn step(&mut self) -> Result<(), Error> {
        self.start()?;
        self.world.resource_mut::<Tick>().0 = self.tick;
        self.schedule.run(&mut self.world);
        self.tick += 1;
        self.take_output_error()
    }

    fn start(&mut self) -> Result<(), Error> {
        if !self.started {
            self.started = true;
            crate::record::begin(&mut self.world);
            record_at(&mut self.world, 0, true);
            self.take_output_error()?;
        }
        Ok(())
    }

    /// Whether the stop condition holds now.
    pub fn stop_condition_met(&mut self) -> bool {
        let Some(check) = self.stop.as_mut() else {
            return false;
        };
        check.scratch.clear();
        check.metric.compute(&mut self.world, &mut check.scratch);
        check
            .scratch
            .first()
            .is_some_and(|&x| check.cond.op.holds(x, check.cond.value))
    }

    /// Runs until the tick limit or the stop condition, calling `progress(tick)` after each
    /// tick.
    pub fn run_with(&mut self, mut progress: impl FnMut(u64)) -> Result<StopReason, Error> {
        self.start()?;
        let reason = loop {
            if self.stop_condition_met() {
                break StopReason::Condition;
            }
            if self.tick >= self.limit {
                break StopReason::Ticks;
            }
            self.step()?;
            progress(self.tick);
        };
        self.stopped_by = Some(reason);
        Ok(reason)
    }

    /// Runs until the tick limit or the stop condition.
    pub fn run(&mut self) -> Result<StopReason, Error> {
        self.run_with(|_| {})
    }

    /// The world digest now.
    pub fn digest(&mut self) -> u64 {
        world_digest(&mut self.world)
    }

    /// Computes every recorded metric now.
    pub fn metrics_now(&mut self) -> Vec<(String, f64)> {
        let values = self
            .world
            .resource_scope(|world, mut set: Mut<'_, MetricSet>| {
                set.compute(world);
                set.scratch.clone()
            });
        self.columns.iter().cloned().zip(values).collect()
    }

    /// Records the final state (if not already recorded at this tick), completes the output
    /// and returns the summary.
    pub fn finish(&mut self) -> Result<RunSummary, Error> {
        self.start()?;
        let tick = self.tick;
        record_at(&mut self.world, tick, true);
        crate::record::finish(&mut self.world, tick)?;
        // The metrics recorder has just evaluated the final state (recording it is forced);
        // evaluating it again for the summary would cost a second pass of every metric.
        let last = &self.world.resource::<MetricSet>().scratch;
        let metrics = if last.len() == self.columns.len() {
            self.columns
                .iter()
                .cloned()
                .zip(last.iter().copied())
                .collect()
        } else {
            self.metrics_now()
        };
        let mut summary = RunSummary {
            ticks: tick,
            stopped_by: self.stopped_by.unwrap_or(StopReason::Ticks),
            metrics,
            digest: self.digest(),
            changes: Vec::new(),
            events: BTreeMap::new(),
        };
        crate::record::summarize(&mut self.world, &mut summary);
        Ok(summary)
    }

    /// Completes the output after a failure, keeping what was recorded (recorders write what
    /// they still hold, files are completed).
    pub fn abandon(&mut self) -> Result<(), Error> {
        let tick = self.tick;
        crate::record::finish(&mut self.world, tick)
    }
}

fn make_metric(
    scenario: &Scenario,
    registry: &Registry,
    name: &str,
) -> Result<Box<dyn DynMetric>, Error> {
    let entry = registry.find_metric(name).ok_or_else(|| {
        bad_input(
            scenario,
            "record.metrics",
            format!("unknown metric `{name}`"),
        )
    })?;
    let params = scenario.record.metric_params.get(name).map_or_else(
        || serde_json::Value::Object(Default::default()),
        |p| p.0.clone(),
    );
    (entry.make)(&params)
        .map_err(|m| bad_input(scenario, &format!("record.metric_params.{name}"), m))
}

fn spawn_populations(
    world: &mut World,
    scenario: &Scenario,
    registry: &Registry,
) -> Result<(), Error> {
    let space = world.resource::<Space>().clone();
    let rng = world.resource::<SimRng>().clone();
    let mut next_id: u32 = 0;
    for (i, pop) in scenario.populations.iter().enumerate() {
        let field = format!("populations[{i}].placement");
        let first = next_id;
        next_id += pop.count;
        let cells = match space.kind {
            SpaceKind::Continuous => Vec::new(),
            SpaceKind::Grid => grid_cells(
                world,
                &pop.placement,
                &space,
                &rng,
                i as u32,
                first,
                pop.count,
            )
            .map_err(|m| bad_input(scenario, &field, m))?,
        };
        let entry = registry.find_behavior(&pop.behavior).ok_or_else(|| {
            bad_input(
                scenario,
                &format!("populations[{i}].behavior"),
                "unknown behavior",
            )
        })?;
        let mut occupied = None;
        // Each agent gets its behavior's components right after its base components, so it
        // is written once into its final table instead of passing through a base-only table
        // that would keep a million-row capacity for nothing.
        let mut base = |world: &mut World, k: u32| -> Entity {
            let id = first + k;
            let common = (AgentId(id), Population(i as u16), AgentState::default());
            match space.kind {
                SpaceKind::Continuous => {
                    let p = continuous_position(
                        &pop.placement,
                        &space,
                        &mut rng.agent(id, 0, Purpose::PLACEMENT),
                        k,
                    );
                    world.spawn((common, Position(p))).id()
                }
                SpaceKind::Grid => {
                    let cell = cells[k as usize];
                    if let Some(mut occ) = world.get_resource_mut::<GridOccupancy>()
                        && let Err(err) = occ.place(cell, id)
                    {
                        occupied.get_or_insert(err);
                    }
                    world.spawn((common, cell)).id()
                }
            }
        };
        (entry.spawn)(world, &pop.params.0, first, pop.count, &mut base)
            .map_err(|m| bad_input(scenario, &format!("populations[{i}].params"), m))?;
        if let Some(err) = occupied {
            return Err(bad_input(scenario, &field, err.to_string()));
        }
    }
    Ok(())
}

pub(crate) fn continuous_position(
    placement: &Placement,
    space: &Space,
    rng: &mut AgentRng,
    k: u32,
) -> DVec2 {
    let mut u = || rng.unit_f64();
    let p = match *placement {
        Placement::Uniform => DVec2::new(u() * space.width, u() * space.height),
        Placement::Point(x, y) => DVec2::new(x, y),
        Placement::Rect(x0, y0, x1, y1) => DVec2::new(x0 + u() * (x1 - x0), y0 + u() * (y1 - y0)),
        Placement::Disc(x, y, r) => {
            let (a, b) = (u(), u());
            let rad = r * a.sqrt();
            let ang = std::f64::consts::TAU * b;
            DVec2::new(x + rad * ang.cos(), y + rad * ang.sin())
        }
        Placement::Positions(ref pts) => {
            let (x, y) = pts[k as usize];
            DVec2::new(x, y)
        }
    };
    space.wrap(p)
}

/// Cells for one population. With one agent per cell, agents draw distinct free cells: the
/// candidate cells are shuffled with the population's own global stream and taken in order,
/// which is exact (no rejection loop) and independent of everything but the seed.
fn grid_cells(
    world: &World,
    placement: &Placement,
    space: &Space,
    rng: &SimRng,
    pop: u32,
    first: u32,
    count: u32,
) -> Result<Vec<GridCell>, String> {
    let (w, h) = (space.width as i32, space.height as i32);
    let obstacles = world.resource::<Obstacles>();
    let occupancy = world.get_resource::<GridOccupancy>();
    let to_cell = |x: f64, y: f64| {
        GridCell::new(
            (x.floor() as i32).clamp(0, w - 1),
            (y.floor() as i32).clamp(0, h - 1),
        )
    };
    let in_region = |c: GridCell| -> bool {
        let (x, y) = (f64::from(c.x) + 0.5, f64::from(c.y) + 0.5);
        match *placement {
            Placement::Uniform => true,
            Placement::Point(px, py) => to_cell(px, py) == c,
            Placement::Rect(x0, y0, x1, y1) => x >= x0 && x <= x1 && y >= y0 && y <= y1,
            Placement::Disc(cx, cy, r) => (x - cx).powi(2) + (y - cy).powi(2) <= r * r,
            Placement::Positions(_) => false,
        }
    };
    if let Placement::Positions(pts) = placement {
        let cells: Vec<GridCell> = pts.iter().map(|&(x, y)| to_cell(x, y)).collect();
        if let Some(c) = cells.iter().find(|c| obstacles.is_blocked(**c)) {
            return Err(format!("cell ({}, {}) is an obstacle", c.x, c.y));
        }
        return Ok(cells);
    }
    let mut candidates: Vec<GridCell> = (0..h)
        .flat_map(|y| (0..w).map(move |x| GridCell::new(x, y)))
        .filter(|&c| {
            in_region(c) && !obstacles.is_blocked(c) && occupancy.is_none_or(|o| o.is_free(c))
        })
        .collect();
    if candidates.is_empty() && count > 0 {
        return Err("no free cell in the placement region".into());
    }
    match occupancy {
        Some(_) => {
            if candidates.len() < count as usize {
                return Err(format!(
                    "{count} agents need distinct cells but the placement region has {} free",
                    candidates.len()
                ));
            }
            let mut r = rng.global(pop, 0, Purpose::PLACEMENT);
            // Partial Fisher-Yates: only the first `count` positions are needed.
            for i in 0..count as usize {
                let j = i + r.below((candidates.len() - i) as u64) as usize;
                candidates.swap(i, j);
            }
            candidates.truncate(count as usize);
            Ok(candidates)
        }
        None => Ok((0..count)
            .map(|k| {
                let mut r = rng.agent(first + k, 0, Purpose::PLACEMENT);
                candidates[r.below(candidates.len() as u64) as usize]
            })
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Behavior;
    use serde::{Deserialize, Serialize};

    /// Asks for the shared spatial index; its agents get a component of their own, so they
    /// are stored in another ECS table than the [`Plain`] agents.
    #[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Seeker {}

    impl Behavior for Seeker {
        const NAME: &'static str = "seeker";
        const SUMMARY: &'static str = "Test behavior.";
        fn build(sim: &mut SimBuilder<'_>) {
            sim.spatial_index(1.5);
        }
    }

    #[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Plain {}

    impl Behavior for Plain {
        const NAME: &'static str = "plain";
        const SUMMARY: &'static str = "Test behavior.";
        fn build(_: &mut SimBuilder<'_>) {}
    }

    /// Two tables whose ids interleave (plain, seeker, plain), so the index is read across
    /// tables and its cells must be put back in id order.
    #[test]
    fn the_shared_spatial_index_holds_every_agent_of_every_table() {
        let mut registry = Registry::new();
        registry.behavior::<Seeker>().behavior::<Plain>();
        let scenario = Scenario::parse(
            "(schema: 1, seed: 3, ticks: 2, world: (width: 20.0, height: 12.0),
              populations: [
                (behavior: \"plain\", count: 150),
                (behavior: \"seeker\", count: 200),
                (behavior: \"plain\", count: 50),
              ])",
            "test.ron",
            &registry,
        )
        .unwrap();
        let mut sim = Sim::new(&scenario, &registry, SimOptions { threads: 1 }).unwrap();
        sim.step().unwrap();
        let world = sim.world_mut();
        let items: Vec<GridItem<Entity>> = world
            .query::<(Entity, &AgentId, &Position)>()
            .iter(world)
            .map(|(e, id, p)| GridItem {
                pos: p.0,
                id: id.0,
                data: e,
            })
            .collect();
        assert_eq!(items.len(), 400);
        let space = world.resource::<Space>().clone();
        let mut want = UniformGrid::new();
        want.rebuild(&space, 1.5, items);
        let index = world.resource::<SpatialIndex>();
        assert_eq!(index.items(), want.items());
        assert_eq!(index.dims(), want.dims());
    }
}
