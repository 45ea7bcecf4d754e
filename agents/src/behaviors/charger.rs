//! `charger`: robots with batteries that wander while they work and queue for charging
//! stations (scenario resources with a capacity) when they run low.
//!
//! The battery drains by `drain` every tick it is not charging. Below `threshold` the robot
//! picks a station (the nearest, or the one with the shortest queue), walks to a cell within
//! the station's range and asks for a unit of it through its [`Intent`]; once granted it gains
//! `charge` per tick until full, then lets go (a completed charge) and goes back to work. An
//! empty battery strands the robot where it is (it can still charge if it is at a station).
//! Its [`Urgency`] is `1 - battery`, so urgency-based policies serve the emptiest first.
//!
//! A deadlock victim told to back off drops its request for `backoff` ticks and steps away;
//! told to replan, it heads for another station.

use super::nav::{self, Fields, NavMap};
use agora_engine::prelude::*;
use agora_engine::{DeadlockAction, DigestState, StableHasher};
use serde::{Deserialize, Serialize};

/// How a robot picks a station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StationChoice {
    /// The nearest by walking distance.
    #[default]
    Nearest,
    /// The one with the fewest agents waiting per unit of capacity, then the nearest.
    ShortestQueue,
}

/// Scenario: `(behavior: "charger", count: 40, params: (drain: 0.01, threshold: 0.3))`
#[derive(Component, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Charger {
    /// Battery used per tick when not charging (default 0.005).
    pub drain: f64,
    /// Battery gained per tick while charging (default 0.05).
    pub charge: f64,
    /// Battery level below which the robot goes to charge (default 0.3).
    pub threshold: f64,
    /// Names of the stations it may use (default: every resource of the scenario).
    pub stations: Vec<String>,
    /// How it picks a station (default `Nearest`).
    pub choose: StationChoice,
    /// Ticks a deadlock victim stays away before asking again (default 4).
    pub backoff: u32,
    /// Ticks waited on the way to a station before stepping around the blockage (default 4).
    pub patience: u32,
}

impl Default for Charger {
    fn default() -> Self {
        Charger {
            drain: 0.005,
            charge: 0.05,
            threshold: 0.3,
            stations: Vec::new(),
            choose: StationChoice::Nearest,
            backoff: 4,
            patience: 4,
        }
    }
}

/// What a robot is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChargerMode {
    /// Wandering.
    #[default]
    Working,
    /// On the way to, or queueing at, a station.
    Seeking(ResourceId),
    /// Holding a unit of a station.
    Charging(ResourceId),
}

/// A robot's state.
#[derive(Component, Debug, Clone, Default)]
pub struct Battery {
    /// Charge left, in [0, 1].
    pub level: f64,
    /// What it is doing.
    pub mode: ChargerMode,
    /// Completed charges.
    pub charges: u32,
    /// Ticks of staying away left (after backing off).
    pub away: u32,
    /// Ticks waited in a row on the way to a station.
    pub waited: u32,
    /// Stations it may use, with the index of the distance field towards each.
    stations: Vec<(ResourceId, usize)>,
    bias: u8,
}

impl Battery {
    /// Whether the battery is empty away from any station grant.
    pub fn stranded(&self) -> bool {
        self.level <= 0.0 && !matches!(self.mode, ChargerMode::Charging(_))
    }
}

impl DigestState for Battery {
    fn digest(&self, h: &mut StableHasher) {
        h.write_f64(self.level);
        let mode = match self.mode {
            ChargerMode::Working => 0,
            ChargerMode::Seeking(r) => 1 + 2 * u64::from(r.0),
            ChargerMode::Charging(r) => 2 + 2 * u64::from(r.0),
        };
        h.write_u64(mode);
        h.write_u64(u64::from(self.charges));
        h.write_u64(u64::from(self.away));
        h.write_u64(u64::from(self.waited));
    }
}

impl Behavior for Charger {
    const NAME: &'static str = "charger";
    const SUMMARY: &'static str =
        "Battery robots wander, then queue for capacity-limited charging stations.";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        nav::install(sim);
        sim.digest_component::<Battery>()
            .add_systems(Phase::Decide, decide);
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        if ctx.world.kind != SpaceKind::Grid || !ctx.world.one_per_cell {
            return Err("charger needs a grid world with one agent per cell".into());
        }
        for (name, v) in [
            ("drain", self.drain),
            ("charge", self.charge),
            ("threshold", self.threshold),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(format!("`{name}` must be between 0 and 1, got {v}"));
            }
        }
        if self.charge == 0.0 {
            return Err("`charge` must be more than 0, or no robot ever finishes charging".into());
        }
        Ok(())
    }

    fn spawn(&self, agent: &mut AgentSpawn) {
        let (ids, access): (Vec<ResourceId>, Vec<Vec<GridCell>>) = {
            let world = agent.world_mut();
            let map = world.resource::<NavMap>();
            let (w, h) = (map.width(), map.height());
            let res = world.resource::<Resources>();
            res.ids()
                .filter(|&id| {
                    self.stations.is_empty()
                        || res
                            .spec(id)
                            .is_some_and(|s| self.stations.contains(&s.name))
                })
                .map(|id| (id, res.access_cells(id, w, h)))
                .unzip()
        };
        let stations = ids
            .into_iter()
            .zip(access)
            .map(|(id, cells)| (id, nav::field_for(agent, cells)))
            .collect();
        let level = self.threshold + (1.0 - self.threshold) * agent.rng().unit_f64();
        let bias = (agent.rng().next_u32() % 8) as u8;
        agent.insert((
            Intent::default(),
            Urgency(1.0 - level),
            Battery {
                level,
                stations,
                bias,
                ..Battery::default()
            },
        ));
    }
}

type ChargerQuery<'w, 's> = Query<
    'w,
    's,
    (
        &'static AgentId,
        &'static Charger,
        &'static mut Battery,
        &'static GridCell,
        &'static Outcome,
        &'static mut Intent,
        &'static mut Urgency,
    ),
>;

fn decide(
    tick: Res<Tick>,
    rng: Res<SimRng>,
    map: Res<NavMap>,
    fields: Res<Fields>,
    resources: Res<Resources>,
    occupancy: Res<GridOccupancy>,
    mut robots: ChargerQuery,
) {
    robots.par_iter_mut().for_each(
        |(id, params, mut bat, cell, outcome, mut intent, mut urgency)| {
            let bat = &mut *bat;
            let mut want = Intent::default();
            // The engine's answer to last tick's request.
            match (bat.mode, outcome.resource) {
                (ChargerMode::Seeking(r) | ChargerMode::Charging(r), Ruling::Granted) => {
                    bat.mode = ChargerMode::Charging(r);
                }
                (ChargerMode::Charging(r), _) => bat.mode = ChargerMode::Seeking(r),
                _ => {}
            }
            if let Some(order) = outcome.victim {
                match (order.action, bat.mode) {
                    (
                        DeadlockAction::BackOff,
                        ChargerMode::Seeking(_) | ChargerMode::Charging(_),
                    ) => {
                        bat.away = params.backoff;
                    }
                    (
                        DeadlockAction::Replan,
                        ChargerMode::Seeking(r) | ChargerMode::Charging(r),
                    ) => {
                        if let Some(next) =
                            pick(bat, &map, &fields, &resources, *cell, params, Some(r))
                        {
                            bat.mode = ChargerMode::Seeking(next);
                        }
                    }
                    _ => {}
                }
            }
            match bat.mode {
                ChargerMode::Charging(r) => {
                    bat.level = (bat.level + params.charge).min(1.0);
                    if bat.level >= 1.0 {
                        bat.charges += 1;
                        bat.mode = ChargerMode::Working;
                    } else {
                        want.resource = Some(r);
                    }
                }
                _ => bat.level = (bat.level - params.drain).max(0.0),
            }
            if bat.mode == ChargerMode::Working
                && bat.level < params.threshold
                && let Some(r) = pick(bat, &map, &fields, &resources, *cell, params, None)
            {
                bat.mode = ChargerMode::Seeking(r);
            }
            let empty = bat.level <= 0.0;
            match bat.mode {
                ChargerMode::Charging(_) => {}
                ChargerMode::Seeking(r) => {
                    if bat.away > 0 {
                        bat.away -= 1;
                        want.to = wander(&map, *cell, &rng, id.0, tick.0);
                        want.give_way = true;
                    } else if resources.in_range(r, Some(*cell)) {
                        want.resource = Some(r);
                    } else if !empty {
                        match outcome.movement {
                            Ruling::Lost { .. } | Ruling::Blocked { .. } => bat.waited += 1,
                            _ => bat.waited = 0,
                        }
                        // Closer to the station, free cells first; after waiting, around the
                        // blockage at the same distance.
                        let field = station_field(bat, &fields, r);
                        let here = field.get(&map, *cell).unwrap_or(u32::MAX);
                        let (options, n) = nav::ranked_neighbors(&map, field, *cell, bat.bias);
                        let around = bat.waited >= params.patience;
                        if around {
                            bat.waited = 0;
                        }
                        want.to = options[..n]
                            .iter()
                            .filter(|o| o.1 < here || (around && o.1 == here))
                            .filter(|o| !around || occupancy.is_free(o.0))
                            .min_by_key(|o| (o.1, !occupancy.is_free(o.0)))
                            .map(|o| o.0);
                    }
                }
                ChargerMode::Working => {
                    if !empty {
                        want.to = wander(&map, *cell, &rng, id.0, tick.0);
                    }
                }
            }
            urgency.0 = 1.0 - bat.level;
            if *intent != want {
                *intent = want;
            }
        },
    );
}

fn station_field<'f>(bat: &Battery, fields: &'f Fields, r: ResourceId) -> &'f nav::DistanceField {
    let index = bat.stations.iter().find(|s| s.0 == r).map_or(0, |s| s.1);
    fields.field(index)
}

/// A station to head for: the nearest reachable one, or the least crowded, leaving out
/// `except`.
fn pick(
    bat: &Battery,
    map: &NavMap,
    fields: &Fields,
    resources: &Resources,
    cell: GridCell,
    params: &Charger,
    except: Option<ResourceId>,
) -> Option<ResourceId> {
    bat.stations
        .iter()
        .filter(|s| Some(s.0) != except)
        .filter_map(|&(r, f)| fields.field(f).get(map, cell).map(|d| (r, d)))
        .min_by(|a, b| {
            let crowd = |r: ResourceId| {
                let cap = f64::from(resources.capacity(r).max(1));
                f64::from(resources.queue_len(r)) / cap
            };
            let ka = match params.choose {
                StationChoice::Nearest => (0.0, a.1),
                StationChoice::ShortestQueue => (crowd(a.0), a.1),
            };
            let kb = match params.choose {
                StationChoice::Nearest => (0.0, b.1),
                StationChoice::ShortestQueue => (crowd(b.0), b.1),
            };
            ka.0.total_cmp(&kb.0)
                .then(ka.1.cmp(&kb.1))
                .then(a.0.cmp(&b.0))
        })
        .map(|(r, _)| r)
}

/// A random passable neighbour, or staying put (one chance in nine).
fn wander(map: &NavMap, cell: GridCell, rng: &SimRng, id: u32, tick: u64) -> Option<GridCell> {
    let mut options = [cell; 8];
    let mut n = 0;
    for c in map.neighbors(cell) {
        options[n] = c;
        n += 1;
    }
    let k = rng.agent(id, tick, Purpose::MOVE).below(n as u64 + 1) as usize;
    (k < n).then(|| options[k])
}
