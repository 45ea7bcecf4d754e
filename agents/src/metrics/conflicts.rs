//! Conflict-resolution metrics, read from the engine's Resolve statistics
//! ([`ConflictStats`]): conflicts by kind, waits and starvation, resolution time, deadlocks,
//! fairness of waits and wins, messages spent on resolution.

use agora_engine::ConflictStats;
use agora_engine::prelude::*;
use agora_engine::stats::{gini_in_place, jain_index, quantile_sorted};
use serde::{Deserialize, Serialize};

fn stats(world: &World) -> Option<&ConflictStats> {
    world.get_resource::<ConflictStats>()
}

/// Conflicts detected in the last tick, by kind, and in the whole run so far.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictCounts {}

impl Metric for ConflictCounts {
    const NAME: &'static str = "conflicts";
    const SUMMARY: &'static str =
        "Conflicts in the last tick by kind (vertex, swap, resource, task) and in the run so far.";

    fn columns(&self) -> Vec<String> {
        let mut c: Vec<String> = ConflictKind::ALL
            .iter()
            .map(|k| format!("conflicts_{}", k.name()))
            .collect();
        c.push("conflicts_undecided".into());
        c.push("conflicts_total".into());
        c
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let Some(s) = stats(world) else {
            out.extend([f64::NAN; 6]);
            return;
        };
        out.extend(s.last.by_kind.iter().map(|&n| n as f64));
        out.push(s.last.undecided as f64);
        out.push(s.total.conflicts() as f64);
    }
}

/// Waits per agent: ticks with a want not granted (lost, blocked, backing off).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waits {
    #[serde(skip)]
    scratch: Vec<f64>,
}

impl Metric for Waits {
    const NAME: &'static str = "waits";
    const SUMMARY: &'static str = "Agents waiting now; ticks waited per agent (mean, p95, max); longest uninterrupted wait (starvation); resolution time.";

    fn columns(&self) -> Vec<String> {
        [
            "waiting",
            "wait_mean",
            "wait_p95",
            "wait_max",
            "starvation",
            "resolution_time_mean",
            "resolution_time_max",
        ]
        .map(String::from)
        .to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let Some(s) = stats(world) else {
            out.extend([f64::NAN; 7]);
            return;
        };
        self.scratch.clear();
        let mut longest = 0;
        for (_, a) in s.agents() {
            self.scratch.push(a.waited as f64);
            longest = longest.max(a.longest_wait);
        }
        self.scratch.sort_by(f64::total_cmp);
        let n = self.scratch.len();
        let mean = if n == 0 {
            f64::NAN
        } else {
            // Integers summed in id order would be exact anyway; sorted order is fixed too.
            self.scratch.iter().sum::<f64>() / n as f64
        };
        out.push(s.last.waiting as f64);
        out.push(mean);
        out.push(quantile_sorted(&self.scratch, 0.95).unwrap_or(f64::NAN));
        out.push(self.scratch.last().copied().unwrap_or(f64::NAN));
        out.push(if n == 0 { f64::NAN } else { longest as f64 });
        out.push(s.mean_resolution_time());
        out.push(if s.resolutions() == 0 {
            f64::NAN
        } else {
            s.max_resolution_time() as f64
        });
    }
}

/// Deadlocks: cycles in the wait-for graph.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlocks {}

impl Metric for Deadlocks {
    const NAME: &'static str = "deadlocks";
    const SUMMARY: &'static str = "Deadlocks open now and in total; their size (mean, max) and duration (mean of ended, max); victims chosen.";

    fn columns(&self) -> Vec<String> {
        [
            "deadlocks_open",
            "deadlocks_total",
            "deadlock_size_mean",
            "deadlock_size_max",
            "deadlock_duration_mean",
            "deadlock_duration_max",
            "victims_total",
        ]
        .map(String::from)
        .to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let Some(s) = stats(world) else {
            out.extend([f64::NAN; 7]);
            return;
        };
        out.push(s.last.deadlocks_open as f64);
        out.push(s.total.deadlocks_started as f64);
        out.push(s.mean_deadlock_size());
        out.push(s.max_deadlock_size() as f64);
        out.push(s.mean_deadlock_duration());
        out.push(s.max_deadlock_duration() as f64);
        out.push(s.total.victims as f64);
    }
}

/// Jain's index and Gini coefficient of non-negative counts (NaN for none), from the engine's
/// [`agora_engine::stats`] so every fairness column in a run means the same thing.
fn jain_gini(values: &mut [f64]) -> (f64, f64) {
    (
        jain_index(values).unwrap_or(f64::NAN),
        gini_in_place(values).unwrap_or(f64::NAN),
    )
}

/// Fairness of waits (over every agent with intents) and of wins (over agents that took part
/// in at least one conflict): Jain's index and the Gini coefficient.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictFairness {
    #[serde(skip)]
    scratch: Vec<f64>,
}

impl Metric for ConflictFairness {
    const NAME: &'static str = "conflict_fairness";
    const SUMMARY: &'static str =
        "Jain's index and Gini of ticks waited per agent and of conflicts won per agent.";

    fn columns(&self) -> Vec<String> {
        ["jain_waits", "gini_waits", "jain_wins", "gini_wins"]
            .map(String::from)
            .to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let Some(s) = stats(world) else {
            out.extend([f64::NAN; 4]);
            return;
        };
        self.scratch.clear();
        self.scratch
            .extend(s.agents().map(|(_, a)| a.waited as f64));
        let (j, g) = jain_gini(&mut self.scratch);
        out.extend([j, g]);
        self.scratch.clear();
        self.scratch.extend(
            s.agents()
                .filter(|(_, a)| a.conflicts > 0)
                .map(|(_, a)| a.wins as f64),
        );
        let (j, g) = jain_gini(&mut self.scratch);
        out.extend([j, g]);
    }
}

/// Messages policies spent on resolution (ballots, bids, offers, token passes).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionMessages {}

impl Metric for ResolutionMessages {
    const NAME: &'static str = "resolution_messages";
    const SUMMARY: &'static str =
        "Messages spent on conflict resolution in the last tick and in total.";

    fn columns(&self) -> Vec<String> {
        ["messages", "messages_total"].map(String::from).to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let Some(s) = stats(world) else {
            out.extend([f64::NAN; 2]);
            return;
        };
        out.push(s.last.messages as f64);
        out.push(s.total.messages as f64);
    }
}

/// Throughput of commuters and streams: trips completed in the last tick, and in total.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TripsMetric {}

impl Metric for TripsMetric {
    const NAME: &'static str = "trips";
    const SUMMARY: &'static str =
        "Trips completed (regions reached, laps) in the last tick, and in total.";

    fn columns(&self) -> Vec<String> {
        ["throughput", "trips_total"].map(String::from).to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let tick = world.resource::<Tick>().0;
        let mut q = world.query::<&crate::behaviors::Trips>();
        let (mut now, mut total) = (0u64, 0u64);
        for t in q.iter(world) {
            total += u64::from(t.total);
            now += u64::from(t.last_tick == Some(tick));
        }
        out.push(now as f64);
        out.push(total as f64);
    }
}

/// Charging robots: charging now, queueing, charges completed, stranded, mean battery.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charging {}

impl Metric for Charging {
    const NAME: &'static str = "charging";
    const SUMMARY: &'static str = "Robots charging and queueing now, charges completed, robots stranded with an empty battery, mean battery.";

    fn columns(&self) -> Vec<String> {
        [
            "charging",
            "queued",
            "charges_total",
            "stranded",
            "battery_mean",
        ]
        .map(String::from)
        .to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        use crate::behaviors::{Battery, ChargerMode};
        let mut q = world.query::<(&AgentId, &Battery)>();
        let mut levels: Vec<(u32, f64)> = Vec::new();
        let (mut charging, mut charges, mut stranded) = (0u64, 0u64, 0u64);
        for (id, b) in q.iter(world) {
            levels.push((id.0, b.level));
            charging += u64::from(matches!(b.mode, ChargerMode::Charging(_)));
            charges += u64::from(b.charges);
            stranded += u64::from(b.stranded());
        }
        let queued: u64 = world
            .get_resource::<Resources>()
            .map_or(0, |r| r.ids().map(|id| u64::from(r.queue_len(id))).sum());
        let n = levels.len();
        out.push(charging as f64);
        out.push(queued as f64);
        out.push(charges as f64);
        out.push(stranded as f64);
        out.push(if n == 0 {
            f64::NAN
        } else {
            super::sum_by_id(&mut levels) / n as f64
        });
    }
}

/// Multi-agent path finding: fraction of agents at their goal, sum of costs, makespan,
/// replans.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapf {}

impl Metric for Mapf {
    const NAME: &'static str = "mapf";
    const SUMMARY: &'static str = "Fraction of wayfarers at their goal; sum of costs and makespan (ticks, once all are home); replans.";

    fn columns(&self) -> Vec<String> {
        ["at_goal", "sum_of_costs", "makespan", "replans"]
            .map(String::from)
            .to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        use crate::behaviors::Journey;
        let mut q = world.query::<&Journey>();
        let (mut n, mut home, mut soc, mut span, mut replans) = (0u64, 0u64, 0u64, 0u64, 0u64);
        for j in q.iter(world) {
            n += 1;
            replans += u64::from(j.replans);
            if let Some(t) = j.arrived {
                home += 1;
                soc += t;
                span = span.max(t);
            }
        }
        let all = n > 0 && home == n;
        out.push(if n == 0 {
            f64::NAN
        } else {
            home as f64 / n as f64
        });
        out.push(if all { soc as f64 } else { f64::NAN });
        out.push(if all { span as f64 } else { f64::NAN });
        out.push(replans as f64);
    }
}

/// Task allocation under latency (`claimer` robots): tasks done, tasks done per tick, claims
/// refused (lost double claims and claims on tasks already taken).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskClaimsMetric {}

impl Metric for TaskClaimsMetric {
    const NAME: &'static str = "task_claims";
    const SUMMARY: &'static str =
        "Tasks done, tasks done per tick so far (throughput), claims refused (claimer robots).";

    fn columns(&self) -> Vec<String> {
        ["tasks_done", "tasks_per_tick", "claims_refused"]
            .map(String::from)
            .to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        use crate::behaviors::{Job, TaskBoard};
        let tick = world.resource::<Tick>().0;
        let done = world.get_resource::<TaskBoard>().map_or(0, |b| b.done);
        let mut q = world.query::<&Job>();
        let refused: u64 = q.iter(world).map(|j| u64::from(j.refused)).sum();
        out.push(done as f64);
        out.push(if tick == 0 {
            f64::NAN
        } else {
            done as f64 / tick as f64
        });
        out.push(refused as f64);
    }
}

/// Negotiation outcomes (`negotiation` policy): negotiations ended, failure rate (the fallback
/// decided), mean rounds, and welfare: mean sum and mean product of the two parties' utilities
/// per ended negotiation (0 for a failure).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegotiationMetric {}

impl Metric for NegotiationMetric {
    const NAME: &'static str = "negotiation";
    const SUMMARY: &'static str =
        "Negotiations ended, failure rate, mean rounds, mean sum and product of utilities.";

    fn columns(&self) -> Vec<String> {
        [
            "negotiations",
            "negotiation_failure_rate",
            "negotiation_rounds_mean",
            "welfare_sum_mean",
            "welfare_product_mean",
            "negotiations_abandoned",
        ]
        .map(String::from)
        .to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let Some(s) = world.get_resource::<crate::conflicts::NegotiationStats>() else {
            out.extend([f64::NAN; 6]);
            return;
        };
        let n = s.ended as f64;
        let per = |x: f64| if s.ended == 0 { f64::NAN } else { x / n };
        out.extend([
            n,
            per(s.failed as f64),
            per(s.rounds as f64),
            per(s.utility_sum),
            per(s.utility_product),
            s.abandoned as f64,
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_is_k_over_n_when_k_of_n_share_equally() {
        for n in 1..=12usize {
            for k in 1..=n {
                let mut x = vec![0.0; n];
                for v in x.iter_mut().take(k) {
                    *v = 3.7;
                }
                let (j, g) = jain_gini(&mut x);
                assert!((j - k as f64 / n as f64).abs() < 1e-14, "n {n} k {k}: {j}");
                assert!(
                    (g - (n - k) as f64 / n as f64).abs() < 1e-14,
                    "n {n} k {k}: {g}"
                );
            }
        }
        assert_eq!(jain_gini(&mut [0.0, 0.0]), (1.0, 0.0));
        let (j, g) = jain_gini(&mut []);
        assert!(j.is_nan() && g.is_nan());
    }
}
