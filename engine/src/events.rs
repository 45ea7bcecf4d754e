//! Scenario events (agents failing and joining at given ticks), the directory of live agents
//! they keep up to date, and the journal of notable happenings written to `events.csv`.

use crate::agent::{AgentId, AgentState, GridCell, Population, Position};
use crate::error::{Error, ScenarioError};
use crate::phase::{EngineSet, Tick};
use crate::plugin::{Registry, SpawnFn};
use crate::record::{Cadence, FileId, OutputSink, Recorder, Rows};
use crate::rng::{Purpose, SimRng};
use crate::scenario::{Placement, Scenario};
use crate::sim::{Obstacles, continuous_position};
use crate::space::{GridOccupancy, Space, SpaceKind};
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::IntoScheduleConfigs;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scheduled event: `(tick: 50, action: Kill(count: 10))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// The tick it happens in (its Environment phase), so outputs from tick `tick + 1` on
    /// reflect it.
    pub tick: u64,
    /// What happens.
    pub action: EventAction,
}

/// What a scheduled event does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventAction {
    /// Agents fail and are removed. `group` (a population's name, or its behavior when
    /// unnamed) limits the choice to that population; `count` picks that many at random
    /// (all of them when `None`). At least one of the two is required.
    Kill {
        /// How many (default `None`: all in the group).
        #[serde(default)]
        count: Option<u32>,
        /// Which population (default `None`: any agent).
        #[serde(default)]
        group: Option<String>,
    },
    /// New agents join a population, with its behavior and params, new ids, and its
    /// placement unless `placement` is given.
    Spawn {
        /// The population (its name, or its behavior when unnamed).
        group: String,
        /// How many.
        count: u32,
        /// Where (default `None`: the population's own placement).
        #[serde(default)]
        placement: Option<Placement>,
    },
}

/// Checks events against the scenario: known groups and positive counts. Events after the
/// last tick are allowed (they never happen), so that shortening a run with `--ticks` keeps
/// the scenario valid.
/// Returns the field path and the problem.
pub(crate) fn check_events(s: &Scenario) -> Result<(), (String, String)> {
    let labels: Vec<&str> = (0..s.populations.len())
        .map(|i| s.population_label(i))
        .collect();
    let known = |path: String, name: &str| -> Result<(), (String, String)> {
        if labels.contains(&name) {
            Ok(())
        } else {
            Err((
                path,
                crate::plugin::unknown_name_message("group", name, &labels),
            ))
        }
    };
    for (i, ev) in s.events.iter().enumerate() {
        let at = |f: &str| format!("events[{i}].{f}");
        match &ev.action {
            EventAction::Kill { count, group } => {
                if count.is_none() && group.is_none() {
                    return Err((
                        at("action"),
                        "`Kill` needs a `count`, a `group`, or both".into(),
                    ));
                }
                if *count == Some(0) {
                    return Err((at("action.count"), "must be at least 1".into()));
                }
                if let Some(g) = group {
                    known(at("action.group"), g)?;
                }
            }
            EventAction::Spawn { group, count, .. } => {
                known(at("action.group"), group)?;
                if *count == 0 {
                    return Err((at("action.count"), "must be at least 1".into()));
                }
            }
        }
    }
    Ok(())
}

/// Live agents by id, kept current by the engine when agents are spawned or removed by
/// scenario events. Systems use it to find an agent's entity from its id.
#[derive(Resource, Debug, Clone, Default)]
pub struct AgentDirectory {
    entity: Vec<Option<Entity>>,
    population: Vec<u16>,
    gone: Vec<u32>,
    generation: u64,
}

impl AgentDirectory {
    /// The entity of live agent `id`.
    #[inline]
    pub fn entity(&self, id: u32) -> Option<Entity> {
        self.entity.get(id as usize).copied().flatten()
    }

    /// Whether agent `id` is alive.
    #[inline]
    pub fn is_alive(&self, id: u32) -> bool {
        self.entity(id).is_some()
    }

    /// The population agent `id` was spawned into (also for dead agents).
    pub fn population(&self, id: u32) -> Option<u16> {
        self.population.get(id as usize).copied()
    }

    /// Ids of live agents, ascending.
    pub fn alive(&self) -> impl Iterator<Item = u32> + '_ {
        self.entity
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(i, _)| i as u32)
    }

    /// Ids of agents that have died, ascending.
    pub fn gone(&self) -> &[u32] {
        &self.gone
    }

    /// The id the next spawned agent gets.
    pub fn next_id(&self) -> u32 {
        self.entity.len() as u32
    }

    /// Changes whenever an agent is added or removed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn add(&mut self, id: u32, e: Entity, pop: u16) {
        let i = id as usize;
        if self.entity.len() <= i {
            self.entity.resize(i + 1, None);
            self.population.resize(i + 1, 0);
        }
        self.entity[i] = Some(e);
        self.population[i] = pop;
        self.generation += 1;
    }

    fn remove(&mut self, id: u32) {
        if let Some(slot) = self.entity.get_mut(id as usize)
            && slot.take().is_some()
        {
            let at = self.gone.partition_point(|&g| g < id);
            self.gone.insert(at, id);
            self.generation += 1;
        }
    }
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Tick it happened in.
    pub tick: u64,
    /// The agent concerned.
    pub agent: u32,
    /// What happened (`killed`, `spawned`, `no_plan`, ...).
    pub kind: &'static str,
    /// Details for people.
    pub detail: String,
}

/// Notable happenings, written to `events.csv` at the end of a run: scenario events and what
/// plug-ins report (a goal with no plan, for instance). Write from one system at a time, in
/// agent-id order, so that the order is reproducible.
#[derive(Resource, Debug, Clone, Default)]
pub struct Journal {
    entries: Vec<JournalEntry>,
}

impl Journal {
    /// Records an entry.
    pub fn push(&mut self, tick: u64, agent: u32, kind: &'static str, detail: impl Into<String>) {
        self.entries.push(JournalEntry {
            tick,
            agent,
            kind,
            detail: detail.into(),
        });
    }

    /// All entries so far, in the order recorded.
    pub fn entries(&self) -> &[JournalEntry] {
        &self.entries
    }

    /// Number of entries of one kind.
    pub fn count(&self, kind: &str) -> usize {
        self.entries.iter().filter(|e| e.kind == kind).count()
    }
}

/// Writes the [`Journal`] to `events.csv` (`tick,agent,event,detail`), the new entries of
/// each tick as they come. The file is created with the first entry, so a run in which
/// nothing notable happens has none.
#[derive(Default)]
pub(crate) struct JournalRecorder {
    file: Option<FileId>,
    written: usize,
}

/// Journal rows on their way to `events.csv`.
struct JournalRows(Vec<JournalEntry>);

impl Rows for JournalRows {
    fn encode(&self, buf: &mut Vec<u8>) {
        use std::io::Write as _;
        for e in &self.0 {
            let detail = e.detail.replace('"', "\"\"");
            let _ = writeln!(buf, "{},{},{},\"{detail}\"", e.tick, e.agent, e.kind);
        }
    }
}

impl Recorder for JournalRecorder {
    fn name(&self) -> &str {
        "journal"
    }

    fn cadence(&self) -> Cadence {
        Cadence::Every(1)
    }

    fn begin(&mut self, _world: &mut World, _out: &mut dyn OutputSink) -> Result<(), Error> {
        Ok(())
    }

    fn record(
        &mut self,
        world: &mut World,
        _tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        let Some(journal) = world.get_resource::<Journal>() else {
            return Ok(());
        };
        let new = journal.entries.get(self.written..).unwrap_or_default();
        if new.is_empty() {
            return Ok(());
        }
        let rows = JournalRows(new.to_vec());
        self.written = journal.entries.len();
        let file = match self.file {
            Some(f) => f,
            None => {
                let f = out.create("events.csv", b"tick,agent,event,detail\n".to_vec())?;
                self.file = Some(f);
                f
            }
        };
        out.write(file, Box::new(rows))
    }

    fn finish(
        &mut self,
        world: &mut World,
        tick: u64,
        out: &mut dyn OutputSink,
    ) -> Result<(), Error> {
        self.record(world, tick, out)
    }
}

/// Called with newly spawned agents `(entity, id, population)` so that subsystems can give
/// them their components (mailboxes, for instance).
pub(crate) type SpawnHook = fn(&mut World, &[(Entity, u32, u16)]);

/// Subsystems' spawn hooks, run for the initial agents and for every agent that joins.
#[derive(Resource, Default)]
pub(crate) struct SpawnHooks(pub(crate) Vec<SpawnHook>);

struct PopulationSpawn {
    spawn: SpawnFn,
    params: Value,
    placement: Placement,
}

#[derive(Resource)]
struct EventQueue {
    events: Vec<(usize, EventSpec)>,
    next: usize,
    populations: Vec<PopulationSpawn>,
    labels: Vec<String>,
}

/// Global stream channel for event draws.
const EVENTS_CHANNEL: u32 = 0xE7_0000;

/// Builds the directory from the spawned agents, runs the spawn hooks for them, and
/// schedules the scenario's events. Called by `Sim::new` after the initial spawn.
pub(crate) fn install(
    world: &mut World,
    schedule: &mut Schedule,
    scenario: &Scenario,
    registry: &Registry,
) -> Result<(), Error> {
    let mut dir = AgentDirectory::default();
    let mut q = world.query::<(Entity, &AgentId, &Population)>();
    let mut spawned: Vec<(Entity, u32, u16)> =
        q.iter(world).map(|(e, id, p)| (e, id.0, p.0)).collect();
    spawned.sort_unstable_by_key(|s| s.1);
    for &(e, id, p) in &spawned {
        dir.add(id, e, p);
    }
    world.insert_resource(dir);
    world.init_resource::<Journal>();
    world.init_resource::<SpawnHooks>();
    run_spawn_hooks(world, &spawned);

    let mut populations = Vec::new();
    for (i, pop) in scenario.populations.iter().enumerate() {
        let entry = registry.find_behavior(&pop.behavior).ok_or_else(|| {
            Error::Scenario(
                ScenarioError::new("scenario", format!("unknown behavior `{}`", pop.behavior))
                    .at_field(format!("populations[{i}].behavior")),
            )
        })?;
        populations.push(PopulationSpawn {
            spawn: entry.spawn,
            params: pop.params.0.clone(),
            placement: pop.placement.clone(),
        });
    }
    let mut events: Vec<(usize, EventSpec)> = scenario.events.iter().cloned().enumerate().collect();
    events.sort_by_key(|(i, e)| (e.tick, *i));
    if !events.is_empty() {
        world.insert_resource(EventQueue {
            events,
            next: 0,
            populations,
            labels: (0..scenario.populations.len())
                .map(|i| scenario.population_label(i).to_owned())
                .collect(),
        });
        schedule.add_systems(run_events.in_set(EngineSet::Events));
    }
    Ok(())
}

fn run_spawn_hooks(world: &mut World, spawned: &[(Entity, u32, u16)]) {
    let hooks = world.resource::<SpawnHooks>().0.clone();
    for h in hooks {
        h(world, spawned);
    }
}

fn run_events(world: &mut World) {
    let tick = world.resource::<Tick>().0;
    loop {
        let due = {
            let s = world.resource::<EventQueue>();
            match s.events.get(s.next) {
                Some((i, ev)) if ev.tick == tick => Some((*i, ev.clone())),
                Some((_, ev)) if ev.tick < tick => None,
                _ => break,
            }
        };
        world.resource_mut::<EventQueue>().next += 1;
        if let Some((index, ev)) = due {
            match ev.action {
                EventAction::Kill { count, group } => kill(world, tick, index, count, group),
                EventAction::Spawn {
                    group,
                    count,
                    placement,
                } => spawn(world, tick, index, &group, count, placement),
            }
        }
    }
}

fn group_index(world: &World, name: &str) -> Option<u16> {
    world
        .resource::<EventQueue>()
        .labels
        .iter()
        .position(|l| l == name)
        .map(|i| i as u16)
}

fn kill(world: &mut World, tick: u64, index: usize, count: Option<u32>, group: Option<String>) {
    let pop = group.as_deref().and_then(|g| group_index(world, g));
    let dir = world.resource::<AgentDirectory>();
    let mut pool: Vec<u32> = dir
        .alive()
        .filter(|&id| pop.is_none_or(|p| dir.population(id) == Some(p)))
        .collect();
    let k = count.map_or(pool.len(), |c| (c as usize).min(pool.len()));
    let mut rng =
        world
            .resource::<SimRng>()
            .global(EVENTS_CHANNEL + index as u32, tick, Purpose::EVENTS);
    for i in 0..k {
        let j = i + rng.below((pool.len() - i) as u64) as usize;
        pool.swap(i, j);
    }
    let mut victims = pool[..k].to_vec();
    victims.sort_unstable();
    let label = group.unwrap_or_else(|| "any".to_owned());
    for id in victims {
        let Some(e) = world.resource::<AgentDirectory>().entity(id) else {
            continue;
        };
        if let Some(cell) = world.get::<GridCell>(e).copied()
            && let Some(mut occ) = world.get_resource_mut::<GridOccupancy>()
        {
            occ.vacate(cell);
        }
        world.despawn(e);
        world.resource_mut::<AgentDirectory>().remove(id);
        world.resource_mut::<Journal>().push(
            tick,
            id,
            "killed",
            format!("event {index}: kill in group {label}"),
        );
    }
}

fn spawn(
    world: &mut World,
    tick: u64,
    index: usize,
    group: &str,
    count: u32,
    placement: Option<Placement>,
) {
    let Some(pop) = group_index(world, group) else {
        return;
    };
    let space = world.resource::<Space>().clone();
    let rng = world.resource::<SimRng>().clone();
    let (spawn_fn, params, default_placement) = {
        let s = world.resource::<EventQueue>();
        let p = &s.populations[pop as usize];
        (p.spawn, p.params.clone(), p.placement.clone())
    };
    let placement = placement.unwrap_or(default_placement);
    let first = world.resource::<AgentDirectory>().next_id();
    let mut agents = Vec::new();
    let mut cells = if space.kind == SpaceKind::Grid {
        free_cells(world, &placement, &space)
    } else {
        Vec::new()
    };
    let mut draw = rng.global(EVENTS_CHANNEL + index as u32, tick, Purpose::PLACEMENT);
    let one_per_cell = world.get_resource::<GridOccupancy>().is_some();
    // On a grid, joiners need free cells: with one agent per cell, at most one joins per free
    // cell, and none join when the region has no cell at all.
    let count = match space.kind {
        SpaceKind::Continuous => count,
        SpaceKind::Grid if cells.is_empty() => 0,
        SpaceKind::Grid if one_per_cell => count.min(cells.len() as u32),
        SpaceKind::Grid => count,
    };
    let mut base = |world: &mut World, k: u32| -> Entity {
        let id = first + k;
        let common = (AgentId(id), Population(pop), AgentState::default());
        let e = match space.kind {
            SpaceKind::Continuous => {
                let mut r = rng.agent(id, tick, Purpose::PLACEMENT);
                let p = continuous_position(&placement, &space, &mut r, k);
                world.spawn((common, Position(p))).id()
            }
            SpaceKind::Grid => {
                let j = draw.below(cells.len() as u64) as usize;
                let cell = if one_per_cell {
                    cells.swap_remove(j)
                } else {
                    cells[j]
                };
                if let Some(mut occ) = world.get_resource_mut::<GridOccupancy>() {
                    let _ = occ.place(cell, id);
                }
                world.spawn((common, cell)).id()
            }
        };
        world.resource_mut::<AgentDirectory>().add(id, e, pop);
        agents.push((e, id));
        e
    };
    if let Err(message) = spawn_fn(world, &params, first, count, &mut base) {
        world.resource_mut::<Journal>().push(
            tick,
            first,
            "spawn_failed",
            format!("event {index}: {message}"),
        );
    }
    let hooked: Vec<(Entity, u32, u16)> = agents.iter().map(|&(e, id)| (e, id, pop)).collect();
    run_spawn_hooks(world, &hooked);
    for &(_, id) in &agents {
        world.resource_mut::<Journal>().push(
            tick,
            id,
            "spawned",
            format!("event {index}: join group {group}"),
        );
    }
}

/// Free cells of the placement region, row-major.
fn free_cells(world: &World, placement: &Placement, space: &Space) -> Vec<GridCell> {
    let (w, h) = (space.width as i32, space.height as i32);
    let obstacles = world.get_resource::<Obstacles>();
    let occupancy = world.get_resource::<GridOccupancy>();
    let inside = |c: GridCell| {
        let (x, y) = (f64::from(c.x) + 0.5, f64::from(c.y) + 0.5);
        match *placement {
            Placement::Uniform | Placement::Positions(_) => true,
            Placement::Point(px, py) => c.x == px.floor() as i32 && c.y == py.floor() as i32,
            Placement::Rect(x0, y0, x1, y1) => x >= x0 && x <= x1 && y >= y0 && y <= y1,
            Placement::Disc(cx, cy, r) => (x - cx).powi(2) + (y - cy).powi(2) <= r * r,
        }
    };
    (0..h)
        .flat_map(|y| (0..w).map(move |x| GridCell::new(x, y)))
        .filter(|&c| {
            inside(c)
                && !obstacles.is_some_and(|o| o.is_blocked(c))
                && occupancy.is_none_or(|o| o.is_free(c))
        })
        .collect()
}
