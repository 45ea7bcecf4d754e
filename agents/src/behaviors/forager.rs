//! `forager`: ants that search for food, carry it home along least-cost paths, lay and
//! follow pheromone, and recruit nest-mates by message. Trails emerge.
//!
//! Each tick an ant perceives (Sense: food within `sense_radius` goes into its memory as a
//! belief about the food patch), decides (Decide: a goal-oriented action planner picks the
//! plan for its goal, `forage` or `recover` when tired, from its symbolic state; the first
//! action of the plan becomes a movement or an intent), and acts (Act: moves, harvests,
//! unloads, rests; returning ants deposit pheromone). The pheromone field diffuses and
//! evaporates in Environment.
//!
//! * Search: a persistent random walk; with probability `follow` an ant that smells a trail
//!   walks along it away from the nest, which leads to food.
//! * Paths to the nest and to remembered food patches are A* paths shared through one
//!   [`PathCache`] per destination, so thousands of ants cost a handful of searches.
//! * Recruitment: an ant unloading at the nest tells ants within `recruit_radius` where food
//!   is (`inform` messages of [`FoodAt`]); the message writes a belief into the receivers'
//!   memory, and their next plan sends them there.
//! * The planner's domain (facts and actions with preconditions, effects and costs) is the
//!   `domain` param, so a scenario can change it; a goal that no plan reaches is recorded as a
//!   `no_plan` event in `events.csv` and the ant waits.
//!
//! Environment params (`nest`, `food`, pheromone rates) are read from the first population
//! that uses this behavior.

use agora_engine::memory::{Informs, Key, Memory, MemoryConfig, Subject};
use agora_engine::planning::goap::{GoapActionSpec, GoapDomain, GoapDomainSpec, GoapPlanner};
use agora_engine::planning::grid::{Connectivity, GridMap};
use agora_engine::planning::{PathCache, PlanQueue, ReplanPolicy, grid_map};
use agora_engine::prelude::*;
use agora_engine::{Obstacles, Scenario};
use bevy_ecs::prelude::ResMut;
use bevy_ecs::schedule::IntoScheduleConfigs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A food patch: a disc of cells, each holding `amount` units at the start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoodPatch {
    /// Centre column.
    pub x: i32,
    /// Centre row.
    pub y: i32,
    /// Radius in cells.
    pub radius: u32,
    /// Units of food per cell.
    pub amount: u32,
}

/// Scenario: `(behavior: "forager", count: 200, params: (nest: (32, 32), food: [(x: 10, y: 50, radius: 3, amount: 20)]))`.
#[derive(Component, Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Forager {
    /// The nest cell (default (20, 20)).
    pub nest: (i32, i32),
    /// Ants within this many cells (Chebyshev) of the nest are at the nest (default 1).
    pub nest_radius: u32,
    /// Food patches (default one patch of radius 3 at (5, 5) with 10 units per cell).
    pub food: Vec<FoodPatch>,
    /// How far an ant sees food, in cells (default 1).
    pub sense_radius: u32,
    /// Pheromone a returning ant lays per step (default 1.0).
    pub deposit: f32,
    /// Fraction of pheromone that evaporates per tick (default 0.02).
    pub evaporation: f32,
    /// Fraction of pheromone that diffuses to the eight neighbours per tick (default 0.05).
    pub diffusion: f32,
    /// Probability that a searching ant on a trail follows it (default 0.8).
    pub follow: f64,
    /// Probability that a searching ant keeps its heading (default 0.8).
    pub persistence: f64,
    /// Unloading ants inform nest-mates within this distance (default 5.0).
    pub recruit_radius: f64,
    /// Ticks of activity a full ant has before it must rest (default 300).
    pub stamina: u32,
    /// Stamina regained per tick of rest at the nest (default 30).
    pub rest_gain: u32,
    /// The ant's memory of food patches (default 8 beliefs, half-life 400 ticks, forgotten
    /// below confidence 0.1).
    pub memory: MemoryConfig,
    /// The planner's facts and actions (default: the built-in foraging domain; action names
    /// must be ones the ant can carry out: search, goto_food, harvest, return_home, unload,
    /// goto_nest, rest).
    pub domain: GoapDomainSpec,
    /// What foraging aims at (default `{"food_stored": true}`).
    pub forage_goal: BTreeMap<String, bool>,
    /// What a tired ant aims at (default `{"rested": true}`).
    pub rest_goal: BTreeMap<String, bool>,
}

fn facts(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
    pairs.iter().map(|&(k, v)| (k.to_owned(), v)).collect()
}

fn action(name: &str, pre: &[(&str, bool)], effects: &[(&str, bool)], cost: f64) -> GoapActionSpec {
    GoapActionSpec {
        name: name.to_owned(),
        pre: facts(pre),
        effects: facts(effects),
        cost,
    }
}

/// The built-in foraging domain.
pub fn default_domain() -> GoapDomainSpec {
    GoapDomainSpec {
        facts: [
            "carrying",
            "knows_food",
            "at_food",
            "at_nest",
            "rested",
            "food_stored",
        ]
        .map(str::to_owned)
        .to_vec(),
        actions: vec![
            action(
                "search",
                &[("carrying", false), ("knows_food", false)],
                &[("knows_food", true)],
                4.0,
            ),
            action(
                "goto_food",
                &[("carrying", false), ("knows_food", true)],
                &[("at_food", true), ("at_nest", false)],
                2.0,
            ),
            action(
                "harvest",
                &[("carrying", false), ("at_food", true)],
                &[("carrying", true)],
                1.0,
            ),
            action(
                "return_home",
                &[("carrying", true)],
                &[("at_nest", true), ("at_food", false)],
                2.0,
            ),
            action(
                "unload",
                &[("carrying", true), ("at_nest", true)],
                &[("carrying", false), ("food_stored", true)],
                1.0,
            ),
            action(
                "goto_nest",
                &[("carrying", false)],
                &[("at_nest", true), ("at_food", false)],
                2.0,
            ),
            action("rest", &[("at_nest", true)], &[("rested", true)], 1.0),
        ],
    }
}

impl Default for Forager {
    fn default() -> Self {
        Forager {
            nest: (20, 20),
            nest_radius: 1,
            food: vec![FoodPatch {
                x: 5,
                y: 5,
                radius: 3,
                amount: 10,
            }],
            sense_radius: 1,
            deposit: 1.0,
            evaporation: 0.02,
            diffusion: 0.05,
            follow: 0.8,
            persistence: 0.8,
            recruit_radius: 5.0,
            stamina: 300,
            rest_gain: 30,
            memory: MemoryConfig {
                capacity: 8,
                half_life: Some(400.0),
                forget_below: 0.1,
                ..MemoryConfig::default()
            },
            domain: default_domain(),
            forage_goal: facts(&[("food_stored", true)]),
            rest_goal: facts(&[("rested", true)]),
        }
    }
}

/// What an action name makes the ant do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Act {
    /// Random walk, following trails.
    Search,
    /// Walk to the best remembered food patch.
    GotoFood,
    /// Take a unit of food here.
    Harvest,
    /// Carry food to the nest.
    ReturnHome,
    /// Drop food at the nest and recruit.
    Unload,
    /// Walk to the nest empty-handed.
    GotoNest,
    /// Regain stamina at the nest.
    Rest,
}

impl Act {
    const NAMES: [&'static str; 7] = [
        "search",
        "goto_food",
        "harvest",
        "return_home",
        "unload",
        "goto_nest",
        "rest",
    ];
    const ALL: [Act; 7] = [
        Act::Search,
        Act::GotoFood,
        Act::Harvest,
        Act::ReturnHome,
        Act::Unload,
        Act::GotoNest,
        Act::Rest,
    ];

    fn from_name(name: &str) -> Option<Act> {
        Act::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Act::ALL[i])
    }

    /// `AgentState` label of an ant doing this (no plan: 7).
    pub fn label(self) -> u32 {
        self as u32
    }
}

/// `AgentState` label of an ant whose goal has no plan.
pub const WAITING: u32 = 7;

/// The facts an ant perceives, in this order.
const PERCEIVED: [&str; 5] = ["carrying", "knows_food", "at_food", "at_nest", "rested"];

/// Goals: index 0 forage, 1 recover.
const FORAGE: u32 = 0;
const RECOVER: u32 = 1;

/// Plans for every perceivable state and goal, computed once from the domain: an ant's plan
/// is a lookup, and the planner runs `2 * 2^5` times per simulation.
#[derive(Resource, Debug, Clone)]
struct Playbook {
    plans: Vec<Result<Vec<Act>, String>>,
}

impl Playbook {
    fn plan(&self, goal: u32, state: u8) -> &Result<Vec<Act>, String> {
        &self.plans[goal as usize * 32 + state as usize]
    }
}

fn playbook(p: &Forager) -> Result<Playbook, String> {
    let domain = GoapDomain::new(p.domain.clone()).map_err(|e| format!("`domain`: {e}"))?;
    let kinds: Vec<Act> = domain
        .actions()
        .iter()
        .map(|a| {
            Act::from_name(a.name()).ok_or_else(|| {
                agora_engine::unknown_name_message("forager action", a.name(), &Act::NAMES)
            })
        })
        .collect::<Result<_, _>>()?;
    let goals = [("forage_goal", &p.forage_goal), ("rest_goal", &p.rest_goal)].map(|(field, g)| {
        domain
            .condition(g.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(|e| format!("`{field}`: {e}"))
    });
    let mut planner = GoapPlanner::new();
    let mut plans = Vec::with_capacity(64);
    for goal in &goals {
        let goal = goal.clone()?;
        for bits in 0u8..32 {
            let mut start = 0u64;
            for (i, name) in PERCEIVED.iter().enumerate() {
                if bits & (1 << i) != 0
                    && let Some(f) = domain.fact_index(name)
                {
                    start |= 1 << f;
                }
            }
            plans.push(
                planner
                    .plan(&domain, start, &goal)
                    .map(|plan| plan.actions.iter().map(|&a| kinds[a]).collect())
                    .map_err(|e| e.to_string()),
            );
        }
    }
    Ok(Playbook { plans })
}

/// Where an ant believes food is, told to nest-mates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FoodAt {
    /// Patch centre column.
    pub x: i32,
    /// Patch centre row.
    pub y: i32,
    /// Units the teller saw.
    pub amount: u32,
}

impl Informs<u32> for FoodAt {
    fn belief(&self) -> Option<(Key, u32, f32)> {
        // Hearsay is trusted a little less than one's own eyes.
        Some((Key::of(Subject::Cell(self.x, self.y)), self.amount, 0.8))
    }
}

/// An ant's own state.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Ant {
    /// Carrying a unit of food.
    pub carrying: bool,
    /// Ticks of activity left.
    pub energy: u32,
    /// Heading for the random walk, 0..8 (N, NE, E, SE, S, SW, W, NW).
    pub heading: u8,
    /// What it does this tick.
    intent: Intent,
    /// The (state, goal) its plan was made for.
    planned_for: Option<(u8, u32)>,
}

impl DigestState for Ant {
    fn digest(&self, h: &mut StableHasher) {
        h.write(&[u8::from(self.carrying), self.heading]);
        h.write_u64(u64::from(self.energy));
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Intent {
    Stay,
    Step(GridCell),
    /// Walk towards destination `d` (0: the nest, `1 + i`: food patch `i`).
    Towards(u16),
    Harvest,
    Unload,
    Rest,
}

/// Food, the nest, the pheromone field and the paths, shared by all ants.
#[derive(Resource)]
pub struct Colony {
    /// The nest cell.
    pub nest: GridCell,
    nest_radius: i32,
    width: i32,
    height: i32,
    food: Vec<u32>,
    /// Patch index + 1 per cell (0: none).
    patch_of: Vec<u16>,
    patches: Vec<FoodPatch>,
    /// The pheromone field.
    pub pheromone: GridField,
    map: GridMap,
    /// One cache per destination: the nest, then each patch centre.
    paths: Vec<PathCache>,
    scratch: agora_engine::planning::grid::AstarScratch,
    /// Units of food brought to the nest so far.
    pub delivered: u64,
    /// Units of food left in the world.
    pub remaining: u64,
    evaporation: f32,
    diffusion: f32,
}

impl DigestState for Colony {
    fn digest(&self, h: &mut StableHasher) {
        h.write_u64(self.delivered);
        h.write_u64(self.remaining);
        for v in self.pheromone.values() {
            h.write(&v.to_bits().to_le_bytes());
        }
    }
}

impl Colony {
    fn index(&self, c: GridCell) -> Option<usize> {
        ((0..self.width).contains(&c.x) && (0..self.height).contains(&c.y))
            .then(|| (c.y * self.width + c.x) as usize)
    }

    /// Food units at `c`.
    pub fn food_at(&self, c: GridCell) -> u32 {
        self.index(c).map_or(0, |i| self.food[i])
    }

    fn at_nest(&self, c: GridCell) -> bool {
        (c.x - self.nest.x).abs() <= self.nest_radius
            && (c.y - self.nest.y).abs() <= self.nest_radius
    }

    fn passable(&self, c: GridCell) -> bool {
        c.x >= 0 && c.y >= 0 && self.map.is_passable((c.x as u32, c.y as u32))
    }

    fn patch_centre(&self, patch: usize) -> GridCell {
        let p = self.patches[patch];
        GridCell::new(p.x, p.y)
    }

    /// Number of food patches.
    pub fn patch_count(&self) -> usize {
        self.patches.len()
    }
}

fn colony(
    p: &Forager,
    scenario: &Scenario,
    obstacles: Option<&Obstacles>,
    space: &Space,
) -> Option<Colony> {
    let map = grid_map(space, obstacles)?;
    let (w, h) = (space.width as i32, space.height as i32);
    let mut food = vec![0u32; (w * h) as usize];
    let mut patch_of = vec![0u16; (w * h) as usize];
    for (i, patch) in p.food.iter().enumerate() {
        let r = patch.radius as i32;
        for y in patch.y - r..=patch.y + r {
            for x in patch.x - r..=patch.x + r {
                let inside = (x - patch.x).pow(2) + (y - patch.y).pow(2) <= r * r;
                if inside
                    && (0..w).contains(&x)
                    && (0..h).contains(&y)
                    && map.is_passable((x as u32, y as u32))
                {
                    let k = (y * w + x) as usize;
                    food[k] = food[k].max(patch.amount);
                    patch_of[k] = i as u16 + 1;
                }
            }
        }
    }
    let nest = GridCell::new(p.nest.0, p.nest.1);
    let mut paths = vec![PathCache::new(
        &map,
        (nest.x as u32, nest.y as u32),
        Connectivity::Eight,
    )];
    for patch in &p.food {
        paths.push(PathCache::new(
            &map,
            (patch.x as u32, patch.y as u32),
            Connectivity::Eight,
        ));
    }
    let remaining = food.iter().map(|&f| u64::from(f)).sum();
    let _ = scenario;
    Some(Colony {
        nest,
        nest_radius: p.nest_radius as i32,
        width: w,
        height: h,
        food,
        patch_of,
        patches: p.food.clone(),
        pheromone: GridField::new(w as u32, h as u32, space.is_torus()),
        map,
        paths,
        scratch: Default::default(),
        delivered: 0,
        remaining,
        evaporation: p.evaporation,
        diffusion: p.diffusion,
    })
}

impl Behavior for Forager {
    const NAME: &'static str = "forager";
    const SUMMARY: &'static str = "Ants: search, harvest, return along A* paths, lay pheromone, recruit by message; GOAP picks the mode.";

    fn build(sim: &mut SimBuilder) {
        let scenario = sim.scenario();
        let first = sim.populations_of(Self::NAME).first().copied().unwrap_or(0);
        let params: Forager =
            serde_json::from_value(scenario.populations[first as usize].params.0.clone())
                .unwrap_or_default();
        let space = sim.space().clone();
        let built = colony(
            &params,
            scenario,
            sim.world().get_resource::<Obstacles>(),
            &space,
        );
        if let Some(c) = built {
            sim.insert_resource(c);
        }
        if let Ok(book) = playbook(&params) {
            sim.insert_resource(book);
        }
        sim.messaging::<FoodAt>(Self::NAME)
            .remember_informs::<FoodAt, u32>()
            .planning::<Act>()
            .digest_component::<Ant>()
            .digest_resource::<Colony>()
            .add_systems(Phase::Sense, perceive)
            .add_systems(Phase::Decide, (decide, route).chain())
            .add_systems(Phase::Act, act)
            .add_systems(Phase::Environment, evolve_pheromone);
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        let w = ctx.world;
        if w.kind != SpaceKind::Grid {
            return Err("forager needs a grid world (`kind: Grid`)".into());
        }
        if w.one_per_cell {
            return Err("forager ants share cells: use `one_per_cell: false`".into());
        }
        let inside =
            |x: i32, y: i32| x >= 0 && y >= 0 && f64::from(x) < w.width && f64::from(y) < w.height;
        if !inside(self.nest.0, self.nest.1) || w.obstacles.contains(&self.nest) {
            return Err(format!(
                "`nest` ({}, {}) must be a free cell inside the {}x{} grid",
                self.nest.0, self.nest.1, w.width, w.height
            ));
        }
        if self.food.is_empty() {
            return Err("`food` needs at least one patch".into());
        }
        for (i, f) in self.food.iter().enumerate() {
            if !inside(f.x, f.y) || w.obstacles.contains(&(f.x, f.y)) {
                return Err(format!(
                    "`food[{i}]` centre ({}, {}) must be a free cell inside the grid",
                    f.x, f.y
                ));
            }
        }
        for (name, v) in [
            ("deposit", self.deposit),
            ("evaporation", self.evaporation),
            ("diffusion", self.diffusion),
        ] {
            let ok = v.is_finite() && v >= 0.0 && (name == "deposit" || v <= 1.0);
            if !ok {
                return Err(format!(
                    "`{name}` must be between 0 and 1 (deposit: any non-negative amount), got {v}"
                ));
            }
        }
        for (name, v) in [("follow", self.follow), ("persistence", self.persistence)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("`{name}` is a probability in [0, 1], got {v}"));
            }
        }
        if !(self.recruit_radius.is_finite() && self.recruit_radius >= 0.0) {
            return Err(format!(
                "`recruit_radius` must be non-negative, got {}",
                self.recruit_radius
            ));
        }
        if self.stamina == 0 || self.rest_gain == 0 {
            return Err("`stamina` and `rest_gain` must be at least 1".into());
        }
        self.memory.check()?;
        playbook(self).map(|_| ())
    }

    fn spawn(&self, agent: &mut AgentSpawn) {
        let heading = agent.rng().below(8) as u8;
        let energy = self.stamina / 2 + agent.rng().below(u64::from(self.stamina / 2 + 1)) as u32;
        agent.insert((
            Ant {
                carrying: false,
                energy,
                heading,
                intent: Intent::Stay,
                planned_for: None,
            },
            Memory::<u32>::new(self.memory),
            PlanQueue::<Act>::new(ReplanPolicy::default()),
        ));
    }
}

const FOOD_ATTR: u16 = 0;

/// Sense: remember food patches in sight; forget a patch found empty.
fn perceive(
    tick: Res<Tick>,
    colony: Res<Colony>,
    mut ants: Query<(&Forager, &GridCell, &mut Memory<u32>)>,
) {
    let now = tick.0;
    ants.par_iter_mut().for_each(|(p, cell, mut memory)| {
        let r = p.sense_radius as i32;
        let mut seen: [u32; 4] = [0; 4];
        let mut n = 0;
        for dy in -r..=r {
            for dx in -r..=r {
                let c = GridCell::new(cell.x + dx, cell.y + dy);
                let Some(i) = colony.index(c) else { continue };
                let patch = colony.patch_of[i];
                if patch == 0 || colony.food[i] == 0 {
                    continue;
                }
                if !seen[..n].contains(&u32::from(patch)) && n < seen.len() {
                    seen[n] = u32::from(patch);
                    n += 1;
                }
            }
        }
        for &patch in &seen[..n] {
            let centre = colony.patch_centre(patch as usize - 1);
            let key = Key::new(Subject::Cell(centre.x, centre.y), FOOD_ATTR);
            memory.observe(key, colony.food_at(centre).max(1), now, 1.0);
        }
        // Standing on a remembered patch centre and seeing no food there: it is gone.
        let here = Key::new(Subject::Cell(cell.x, cell.y), FOOD_ATTR);
        if n == 0 && memory.peek(here).is_some() {
            memory.forget(here);
        }
        memory.prune(now);
    });
}

/// The best remembered patch: highest confidence now, then nearest, then lowest key.
fn best_patch(memory: &Memory<u32>, colony: &Colony, from: GridCell, now: u64) -> Option<u16> {
    memory
        .iter()
        .filter_map(|b| match b.key.subject {
            Subject::Cell(x, y) => {
                let i = colony.index(GridCell::new(x, y))?;
                let patch = colony.patch_of[i];
                (patch > 0).then(|| {
                    let d = (x - from.x).abs().max((y - from.y).abs());
                    (memory.confidence_at(b, now), d, patch)
                })
            }
            _ => None,
        })
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)))
        .map(|(_, _, patch)| patch)
}

const STEPS: [(i32, i32); 8] = [
    (0, 1),
    (1, 1),
    (1, 0),
    (1, -1),
    (0, -1),
    (-1, -1),
    (-1, 0),
    (-1, 1),
];

type Deciding<'a> = (
    &'a AgentId,
    &'a Forager,
    &'a GridCell,
    &'a mut Ant,
    &'a mut Memory<u32>,
    &'a mut PlanQueue<Act>,
    &'a mut AgentState,
    &'a mut Outbox<FoodAt>,
);

/// Decide: perceive the symbolic state, (re)plan from the playbook when it or the goal
/// changed, and turn the plan's first action into an intent.
fn decide(
    tick: Res<Tick>,
    rng: Res<SimRng>,
    colony: Res<Colony>,
    book: Res<Playbook>,
    mut ants: Query<Deciding<'_>>,
) {
    let now = tick.0;
    ants.par_iter_mut().for_each(
        |(id, p, cell, mut ant, mut memory, mut plan, mut state, mut outbox)| {
            let target = best_patch(&memory, &colony, *cell, now);
            let at_nest = colony.at_nest(*cell);
            let rested = ant.energy >= p.stamina;
            let perceived = [
                ant.carrying,
                target.is_some(),
                colony.food_at(*cell) > 0,
                at_nest,
                rested,
            ];
            let bits = perceived
                .iter()
                .enumerate()
                .fold(0u8, |acc, (i, &f)| acc | (u8::from(f) << i));
            let tired = ant.energy < p.stamina / 5;
            let resting = matches!(ant.intent, Intent::Rest) && !rested;
            let goal = if tired || resting { RECOVER } else { FORAGE };
            if ant.planned_for != Some((bits, goal)) {
                ant.planned_for = Some((bits, goal));
                match book.plan(goal, bits) {
                    Ok(steps) => plan.set(goal, steps.iter().copied(), now),
                    Err(why) => plan.fail(goal, now, why.clone()),
                }
            }
            let Some(&act) = plan.current() else {
                ant.intent = Intent::Stay;
                if state.0 != WAITING {
                    state.0 = WAITING;
                }
                return;
            };
            if state.0 != act.label() {
                state.0 = act.label();
            }
            let mut r = rng.agent(id.0, now, Purpose::DECIDE);
            ant.intent = match act {
                Act::Search => Intent::Step(search_step(p, &colony, *cell, &mut ant, &mut r)),
                Act::GotoFood => match (nearest_food(&colony, *cell, p.sense_radius), target) {
                    // Food in sight: walk straight to it.
                    (Some(step), _) => Intent::Step(step),
                    (None, Some(patch)) => {
                        let centre = colony.patch_centre(patch as usize - 1);
                        let _ = memory
                            .recall(Key::new(Subject::Cell(centre.x, centre.y), FOOD_ATTR), now);
                        Intent::Towards(patch)
                    }
                    (None, None) => Intent::Stay,
                },
                Act::Harvest => Intent::Harvest,
                Act::ReturnHome | Act::GotoNest => Intent::Towards(0),
                Act::Unload => {
                    if let Some(patch) = target {
                        let centre = colony.patch_centre(patch as usize - 1);
                        let amount = memory
                            .peek(Key::new(Subject::Cell(centre.x, centre.y), FOOD_ATTR))
                            .map_or(1, |b| b.value);
                        outbox.send(
                            Recipients::InRange(p.recruit_radius),
                            agora_engine::comms::Header::new(Performative::Inform),
                            FoodAt {
                                x: centre.x,
                                y: centre.y,
                                amount,
                            },
                        );
                    }
                    Intent::Unload
                }
                Act::Rest => Intent::Rest,
            };
        },
    );
}

fn nearest_food(colony: &Colony, from: GridCell, radius: u32) -> Option<GridCell> {
    let r = radius as i32;
    let mut best: Option<(i32, GridCell)> = None;
    for dy in -r..=r {
        for dx in -r..=r {
            let c = GridCell::new(from.x + dx, from.y + dy);
            if colony.food_at(c) > 0 {
                let d = dx.abs().max(dy.abs());
                if best.is_none_or(|(bd, _)| d < bd) {
                    best = Some((d, c));
                }
            }
        }
    }
    best.map(|(_, c)| {
        GridCell::new(
            from.x + (c.x - from.x).signum(),
            from.y + (c.y - from.y).signum(),
        )
    })
    .filter(|c| colony.passable(*c))
}

fn search_step(
    p: &Forager,
    colony: &Colony,
    cell: GridCell,
    ant: &mut Ant,
    r: &mut AgentRng,
) -> GridCell {
    if r.unit_f64() < p.follow {
        // Follow the trail outwards: the strongest neighbouring scent farther from the nest.
        let d_here = (cell.x - colony.nest.x)
            .abs()
            .max((cell.y - colony.nest.y).abs());
        let mut best: Option<(f32, usize)> = None;
        for (k, (dx, dy)) in STEPS.iter().enumerate() {
            let c = GridCell::new(cell.x + dx, cell.y + dy);
            let d = (c.x - colony.nest.x).abs().max((c.y - colony.nest.y).abs());
            let v = colony.pheromone.get(c);
            if d > d_here && v > 0.01 && colony.passable(c) && best.is_none_or(|(bv, _)| v > bv) {
                best = Some((v, k));
            }
        }
        if let Some((_, k)) = best {
            ant.heading = k as u8;
            return GridCell::new(cell.x + STEPS[k].0, cell.y + STEPS[k].1);
        }
    }
    if r.unit_f64() >= p.persistence {
        let turn = if r.unit_f64() < 0.5 { 7 } else { 1 };
        ant.heading = (ant.heading + turn) % 8;
    }
    for attempt in 0..8u8 {
        let h = if attempt == 0 {
            ant.heading
        } else {
            r.below(8) as u8
        };
        let (dx, dy) = STEPS[h as usize];
        let c = GridCell::new(cell.x + dx, cell.y + dy);
        if colony.passable(c) {
            ant.heading = h;
            return c;
        }
    }
    cell
}

/// Decide, after `decide`: resolve walks towards the nest or a patch through the shared path
/// caches, in agent-id order so that cached hops never depend on thread count.
fn route(
    mut colony: ResMut<Colony>,
    mut ants: Query<(&AgentId, &GridCell, &mut Ant)>,
    mut order: bevy_ecs::system::Local<Vec<(u32, Entity)>>,
    entities: Query<(Entity, &AgentId), With<Ant>>,
) {
    order.clear();
    order.extend(entities.iter().map(|(e, id)| (id.0, e)));
    order.sort_unstable_by_key(|o| o.0);
    let colony = &mut *colony;
    for &(_, e) in order.iter() {
        let Ok((_, cell, mut ant)) = ants.get_mut(e) else {
            continue;
        };
        if let Intent::Towards(d) = ant.intent {
            let cache = &mut colony.paths[d as usize];
            let next = cache.next_cell(&colony.map, *cell, &mut colony.scratch);
            ant.intent = match next {
                Some(c) => Intent::Step(c),
                None => Intent::Stay,
            };
        }
    }
}

/// Act: move, harvest, unload, rest, lay pheromone; in agent-id order, because ants share
/// food and the pheromone field.
fn act(
    mut colony: ResMut<Colony>,
    mut ants: Query<(&AgentId, &Forager, &mut GridCell, &mut Ant)>,
    mut order: bevy_ecs::system::Local<Vec<(u32, Entity)>>,
    entities: Query<(Entity, &AgentId), With<Ant>>,
) {
    order.clear();
    order.extend(entities.iter().map(|(e, id)| (id.0, e)));
    order.sort_unstable_by_key(|o| o.0);
    let colony = &mut *colony;
    for &(_, e) in order.iter() {
        let Ok((_, p, mut cell, mut ant)) = ants.get_mut(e) else {
            continue;
        };
        match ant.intent {
            // `route` turned every walk into a step or a stay.
            Intent::Stay | Intent::Towards(_) => {}
            Intent::Step(c) => {
                if c != *cell && colony.passable(c) {
                    *cell = c;
                }
            }
            Intent::Harvest => {
                if let Some(i) = colony.index(*cell)
                    && colony.food[i] > 0
                    && !ant.carrying
                {
                    colony.food[i] -= 1;
                    colony.remaining -= 1;
                    ant.carrying = true;
                }
            }
            Intent::Unload => {
                if ant.carrying && colony.at_nest(*cell) {
                    ant.carrying = false;
                    colony.delivered += 1;
                }
            }
            Intent::Rest => {
                ant.energy = (ant.energy + p.rest_gain).min(p.stamina);
            }
        }
        if !matches!(ant.intent, Intent::Rest) {
            ant.energy = ant.energy.saturating_sub(1);
        }
        if ant.carrying {
            colony.pheromone.add(*cell, p.deposit);
        }
    }
}

fn evolve_pheromone(mut colony: ResMut<Colony>) {
    let (d, e) = (colony.diffusion, colony.evaporation);
    colony.pheromone.diffuse(d);
    colony.pheromone.evaporate(e, 1e-4);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"#![enable(implicit_some)]
(schema: 1, seed: 11, ticks: 400,
        world: (kind: Grid, width: 30.0, height: 30.0, boundary: Walls,
                obstacles: [(12, 10), (12, 11), (12, 12), (12, 13), (12, 14)]),
        comms: (range: Some(8.0)),
        populations: [(behavior: "forager", count: 60, placement: Disc(20.0, 20.0, 2.0),
            params: (nest: (20, 20), food: [(x: 5, y: 5, radius: 2, amount: 5)]))])"#;

    #[test]
    fn ants_find_food_bring_it_home_and_recruit() {
        let registry = crate::registry();
        let scenario = Scenario::parse(SMALL, "test", &registry).unwrap();
        let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
        sim.run().unwrap();
        let colony = sim.world().resource::<Colony>();
        assert!(colony.delivered > 5, "delivered {}", colony.delivered);
        let c = agora_engine::comms::counters(sim.world());
        assert!(c.sent > 0 && c.delivered > 0 && c.balanced(), "{c:?}");
        let (searches, hits) = colony.paths[0].stats();
        assert!(
            hits > searches,
            "the nest cache is reused: {searches} searches, {hits} hits"
        );
    }

    #[test]
    fn the_default_domain_plans_every_state_and_bad_domains_are_explained() {
        let book = playbook(&Forager::default()).unwrap();
        assert!(book.plans.iter().all(Result::is_ok));
        assert_eq!(
            book.plan(FORAGE, 0).as_ref().unwrap(),
            &vec![
                Act::Search,
                Act::GotoFood,
                Act::Harvest,
                Act::ReturnHome,
                Act::Unload
            ]
        );
        assert_eq!(
            book.plan(RECOVER, 0).as_ref().unwrap(),
            &vec![Act::GotoNest, Act::Rest]
        );
        let mut p = Forager::default();
        p.domain.actions.push(action("dance", &[], &[], 1.0));
        let err = playbook(&p).unwrap_err();
        assert!(err.contains("unknown forager action `dance`"), "{err}");
        let mut p = Forager::default();
        p.domain.actions.retain(|a| a.name != "unload");
        let book = playbook(&p).unwrap();
        assert!(
            book.plan(FORAGE, 0).is_err(),
            "without unload nothing stores food"
        );
    }

    #[test]
    fn a_goal_without_a_plan_is_journaled_not_fatal() {
        let registry = crate::registry();
        let src = SMALL.replace(
            "food: [(x: 5, y: 5, radius: 2, amount: 5)]",
            r#"food: [(x: 5, y: 5, radius: 2, amount: 5)], forage_goal: {"at_food": true, "at_nest": true}"#,
        );
        let scenario = Scenario::parse(&src, "test", &registry).unwrap();
        let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
        for _ in 0..3 {
            sim.step().unwrap();
        }
        let journal = sim.world().resource::<Journal>();
        assert!(journal.count("no_plan") > 0);
    }
}
