//! `response_threshold`: the response-threshold model of division of labour (Bonabeau,
//! Theraulaz & Deneubourg 1996; reinforcement after Theraulaz, Bonabeau & Deneubourg 1998).
//! No messages: each task kind has a stimulus that grows with its open tasks and falls with
//! the workers busy on it, and idle workers take up a kind with probability
//! `s^n / (s^n + theta^n)`.

use crate::allocation::common::{DEFAULT_DISTANCE_COST, Scoring, Valuation, install_monitor};
use agora_engine::prelude::*;
use agora_engine::task::{TaskBoard, TaskId, TaskIntents, Tasks, Worker};
use serde::{Deserialize, Serialize};

/// Whether thresholds change with experience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Learning {
    /// Thresholds never change (the fixed-threshold model).
    #[default]
    Fixed,
    /// Each tick, a worker holding a task of a kind lowers its threshold for that kind by
    /// `xi` and raises the others by `phi`, within `[theta_min, theta_max]`.
    Reinforced,
}

/// Scenario: `allocation: (protocol: "response_threshold", params: (learning: Reinforced))`.
///
/// Per tick, for each task kind `k` (a task's kind is its lowest required skill):
/// 1. stimulus `s_k <- max(0, s_k + delta * open_k - alpha * busy_k / N)`, where `open_k`
///    counts open tasks of the kind, `busy_k` workers holding one, `N` workers;
/// 2. each idle worker picks a kind at random among those with an open task it can do and
///    takes it up with probability `s_k^n / (s_k^n + theta_ik^n)`: it claims the nearest
///    such task (ties: lowest id). Two workers claiming one task is a conflict the engine
///    resolves (lowest id wins); the loser tries again later;
/// 3. a worker whose task has not started gives it up with probability `quit`;
/// 4. with `Reinforced` learning, thresholds move as described there.
#[derive(Resource, Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseThreshold {
    /// Stimulus added per tick per open task of the kind (default 0.1).
    pub delta: f64,
    /// Stimulus removed per tick per fraction of workers busy on the kind (default 1.0).
    pub alpha: f64,
    /// Steepness `n` of the response function (default 2).
    pub exponent: f64,
    /// Mean initial threshold (default 1.0).
    pub threshold: f64,
    /// Initial thresholds are drawn per worker and kind uniformly within this distance of
    /// `threshold` (default 0: all equal).
    pub threshold_spread: f64,
    /// Threshold dynamics (default `Fixed`).
    pub learning: Learning,
    /// Learning rate: threshold decrease per tick on the kind being done (default 0.1).
    pub xi: f64,
    /// Forgetting rate: threshold increase per tick on other kinds (default 0.01).
    pub phi: f64,
    /// Lowest threshold under learning (default 0.01).
    pub theta_min: f64,
    /// Highest threshold under learning (default 10).
    pub theta_max: f64,
    /// Per tick, the probability a worker gives up a task it has not started (default 0).
    pub quit: f64,
    /// The objective the optimality gap is measured in (default `Distance`).
    pub scoring: Scoring,
    /// Reward lost per unit of distance under `Profit` scoring (default 0.01).
    pub distance_cost: f64,
}

impl Default for ResponseThreshold {
    fn default() -> Self {
        ResponseThreshold {
            delta: 0.1,
            alpha: 1.0,
            exponent: 2.0,
            threshold: 1.0,
            threshold_spread: 0.0,
            learning: Learning::Fixed,
            xi: 0.1,
            phi: 0.01,
            theta_min: 0.01,
            theta_max: 10.0,
            quit: 0.0,
            scoring: Scoring::Distance,
            distance_cost: DEFAULT_DISTANCE_COST,
        }
    }
}

/// Stimuli per kind and thresholds per worker and kind (rows by agent id).
#[derive(Resource, Debug, Default, Clone)]
pub struct ThresholdState {
    /// Stimulus per kind.
    pub stimulus: Vec<f64>,
    /// Thresholds, `theta[agent id][kind]`; empty until the worker is first seen.
    pub theta: Vec<Vec<f64>>,
}

const ENGAGE: Purpose = Purpose(10);
const QUIT: Purpose = Purpose(11);
const INIT: Purpose = Purpose(12);

impl Mechanism for ResponseThreshold {
    const SECTION: Section = Section::Allocation;
    const NAME: &'static str = "response_threshold";
    const SUMMARY: &'static str =
        "Workers take up task kinds when stimulus exceeds their threshold (no messages).";

    fn build(sim: &mut SimBuilder) {
        let p = sim.world().resource::<ResponseThreshold>();
        let valuation = Valuation::new(p.scoring, p.distance_cost);
        sim.init_resource::<ThresholdState>();
        sim.add_systems(Phase::Decide, decide);
        install_monitor(sim, valuation);
    }

    fn validate(&self, _: &ValidateCtx) -> Result<(), String> {
        let nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if !nonneg(self.delta) || !nonneg(self.alpha) {
            return Err("`delta` and `alpha` must be finite and >= 0".into());
        }
        if !(self.exponent.is_finite() && self.exponent > 0.0) {
            return Err(format!(
                "`exponent` must be positive, got {}",
                self.exponent
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(format!(
                "`threshold` must be positive, got {}",
                self.threshold
            ));
        }
        if !(nonneg(self.threshold_spread) && self.threshold_spread < self.threshold) {
            return Err(format!(
                "`threshold_spread` must be >= 0 and below `threshold` ({}), got {}",
                self.threshold, self.threshold_spread
            ));
        }
        if !(nonneg(self.xi) && nonneg(self.phi)) {
            return Err("`xi` and `phi` must be finite and >= 0".into());
        }
        if !(self.theta_min > 0.0 && self.theta_min <= self.theta_max && self.theta_max.is_finite())
        {
            return Err("`theta_min` and `theta_max` need 0 < theta_min <= theta_max".into());
        }
        if !(0.0..=1.0).contains(&self.quit) {
            return Err(format!("`quit` must be a probability, got {}", self.quit));
        }
        Valuation::new(self.scoring, self.distance_cost).validate()
    }
}

#[expect(clippy::too_many_arguments, reason = "a system's parameters")]
fn decide(
    params: Res<ResponseThreshold>,
    tick: Res<Tick>,
    rng: Res<SimRng>,
    space: Res<Space>,
    board: Res<TaskBoard>,
    tasks: Tasks,
    mut state: ResMut<ThresholdState>,
    mut q: Query<(&AgentId, &Worker, &Position, &mut TaskIntents)>,
) {
    let kinds = board.skill_count().max(1) as usize;
    let state = &mut *state;
    state.stimulus.resize(kinds, 0.0);
    let mut open = vec![0u64; kinds];
    for (t, _) in tasks.open() {
        open[(t.kind as usize).min(kinds - 1)] += 1;
    }
    let mut busy = vec![0u64; kinds];
    // Workers in id order; `busy` counts the kind of each one's current task.
    let mut list: Vec<_> = q.iter_mut().collect();
    list.sort_unstable_by_key(|(id, ..)| id.0);
    let n = list.len().max(1) as f64;
    for (_, w, _, _) in &list {
        if let Some((t, _)) = w.current().and_then(|c| tasks.get(c)) {
            busy[(t.kind as usize).min(kinds - 1)] += 1;
        }
    }
    for k in 0..kinds {
        let s =
            state.stimulus[k] + params.delta * open[k] as f64 - params.alpha * busy[k] as f64 / n;
        state.stimulus[k] = s.max(0.0);
    }
    let exponent = params.exponent;
    let respond = |s: f64, theta: f64| {
        let sn = s.powf(exponent);
        let tn = theta.powf(exponent);
        if sn + tn == 0.0 { 0.0 } else { sn / (sn + tn) }
    };
    let mut doable: Vec<usize> = Vec::with_capacity(kinds);
    for (id, w, pos, intents) in &mut list {
        let agent = id.0 as usize;
        if state.theta.len() <= agent {
            state.theta.resize(agent + 1, Vec::new());
        }
        if state.theta[agent].len() < kinds {
            let mut r = rng.agent(id.0, 0, INIT);
            let have = state.theta[agent].len();
            for _ in have..kinds {
                let v = params.threshold + params.threshold_spread * (2.0 * r.unit_f64() - 1.0);
                state.theta[agent].push(v);
            }
        }
        // Quit a task not started yet.
        if params.quit > 0.0
            && let Some(c) = w.current()
            && tasks.get(c).is_some_and(|(_, s)| s.started.is_none())
            && rng.agent(id.0, tick.0, QUIT).unit_f64() < params.quit
        {
            intents.release(c);
        }
        if params.learning == Learning::Reinforced {
            let (xi, phi) = (params.xi, params.phi);
            let (min, max) = (params.theta_min, params.theta_max);
            let current = w
                .current()
                .and_then(|c| tasks.get(c))
                .map(|(t, _)| (t.kind as usize).min(kinds - 1));
            for (k, th) in state.theta[agent].iter_mut().enumerate() {
                let v = if current == Some(k) {
                    *th - xi
                } else {
                    *th + phi
                };
                *th = v.clamp(min, max);
            }
        }
        if !w.is_idle() {
            continue;
        }
        doable.clear();
        doable.extend((0..kinds).filter(|&k| {
            open[k] > 0
                && tasks
                    .open()
                    .any(|(t, _)| (t.kind as usize).min(kinds - 1) == k && w.can_do(t))
        }));
        if doable.is_empty() {
            continue;
        }
        let mut r = rng.agent(id.0, tick.0, ENGAGE);
        let k = doable[r.below(doable.len() as u64) as usize];
        if r.unit_f64() >= respond(state.stimulus[k], state.theta[agent][k]) {
            continue;
        }
        let mut best: Option<(f64, TaskId)> = None;
        for (t, _) in tasks.open() {
            if (t.kind as usize).min(kinds - 1) != k || !w.can_do(t) {
                continue;
            }
            let d = space.delta(pos.0, t.location).length();
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, t.id));
            }
        }
        if let Some((_, task)) = best {
            intents.claim(task);
        }
    }
}
