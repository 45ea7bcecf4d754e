//! `response_threshold`: the response-threshold model of division of labour (Bonabeau,
//! Theraulaz & Deneubourg 1996; reinforcement after Theraulaz, Bonabeau & Deneubourg 1998).
//! No messages: each task kind has a stimulus that grows with its open tasks and falls with
//! the workers busy on it, and idle workers take up a kind with probability
//! `s^n / (s^n + theta^n)`.

use crate::allocation::common::{Scoring, install_monitor};
use agora_engine::prelude::*;
use agora_engine::task::{TaskBoard, TaskId, TaskIntents, Tasks, Worker};
use serde::{Deserialize, Serialize};

/// How thresholds start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ThresholdInit {
    /// Every worker, every kind.
    Fixed(f64),
    /// Drawn per worker and kind, uniform in `[lo, hi)`.
    Uniform(f64, f64),
}

/// Whether thresholds change with experience.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Learning {
    /// Thresholds never change (the fixed-threshold model).
    Fixed,
    /// Each tick, a worker holding a task of a kind lowers its threshold for that kind by
    /// `xi` and raises the others by `phi`, within `[min, max]`.
    Reinforced {
        /// Learning rate (default 0.1).
        #[serde(default = "default_xi")]
        xi: f64,
        /// Forgetting rate (default 0.01).
        #[serde(default = "default_phi")]
        phi: f64,
        /// Lowest threshold (default 0.01).
        #[serde(default = "default_min")]
        min: f64,
        /// Highest threshold (default 10).
        #[serde(default = "default_max")]
        max: f64,
    },
}

fn default_xi() -> f64 {
    0.1
}
fn default_phi() -> f64 {
    0.01
}
fn default_min() -> f64 {
    0.01
}
fn default_max() -> f64 {
    10.0
}

/// Scenario: `allocation: (protocol: "response_threshold", params: (learning: Reinforced()))`.
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
    /// Initial thresholds (default `Fixed(1.0)`).
    pub threshold: ThresholdInit,
    /// Threshold dynamics (default `Fixed`).
    pub learning: Learning,
    /// Per tick, the probability a worker gives up a task it has not started (default 0).
    pub quit: f64,
    /// The objective the optimality gap is measured in (default `Distance`).
    pub scoring: Scoring,
}

impl Default for ResponseThreshold {
    fn default() -> Self {
        ResponseThreshold {
            delta: 0.1,
            alpha: 1.0,
            exponent: 2.0,
            threshold: ThresholdInit::Fixed(1.0),
            learning: Learning::Fixed,
            quit: 0.0,
            scoring: Scoring::Distance,
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
        let scoring = sim.world().resource::<ResponseThreshold>().scoring;
        sim.init_resource::<ThresholdState>();
        sim.add_systems(Phase::Decide, decide);
        install_monitor(sim, scoring);
    }

    fn validate(&self, _: &ValidateCtx) -> Result<(), String> {
        let finite_nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if !finite_nonneg(self.delta) || !finite_nonneg(self.alpha) {
            return Err("`delta` and `alpha` must be finite and >= 0".into());
        }
        if !(self.exponent.is_finite() && self.exponent > 0.0) {
            return Err(format!(
                "`exponent` must be positive, got {}",
                self.exponent
            ));
        }
        if !(0.0..=1.0).contains(&self.quit) {
            return Err(format!("`quit` must be a probability, got {}", self.quit));
        }
        match self.threshold {
            ThresholdInit::Fixed(t) if !(t.is_finite() && t > 0.0) => {
                return Err(format!("`threshold` must be positive, got {t}"));
            }
            ThresholdInit::Uniform(lo, hi)
                if !(lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi) =>
            {
                return Err(format!(
                    "`threshold`: `Uniform({lo}, {hi})` needs 0 < lo <= hi"
                ));
            }
            _ => {}
        }
        if let Learning::Reinforced { xi, phi, min, max } = self.learning
            && !(finite_nonneg(xi)
                && finite_nonneg(phi)
                && min > 0.0
                && min <= max
                && max.is_finite())
        {
            return Err("`learning`: `xi`, `phi` must be >= 0 and 0 < min <= max".into());
        }
        self.scoring.validate()
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
                let v = match params.threshold {
                    ThresholdInit::Fixed(t) => t,
                    ThresholdInit::Uniform(lo, hi) => lo + r.unit_f64() * (hi - lo),
                };
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
        if let Learning::Reinforced { xi, phi, min, max } = params.learning {
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
